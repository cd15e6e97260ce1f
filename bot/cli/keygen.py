"""`homeschool-bot keygen`: a new DATA_KEY value, with nothing but `cryptography` loaded."""

from __future__ import annotations

import argparse

from cryptography.fernet import Fernet


def main(args: argparse.Namespace) -> int:
    """Print a fresh Fernet key (the first of DATA_KEY's comma-separated keys encrypts)."""
    print(Fernet.generate_key().decode())  # noqa: T201
    return 0
