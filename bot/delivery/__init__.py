"""Outbound delivery: the dispatcher that claims outbox rows and sends them (the rows are
written by `storage.outbox` in the use case's transaction)."""
