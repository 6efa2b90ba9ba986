"""What ``Pipeline`` offers beyond data in and out: logs, metrics, the circuit profile, support bundles,
checkpoints and transactions. Names and defaults follow the official client (``feldera.Pipeline``);
every wait has a timeout (``timeout_s``; None means the client's ``wait_timeout``).
"""

from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .errors import PipelineStateError, StreamError, WaitTimeout

if TYPE_CHECKING:
    from typing import Callable

    from .client import Client


class CheckpointStatus(str, enum.Enum):
    """What ``checkpoint_status(seq)`` found for checkpoint ``seq``."""

    SUCCESS = "Success"
    FAILURE = "Failure"
    IN_PROGRESS = "InProgress"
    UNKNOWN = "Unknown"  # an older checkpoint, superseded by a newer success


class LogStream:
    """An open ``GET .../logs`` stream: iterate it for lines (blocking for new ones until the pipeline is
    deleted or the engine stops); ``cursor()`` resumes after the last line read. Close it, or use ``with``.

    ``epoch``, ``seq`` and ``gap`` are the server's position headers: the buffer's lifetime, the number of
    the line before the first one sent, and how many lines between the asked cursor and it were lost."""

    def __init__(self, resp: httpx.Response):
        self._resp = resp
        h = resp.headers
        self.epoch = h.get("feldera-logs-epoch", "")
        self.seq = int(h.get("feldera-logs-seq", 0))
        self.gap = int(h.get("feldera-logs-gap", 0))
        self.lines_read = 0
        self._chunks = resp.iter_bytes()
        self._pending = b""
        self._ready: list[bytes] = []

    def cursor(self) -> str:
        return f"{self.epoch}:{self.seq + self.lines_read}"

    def __iter__(self) -> "LogStream":
        return self

    def __next__(self) -> str:
        # Split on \n alone: a line's number is its position, so no other separator may count.
        while not self._ready:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                raise StopIteration from None  # a cut-short last fragment is dropped; the cursor re-reads it
            except httpx.HTTPError as e:
                raise StreamError(f"the logs stream broke: {e}") from e
            *done, self._pending = (self._pending + chunk).split(b"\n")
            self._ready = done
        self.lines_read += 1
        return self._ready.pop(0).decode("utf-8", "replace")

    def close(self) -> None:
        self._resp.close()

    def __enter__(self) -> "LogStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PipelineOperations:
    """Mixed into ``Pipeline``."""

    client: "Client"
    name: str
    _timeout: "Callable[[float | None], float]"  # Pipeline's: timeout_s, or the client's wait_timeout

    # -- observing -----------------------------------------------------------------------------
    def logs(self, cursor: str | None = None, *, read_timeout: float | None = None) -> LogStream:
        """The pipeline's log lines: the retained ones, then each new one as it comes. ``cursor`` (from
        ``LogStream.cursor()``) starts after the line it names. ``read_timeout``: seconds without a new
        line after which reading raises ``StreamError`` (None: wait as long as the stream is open)."""
        timeout = httpx.Timeout(self.client.timeout, read=read_timeout)
        return LogStream(self.client._rest.logs(self.name, cursor, timeout))

    resume_logs = logs

    def metrics(self, format: str = "prometheus") -> str | list:
        """``GET .../metrics``: Prometheus text, or with ``format="json"`` the same metrics as a list of families."""
        return self.client._rest.metrics(self.name, format)

    def circuit_json_profile(self) -> dict:
        """Per table and view: rows, time spent and steps taken, state kept; and process memory."""
        return self.client._rest.circuit_json_profile(self.name)

    def circuit_profile(self) -> bytes:
        """The profile as a zip (``profile.json`` and a Graphviz ``circuit.dot``)."""
        return self.client._rest.circuit_profile(self.name)

    def support_bundle(self, output_path: str | None = None, **parts: bool) -> bytes:
        """A zip of the pipeline's configuration, status, stats, metrics, logs and profile. Switch parts off
        by Feldera's names (``logs=False``, ``heap_profile=False``...); its ``metadata.json`` says what is in
        it and why anything asked for is not. With ``output_path`` it is also written there."""
        data = self.client._rest.support_bundle(self.name, {k: bool(v) for k, v in parts.items()})
        if output_path is not None:
            Path(output_path).write_bytes(data)
        return data

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self, wait: bool = False, timeout_s: float | None = None) -> int:
        """Ask for a checkpoint; returns its sequence number (with ``wait``, once it is written)."""
        return int(self.checkpoint_response(wait, timeout_s)["checkpoint_sequence_number"])

    def checkpoint_response(self, wait: bool = False, timeout_s: float | None = None) -> dict:
        """``{"checkpoint_sequence_number", "incarnation_uuid"}``; with ``wait``, returns once it succeeded
        and raises ``PipelineStateError`` if it failed."""
        resp = self.client._rest.checkpoint(self.name)
        if not wait:
            return resp
        seq, inc = int(resp["checkpoint_sequence_number"]), resp.get("incarnation_uuid")
        deadline = time.monotonic() + self._timeout(timeout_s)
        while True:
            st = self.checkpoint_status(seq, inc)
            if st == CheckpointStatus.FAILURE:
                raise PipelineStateError(f"checkpoint {seq} of pipeline {self.name!r} failed",
                                         error_code="CheckpointFailed", details={"sequence_number": seq})
            if st != CheckpointStatus.IN_PROGRESS:
                return resp
            if time.monotonic() > deadline:
                raise WaitTimeout(f"checkpoint {seq} of pipeline {self.name!r} not written within "
                                  f"{self._timeout(timeout_s)} s")
            time.sleep(0.05)

    def checkpoint_status(self, seq: int, incarnation_uuid: str | None = None) -> CheckpointStatus:
        """Where checkpoint ``seq`` stands. With the ``incarnation_uuid`` it was asked in, a restart since
        raises ``BadRequestError`` ``IncarnationUuidMismatch``."""
        st = self.client._rest.checkpoint_status(self.name, incarnation_uuid)
        success, failure = st.get("success"), st.get("failure") or {}
        if seq == success:
            return CheckpointStatus.SUCCESS
        if seq == failure.get("sequence_number"):
            return CheckpointStatus.FAILURE
        if success is None or seq > success:
            return CheckpointStatus.IN_PROGRESS
        return CheckpointStatus.UNKNOWN

    def checkpoints(self) -> list[dict]:
        """The checkpoints on the server's disk, in Feldera's ``CheckpointMetadata`` shape."""
        return self.client._rest.checkpoints(self.name)

    # -- transactions --------------------------------------------------------------------------
    def start_transaction(self) -> int:
        """Open a transaction: input from now on is applied in one step at ``commit_transaction()``."""
        return int(self.client._rest.start_transaction(self.name)["transaction_id"])

    def commit_transaction(self, transaction_id: int | None = None, wait: bool = True,
                           timeout_s: float | None = None) -> None:
        """Commit the open transaction (checked against ``transaction_id`` if given); with ``wait``, return
        once it is applied. Raises ``PipelineStateError`` if none is open or another one is."""
        current = self.transaction_id()
        if current is None:
            raise PipelineStateError(f"pipeline {self.name!r} has no transaction in progress",
                                     error_code="NoTransactionInProgress")
        if transaction_id is not None and transaction_id != current:
            raise PipelineStateError(f"transaction {transaction_id} is not the open one ({current})",
                                     error_code="TransactionMismatch", details={"transaction_id": current})
        self.client._rest.commit_transaction(self.name)
        if not wait:
            return
        deadline = time.monotonic() + self._timeout(timeout_s)
        while self.transaction_id() == current:
            if time.monotonic() > deadline:
                raise WaitTimeout(f"transaction {current} of pipeline {self.name!r} not committed within "
                                  f"{self._timeout(timeout_s)} s")
            time.sleep(0.02)

    def transaction_status(self) -> str:
        """``NoTransaction``, ``TransactionInProgress`` or ``CommitInProgress``."""
        return self.client._rest.stats(self.name)["global_metrics"]["transaction_status"]

    def transaction_id(self) -> int | None:
        """The open transaction's id, or None."""
        return self.client._rest.stats(self.name)["global_metrics"]["transaction_id"] or None


__all__ = ["PipelineOperations", "LogStream", "CheckpointStatus"]
