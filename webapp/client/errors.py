"""The client's exceptions: one tree, every class carrying ``message``, ``error_code``, ``details`` and ``status``.

    SluiceError                         base; ``status`` is the HTTP status, or None for client-side errors
     ├── ApiError                       the server answered with an error (its JSON envelope, or any status >= 400)
     │    ├── BadRequestError           400: invalid parameter, records that failed to parse, bad SQL, wrong state
     │    ├── NotFoundError             404: unknown pipeline, table or view
     │    └── UnavailableError          503: pipeline not deployed, input waited too long, still initializing
     ├── TransportError                 no usable answer: connection refused or reset, timed out (after any retries)
     ├── StreamError                    an egress or query stream broke or sent a line that is not JSON
     ├── CompilationError               the program failed to compile (also a RuntimeError); ``messages``: line, column
     ├── PipelineStateError             the pipeline is in a state the call cannot work in (also a RuntimeError)
     ├── SchemaError                    a table, view or column does not match the program's schema (also a ValueError)
     └── WaitTimeout                    a wait for a state, a token or a stream ran out of time (also a TimeoutError)

Client-side errors reuse the builtin exception the official Feldera client raises in the same spot
(RuntimeError, ValueError, TimeoutError), so ``except RuntimeError`` written for it keeps working.
``ApiError.status_code`` is the official client's name for ``status``.
"""

from __future__ import annotations

from typing import Any

import httpx


class SluiceError(Exception):
    """Base class of every error the client raises on purpose."""

    default_code: str | None = None

    def __init__(self, message: str, *, error_code: str | None = None, details: Any = None,
                 status: int | None = None):
        super().__init__(message)
        self.message = message
        self.error_code = error_code if error_code is not None else self.default_code
        self.details = details
        self.status = status

    @property
    def status_code(self) -> int | None:
        """The HTTP status (the official client's name for it)."""
        return self.status

    def __str__(self) -> str:
        tags = [t for t in (str(self.status) if self.status else None, self.error_code) if t]
        return f"[{' '.join(tags)}] {self.message}" if tags else self.message


class ApiError(SluiceError):
    """Raised when the server answers with a status of 400 or more."""


class BadRequestError(ApiError):
    """Raised on a 400 answer: the request itself was wrong (parameters, records, SQL, lifecycle step)."""


class NotFoundError(ApiError):
    """Raised on a 404 answer: no such pipeline, table or view."""


class UnavailableError(ApiError):
    """Raised on a 503 answer: the pipeline cannot take the request now; it may work later."""


class TransportError(SluiceError):
    """Raised when no answer could be had (connect, read or write failure, timeout), after any retries."""

    default_code = "TransportError"


class StreamError(SluiceError):
    """Raised when a streamed answer (egress or query) breaks off or carries a line that is not JSON."""

    default_code = "StreamError"


class CompilationError(SluiceError, RuntimeError):
    """Raised when a pipeline's program fails to compile; ``messages`` lists the compiler's findings."""

    default_code = "CompilationFailed"

    def __init__(self, message: str, *, messages: list[dict] | None = None, **kw):
        super().__init__(message, **kw)
        self.messages = messages or []

    @classmethod
    def from_program_error(cls, name: str, status: str, program_error: dict) -> "CompilationError":
        """The error for pipeline ``name`` in ``status`` (``SqlError``, ...), from its ``program_error``
        (Feldera's shape): each message with its line, column and snippet, as a user reads them."""
        sql = program_error.get("sql_compilation") or {}
        messages = [m for m in sql.get("messages") or [] if isinstance(m, dict)]
        errors = [m for m in messages if not m.get("warning")] or messages
        lines = []
        for m in errors:
            where = f"line {m.get('start_line_number')}, column {m.get('start_column')}: " \
                if m.get("start_line_number") is not None else ""
            lines.append(f"  {where}{m.get('error_type', 'error')}: {m.get('message', '')}".rstrip())
            if m.get("snippet"):
                lines.extend("      " + s for s in str(m["snippet"]).rstrip().splitlines())
        rust = program_error.get("rust_compilation") or {}
        if rust:
            lines.append("  Rust compilation failed:\n" + str(rust.get("stderr") or rust.get("stdout") or "").rstrip())
        if program_error.get("system_error"):
            lines.append(f"  {program_error['system_error']}")
        what = "SQL errors" if status == "SqlError" else status
        text = f"pipeline {name!r} did not compile ({what}):\n" + ("\n".join(lines) or "  (no messages)")
        return cls(text, messages=messages, error_code=status, details=program_error)


class PipelineStateError(SluiceError, RuntimeError):
    """Raised when the pipeline's state rules the call out (paused without force, stopped, failed to start)."""

    default_code = "PipelineState"


class SchemaError(SluiceError, ValueError):
    """Raised when a table, view or column named by the caller does not match the program's schema."""

    default_code = "SchemaMismatch"


class WaitTimeout(SluiceError, TimeoutError):
    """Raised when a wait (for a state, a completion token or a stream's first line) runs out of time."""

    default_code = "Timeout"


_BY_STATUS = {400: BadRequestError, 404: NotFoundError, 503: UnavailableError}


def error_from_response(resp: httpx.Response) -> ApiError:
    """Turn an error answer (body already read) into the matching ``ApiError``.

    Feldera's envelope ``{"message", "error_code", "details"}`` is used when present; any other body
    becomes the message as text."""
    message, code, details = None, None, None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        message, code, details = body.get("message"), body.get("error_code"), body.get("details")
    if not message:
        text = resp.text.strip()
        message = text[:2000] if text else (resp.reason_phrase or "error")
    cls = _BY_STATUS.get(resp.status_code, ApiError)
    return cls(str(message), error_code=code, details=details, status=resp.status_code)


__all__ = [
    "SluiceError", "ApiError", "BadRequestError", "NotFoundError", "UnavailableError", "TransportError",
    "StreamError", "CompilationError", "PipelineStateError", "SchemaError", "WaitTimeout", "error_from_response",
]
