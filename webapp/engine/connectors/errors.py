"""The connector package's one exception."""

from __future__ import annotations


class ConnectorConfigError(Exception):
    """Raised when a ``'connectors'`` property cannot be used.

    ``offset`` is into the property's text when known; otherwise ``near`` lists JSON strings (a key
    or a value) to look for, so the message can still point at what the user wrote."""

    def __init__(self, message: str, offset: int | None = None, near: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.near = near


__all__ = ["ConnectorConfigError"]
