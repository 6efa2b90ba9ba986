"""Transactions (Feldera's ``start_transaction`` / ``commit_transaction``): input pushed between them is
applied as one step. The state shows in ``stats``: ``global_metrics.transaction_status`` and
``transaction_id``, which the official client polls to learn that a commit is done."""

from __future__ import annotations

from flask import Blueprint

from .helpers import current_engine, json_response

bp = Blueprint("v0_transactions", __name__, url_prefix="/v0")


@bp.post("/pipelines/<name>/start_transaction")
def start_transaction(name):
    """200 ``{"transaction_id": n}``; 409 ``TransactionInProgress`` while one is open or committing."""
    return json_response({"transaction_id": current_engine().get(name).running().start_transaction()})


@bp.post("/pipelines/<name>/commit_transaction")
def commit_transaction(name):
    """200 once the commit is asked for (it completes with the next step; poll ``stats``);
    400 ``NoTransactionInProgress`` when none is open."""
    tid = current_engine().get(name).running().commit_transaction()
    return json_response(f"Transaction {tid} is being committed")
