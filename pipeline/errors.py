"""Errors shared across commands."""


class UsageError(Exception):
    """Bad arguments or configuration: shown as one clear line without a traceback (exit code 2)."""
