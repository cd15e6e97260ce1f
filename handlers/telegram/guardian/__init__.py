"""Routers for the guardian's private chat."""
