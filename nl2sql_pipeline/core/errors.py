"""Errors a user can act on: each names the cause and the fix."""

from __future__ import annotations


class Nl2SqlError(Exception):
    """Base of the project's own errors; the message says what went wrong and what to do."""

    def __init__(self, cause: str, fix: str | None = None) -> None:
        self.cause = cause
        self.fix = fix
        super().__init__(f"{cause} Fix: {fix}" if fix else cause)


class ConfigError(Nl2SqlError):
    """A configuration file or value is invalid."""


class DatabaseConnectionError(Nl2SqlError):
    """A configured database cannot be reached or opened."""
