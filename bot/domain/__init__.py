"""The case state machine and its value rules: plain code, no I/O (stdlib only)."""
