"""Outbound delivery: outbox rows and the dispatcher that sends them."""
