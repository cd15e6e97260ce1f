"""Use cases: each owns one unit of work (state change + audit + outbox, one transaction)."""
