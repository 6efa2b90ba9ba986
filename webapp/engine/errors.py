"""The engine's exceptions: one tree, each mapped to an HTTP status and a Feldera error code.

    EngineError                      (500 Unknown)
     ├── NotFound                    (404)
     │    ├── UnknownPipeline        UnknownPipelineName
     │    ├── UnknownInputStream     UnknownInputStream
     │    ├── UnknownInputEndpoint   UnknownInputEndpoint
     │    └── UnknownOutputStream    UnknownOutputStream
     ├── BadRequest                  (400)
     │    ├── InvalidParam           InvalidParam
     │    ├── UnknownInputFormat     UnknownInputFormat
     │    ├── ParseErrors            ParseErrors
     │    ├── AdHocQueryError        AdHocQueryError
     │    │    └── QueryTimeout      QueryTimeout (Sluice extension)
     │    ├── InvalidToken           InvalidCompletionToken
     │    ├── InvalidDefinition      (a pipeline body Feldera refuses; the code names the rule)
     │    │      EmptyName, TooLongName, NameDoesNotMatchPattern, InvalidTag, TooManyTags,
     │    │      TooLongDescription, InvalidRuntimeConfig, InvalidProgramConfig, MissingField
     │    └── IllegalAction          (a lifecycle request the pipeline's state forbids; the code names it)
     │           UpdateRestrictedToStopped, EditRestrictedToClearedStorage,
     │           CannotStartWithCompilationError, CannotStartWithUndismissedError,
     │           InitialImmutableUnlessStopped, BootstrapPolicyImmutableUnlessStopped,
     │           InitialStandbyNotAllowed, IllegalPipelineAction, PauseWhileNotProvisioned,
     │           ResumeWhileNotProvisioned, StorageStatusImmutableUnlessStopped,
     │           DeleteRestrictedToFullyStopped, DismissErrorRestrictedToFullyStopped
     ├── DuplicateName               (409) DuplicateName
     ├── StaleToken                  (410) CompletionTokenFromPreviousIncarnation
     ├── Terminating                 (410) Terminating
     ├── ClientGone                  (400) ClientGone (Sluice extension: no one reads it)
     └── Unavailable                 (503)
          ├── NotDeployed            PipelineInteractionNotDeployed
          ├── PipelinePaused         PipelinePaused (Sluice extension)
          ├── BufferFull             BufferFull (Sluice extension)
          └── StorageUnavailable     StorageUnavailable (Sluice extension)

Added for the observation, checkpoint and transaction endpoints (Feldera's codes):
NotFound: UnknownOutputEndpoint (404); BadRequest: NoTransactionInProgress,
IncarnationUuidMismatch, CheckpointsDisabled (400); TransactionInProgress (409); NotImplemented (501),
with EnterpriseFeature for what Feldera's open-source edition also refuses.

The server turns any of these into ``{"message", "error_code", "details"}`` in one place.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base class; raised directly only for internal failures (500)."""

    status = 500
    error_code = "Unknown"

    def __init__(self, message: str, details: Any = None, *, error_code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if error_code:
            self.error_code = error_code

    def to_dict(self) -> dict:
        return {"message": self.message, "error_code": self.error_code, "details": self.details}

    def with_status(self, status: int) -> "EngineError":
        self.status = status
        return self


class NotFound(EngineError):
    """Raised when a named object does not exist."""

    status = 404
    error_code = "NotFound"


class UnknownPipeline(NotFound):
    """Raised when no pipeline has the requested name."""

    error_code = "UnknownPipelineName"

    def __init__(self, name: str):
        super().__init__(f"Unknown pipeline name '{name}'", {"pipeline_name": name})


class UnknownInputEndpoint(NotFound):
    """Raised when a connector action names a connector the table does not declare."""

    error_code = "UnknownInputEndpoint"

    def __init__(self, endpoint_name: str):
        super().__init__(f"Unknown input connector '{endpoint_name}': the table declares no connector of that name "
                         "(unnamed connectors are 'unnamed-0', 'unnamed-1', ... in declaration order)",
                         {"endpoint_name": endpoint_name})


class UnknownInputStream(NotFound):
    """Raised when ingress names a table the program does not declare."""

    error_code = "UnknownInputStream"

    def __init__(self, name: str, view_reads: list[str] | None = None, tables: list[str] | None = None):
        if view_reads is not None:  # the name is a view's: say so, and where its rows come from
            super().__init__(
                f"'{name}' is a view, not a table: a view's rows are computed from the relations it reads "
                f"({', '.join(view_reads)}); push the input to a table instead",
                {"stream_name": name, "is_view": True, "reads": view_reads},
            )
            return
        details: dict[str, Any] = {"stream_name": name}
        said = f"Unknown table '{name}': the program declares no such table"
        if tables is not None:  # a misspelling is told what it may have meant, as ad-hoc query errors are
            details["tables"] = tables
            near = _closest(name, tables)
            if near is not None:
                details["suggestion"] = near
                said = f"Unknown table '{name}': did you mean '{near}'? The program declares no table '{name}'"
            said += f"; its tables: {_listed(tables)}" if tables else "; it declares no tables"
        super().__init__(
            f"{said} (unquoted names are case-insensitive; a mixed-case name is quoted, \"Name\", which a URL "
            "carries as %22Name%22)",
            details,
        )

    @classmethod
    def in_program(cls, program, name: str, lookup: str | None = None) -> "UnknownInputStream":
        """The error for ``name`` (looked up as ``lookup``) not being one of ``program``'s tables: a view's name
        is told apart, with what it reads, and every other name gets the tables, to suggest one from."""
        view = program.output(name if lookup is None else lookup)
        return cls(name, sorted(view.depends_on) if view is not None else None, [t.name for t in program.tables])


def _closest(name: str, names: list[str]) -> str | None:
    """The one of ``names`` closest to ``name`` when close enough to be a misspelling of it."""
    import difflib
    by_lower = {n.lower(): n for n in names}
    near = difflib.get_close_matches(name.strip('"').lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[near[0]] if near else None


def _listed(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


class UnknownOutputStream(NotFound):
    """Raised when egress names a relation the program does not declare (or a LOCAL view)."""

    error_code = "UnknownOutputStream"

    def __init__(self, name: str):
        super().__init__(
            f"Unknown table or view '{name}': the program declares no such relation that can be "
            "read (LOCAL views are not visible outside the program)",
            {"stream_name": name},
        )


class BadRequest(EngineError):
    """Raised for a malformed request."""

    status = 400
    error_code = "BadRequest"


class InvalidParam(BadRequest):
    """Raised when a query parameter or body field has an unusable value."""

    error_code = "InvalidParam"


class UnknownInputFormat(BadRequest):
    """Raised when ingress asks for a format the engine cannot parse."""

    error_code = "UnknownInputFormat"


class ParseErrors(BadRequest):
    """Raised when some records of an ingress body fail to parse; the good ones were kept."""

    error_code = "ParseErrors"


class AdHocQueryError(BadRequest):
    """Raised when an ad-hoc query is not allowed, fails to plan or run."""

    error_code = "AdHocQueryError"


class QueryTimeout(AdHocQueryError):
    """Raised when an ad-hoc query runs past the engine's query time limit (not 408, which some HTTP
    clients answer by sending the same request again, here the same expensive query)."""

    error_code = "QueryTimeout"


class InvalidDefinition(BadRequest):
    """Raised when a pipeline's definition breaks one of Feldera's rules (name, tags, description, configs,
    a required field); ``error_code`` is the rule's name in Feldera (``TooLongName``, ``InvalidTag``, ...)."""

    def __init__(self, error_code: str, message: str, details: Any = None):
        super().__init__(message, details, error_code=error_code)


class IllegalAction(BadRequest):
    """Raised when a lifecycle request or edit is not allowed in the pipeline's current state;
    ``error_code`` is Feldera's name for the case (``CannotStartWithCompilationError``, ...)."""

    def __init__(self, error_code: str, message: str, details: Any = None):
        super().__init__(message, details, error_code=error_code)


class InvalidToken(BadRequest):
    """Raised when a completion token cannot be decoded."""

    error_code = "InvalidCompletionToken"


class DuplicateName(EngineError):
    """Raised when POST /v0/pipelines names a pipeline that already exists."""

    status = 409
    error_code = "DuplicateName"


class StaleToken(EngineError):
    """Raised when a completion token belongs to an earlier run of the pipeline."""

    status = 410
    error_code = "CompletionTokenFromPreviousIncarnation"


class Terminating(EngineError):
    """Raised when the pipeline stops while a request waits on it."""

    status = 410
    error_code = "Terminating"


class ClientGone(EngineError):
    """Raised for an ingress request whose client closed its connection while the request waited: nothing
    of it is taken, since the client never learned that it was (the answer goes nowhere)."""

    status = 400
    error_code = "ClientGone"


class Unavailable(EngineError):
    """Raised when the pipeline cannot take the request now; retrying later may work."""

    status = 503
    error_code = "Unavailable"


class NotDeployed(Unavailable):
    """Raised when an interaction (ingress, egress, query, stats) reaches a pipeline that is not serving:
    stopped, stopping, or (``engine_stopping``) still Running or Paused while the engine shuts down."""

    error_code = "PipelineInteractionNotDeployed"

    def __init__(self, name: str, status: str, desired: str, engine_stopping: bool = False):
        details = {"pipeline_name": name, "status": status, "desired_status": desired}
        if engine_stopping:
            # Its status is kept on purpose (the next start resumes it): "not running ... start it first"
            # would contradict the status and advise what is not needed.
            details["engine_stopping"] = True
            message = (f"Pipeline '{name}' is not serving: the engine is shutting down (the pipeline resumes as "
                       f"{status} when the engine is back); try again then")
        elif status == "Stopping":
            message = f"Pipeline '{name}' is stopping: start it again once it is Stopped"
        else:
            message = f"Pipeline '{name}' is not running (status {status}): start it first"
        super().__init__(message, details)


class PipelinePaused(Unavailable):
    """Raised when unforced ingress waited too long on a paused pipeline."""

    error_code = "PipelinePaused"


class BufferFull(Unavailable):
    """Raised when ingress waited too long for room in the table's input buffer."""

    error_code = "BufferFull"


class StorageUnavailable(Unavailable):
    """Raised when input could not be made durable (disk full, I/O error, permission denied)."""

    error_code = "StorageUnavailable"


class UnknownOutputEndpoint(NotFound):
    """Raised when a view's connector is named: Sluice has no output connectors besides HTTP egress,
    which is not addressed by name."""

    error_code = "UnknownOutputEndpoint"

    def __init__(self, endpoint_name: str):
        super().__init__(f"Unknown output connector '{endpoint_name}': Sluice has no output connectors besides "
                         "HTTP egress (GET or POST .../egress/{view})", {"endpoint_name": endpoint_name})


class TransactionInProgress(EngineError):
    """Raised when a transaction is started while one is open or committing."""

    status = 409
    error_code = "TransactionInProgress"


class NoTransactionInProgress(BadRequest):
    """Raised when a transaction is committed but none is open."""

    error_code = "NoTransactionInProgress"


class IncarnationUuidMismatch(BadRequest):
    """Raised when checkpoint status is asked of another run (incarnation) of the pipeline."""

    error_code = "IncarnationUuidMismatch"


class CheckpointsDisabled(BadRequest):
    """Raised when a checkpoint is asked of a pipeline whose fault tolerance is off (nothing to resume from)."""

    error_code = "CheckpointsDisabled"


class NotImplementedHere(EngineError):
    """Raised by endpoints Sluice does not implement (501)."""

    status = 501
    error_code = "NotImplemented"


class EnterpriseFeature(NotImplementedHere):
    """Raised where Feldera's open-source edition answers 501 too (an enterprise-only feature)."""

    error_code = "EnterpriseFeature"

    def __init__(self, feature: str):
        super().__init__(f"Cannot use enterprise-only feature ({feature}) in Feldera community edition; "
                         "Sluice answers as that edition does", {"feature": feature})


__all__ = [
    "EngineError", "NotFound", "UnknownPipeline", "UnknownInputStream", "UnknownOutputStream",
    "BadRequest", "InvalidParam", "UnknownInputFormat", "ParseErrors", "AdHocQueryError", "QueryTimeout",
    "InvalidDefinition", "IllegalAction", "InvalidToken", "DuplicateName", "StaleToken", "Terminating",
    "ClientGone", "Unavailable", "NotDeployed", "PipelinePaused", "BufferFull", "StorageUnavailable",
    "UnknownOutputEndpoint", "TransactionInProgress", "NoTransactionInProgress", "IncarnationUuidMismatch",
    "CheckpointsDisabled", "NotImplementedHere", "EnterpriseFeature",
]
