"""Transactions over real HTTP: input pushed between start_transaction and commit_transaction is applied
in one step, with Feldera's status reporting (stats' transaction_status and transaction_id) and errors."""

from __future__ import annotations

import pytest
from sluice_support import data_events

from webapp.engine.testing import wait_processed, wait_status

SQL = ("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, x INT);\n"
       "CREATE MATERIALIZED VIEW total AS SELECT count(*) AS n, sum(x) AS s FROM t;")


def _gm(http, name):
    return http.get(f"/pipelines/{name}/stats").json()["global_metrics"]


def _push(http, name, rows):
    r = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json"},
                  content="\n".join('{"insert": {"id": %d, "x": %d}}' % r for r in rows))
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_input_of_a_transaction_is_one_step(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    gm = _gm(http, name)
    assert (gm["transaction_status"], gm["transaction_id"]) == ("NoTransaction", 0)
    steps_before = gm["total_completed_steps"]
    view = egress(name, "total")
    if True:
        r = http.post(f"/pipelines/{name}/start_transaction")
        assert r.status_code == 200 and r.json() == {"transaction_id": 1}
        gm = _gm(http, name)
        assert (gm["transaction_status"], gm["transaction_id"]) == ("TransactionInProgress", 1)
        tokens = [_push(http, name, [(i, i)]) for i in range(1, 4)]
        # Held back until the commit: no step ran, and the tokens are not complete.
        assert http.get(f"/pipelines/{name}/completion_status", params={"token": tokens[-1]}).json()["status"] \
            == "inprogress"
        assert _gm(http, name)["total_completed_steps"] == steps_before
        r = http.post(f"/pipelines/{name}/commit_transaction")
        assert r.status_code == 200, r.text
        done = [wait_processed(http, name, tok, timeout=20)["step"] for tok in tokens]
        assert len(set(done)) == 1  # all three batches in the same step
        gm = _gm(http, name)
        assert (gm["transaction_status"], gm["transaction_id"]) == ("NoTransaction", 0)
        assert gm["total_completed_steps"] == steps_before + 1
        view.wait(lambda ch: any(k == "insert" and r["n"] == 3 for k, r in data_events(ch)), what="the sum")
        # One change of the view, to (3, 6): never an intermediate sum.
        assert [r for k, r in data_events(view.chunks) if k == "insert"] == [{"n": 3, "s": 6}]
    # Ids go on counting within the run.
    assert http.post(f"/pipelines/{name}/start_transaction").json() == {"transaction_id": 2}


def test_transaction_errors(http, make_pipeline, new_pipeline):
    name = make_pipeline(SQL)
    r = http.post(f"/pipelines/{name}/commit_transaction")
    assert r.status_code == 400 and r.json()["error_code"] == "NoTransactionInProgress"
    assert http.post(f"/pipelines/{name}/start_transaction").status_code == 200
    r = http.post(f"/pipelines/{name}/start_transaction")
    assert r.status_code == 409 and r.json()["error_code"] == "TransactionInProgress"
    assert r.json()["details"]["transaction_id"] == 1
    stopped = new_pipeline(SQL)
    r = http.post(f"/pipelines/{stopped}/start_transaction")
    assert r.status_code == 503 and r.json()["error_code"] == "PipelineInteractionNotDeployed"


def test_a_stop_applies_an_open_transaction(http, make_pipeline):
    """Input acknowledged inside an open transaction is durable: a stop applies it rather than losing it."""
    name = make_pipeline(SQL)
    http.post(f"/pipelines/{name}/start_transaction")
    _push(http, name, [(1, 10)])
    assert http.post(f"/pipelines/{name}/stop", params={"force": "true"}).status_code == 202
    wait_status(http, name, "Stopped")
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    wait_status(http, name, "Running")
    r = http.get(f"/pipelines/{name}/query", params={"sql": "SELECT n, s FROM total", "format": "json"})
    assert r.json() == {"n": 1, "s": 10}


def test_official_client(engine, http, make_pipeline):
    feldera = pytest.importorskip("feldera")
    from feldera.enums import TransactionStatus
    name = make_pipeline(SQL)
    p = feldera.Pipeline.get(name, feldera.FelderaClient(engine.url))
    tid = p.start_transaction()
    assert tid == 1 and p.transaction_id() == 1
    assert p.transaction_status() == TransactionStatus.TransactionInProgress
    p.input_json("t", [{"id": 1, "x": 2}, {"id": 2, "x": 3}], wait=False)
    p.commit_transaction(tid, wait=True, timeout_s=30, poll_interval_s=0.05)
    assert p.transaction_status() == TransactionStatus.NoTransaction and p.transaction_id() is None
    assert list(p.query("SELECT n, s FROM total")) == [{"n": 2, "s": 5}]
