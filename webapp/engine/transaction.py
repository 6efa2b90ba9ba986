"""A pipeline's transaction: input pushed between start and commit is applied as one step.

States, as Feldera reports them in ``stats.global_metrics.transaction_status``:
``NoTransaction`` → (start) ``TransactionInProgress`` → (commit) ``CommitInProgress`` → (the step
holding every batch queued so far is done) ``NoTransaction``. While a transaction is open the step
thread takes nothing from the input queue, so its batches stay buffered (and their completion tokens
``inprogress``) until the commit. Ids count from 1 in each run of the pipeline; 0 means none.

The runtime owns one ``Transaction`` and guards it with its ``cv``.
"""

from __future__ import annotations

from .errors import NoTransactionInProgress, TransactionInProgress

NONE, OPEN, COMMITTING = "NoTransaction", "TransactionInProgress", "CommitInProgress"


class Transaction:
    def __init__(self):
        self.status = NONE
        self.id = 0
        self._last_id = 0

    @property
    def holds_input(self) -> bool:
        """The step thread must leave queued input alone."""
        return self.status == OPEN

    @property
    def committing(self) -> bool:
        return self.status == COMMITTING

    def start(self) -> int:
        if self.status != NONE:
            raise TransactionInProgress(
                f"Cannot start a transaction while transaction {self.id} is in progress ({self.status}); "
                "commit it first", {"transaction_id": self.id, "transaction_status": self.status})
        self._last_id += 1
        self.id = self._last_id
        self.status = OPEN
        return self.id

    def commit(self) -> int:
        """Ask for the commit; committing again while one is under way is the same request."""
        if self.status == NONE:
            raise NoTransactionInProgress(
                "This operation requires an active transaction, but none is currently in progress", None)
        self.status = COMMITTING
        return self.id

    def committed(self) -> None:
        self.status = NONE
        self.id = 0


__all__ = ["Transaction", "NONE", "OPEN", "COMMITTING"]
