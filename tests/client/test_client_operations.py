"""``Pipeline``'s logs, metrics, profile, support bundle, checkpoints and transactions against the real
engine; and the REST layer every call goes through."""

from __future__ import annotations

import ast
import io
import json
import zipfile
from pathlib import Path

import pytest

from webapp.client import CheckpointStatus, LogStream, PipelineStateError, StreamError, UnavailableError

CLIENT_DIR = Path(__file__).resolve().parents[2] / "webapp" / "client"


def test_logs_resume_from_a_cursor(pipeline):
    pipeline.start()
    with pipeline.logs(read_timeout=20) as log:
        assert isinstance(log, LogStream) and log.seq == 0 and log.gap == 0
        first = next(log)
        assert "Fresh start of pipeline logs" in first  # Feldera's first line of every pipeline log
        cursor = log.cursor()
        assert cursor == f"{log.epoch}:1"
        second = next(log)
        assert "Stopped -> Provisioning" in second
    with pipeline.resume_logs(cursor) as again:
        assert again.seq == 1 and next(again) == second


def test_a_silent_log_raises_after_read_timeout(pipeline):
    pipeline.start()
    with pipeline.logs(read_timeout=0.5) as log:
        with pytest.raises(StreamError):
            for _ in log:  # the opening line and three start lines, then nothing more
                pass


def test_metrics_profile_and_support_bundle(pipeline):
    pipeline.start()
    pipeline.input_json("users", [{"id": 1, "name": "Ann", "age": 30}, {"id": 2, "name": "Bo", "age": 40}])
    assert f'records_processed_total{{pipeline="{pipeline.name}"}} 2' in pipeline.metrics()
    fams = {f["key"]: f for f in pipeline.metrics(format="json")}
    assert fams["records_processed_total"]["values"][0]["value"] == 2
    nodes = {n["name"]: n for n in pipeline.circuit_json_profile()["nodes"]}
    assert nodes["users"]["rows"] == 2 and nodes["user_stats"]["rows"] == 2 and nodes["user_stats"]["steps"] == 1
    assert "circuit.dot" in zipfile.ZipFile(io.BytesIO(pipeline.circuit_profile())).namelist()
    z = zipfile.ZipFile(io.BytesIO(pipeline.support_bundle(logs=False)))
    col = json.loads(z.read("metadata.json"))["collections"][0]
    assert "logs.txt" in col["skipped"] and "stats.json" in col["collected"]


def test_support_bundle_to_a_file(pipeline, tmp_path):
    out = tmp_path / "bundle.zip"
    data = pipeline.support_bundle(str(out))
    assert out.read_bytes() == data and zipfile.is_zipfile(out)


def test_checkpoint(pipeline):
    pipeline.start()
    resp = pipeline.checkpoint_response(wait=True, timeout_s=30)
    seq, inc = resp["checkpoint_sequence_number"], resp["incarnation_uuid"]
    assert pipeline.checkpoint_status(seq, inc) == CheckpointStatus.SUCCESS
    assert pipeline.checkpoint(wait=True, timeout_s=30) == seq + 1
    assert pipeline.checkpoint_status(seq) == CheckpointStatus.UNKNOWN  # superseded
    assert pipeline.checkpoint_status(seq + 5) == CheckpointStatus.IN_PROGRESS
    assert len(pipeline.checkpoints()) == 1


def test_transactions(pipeline):
    pipeline.start()
    assert pipeline.transaction_id() is None and pipeline.transaction_status() == "NoTransaction"
    with pytest.raises(PipelineStateError) as e:
        pipeline.commit_transaction()
    assert e.value.error_code == "NoTransactionInProgress"
    tid = pipeline.start_transaction()
    assert pipeline.transaction_id() == tid and pipeline.transaction_status() == "TransactionInProgress"
    token = pipeline.input_json("users", {"id": 7, "name": "Cy", "age": 20}, wait=False)
    with pytest.raises(PipelineStateError) as e:
        pipeline.commit_transaction(tid + 1)
    assert e.value.error_code == "TransactionMismatch"
    pipeline.commit_transaction(tid, timeout_s=30)
    assert pipeline.transaction_id() is None
    assert pipeline.wait_for_token(token, timeout_s=30)["status"] == "complete"


def test_validate_program(client, docs_sql):
    assert "Success" in client.validate_program(docs_sql)
    assert "SqlError" in client.validate_program("CREATE TABLE t (x NOTATYPE);")


def test_only_the_rest_layer_sends_requests():
    """Pipeline, OutputHandler and Client call ``Rest``; only ``_rest.py`` (and ``_http.py``) build requests."""
    for path in CLIENT_DIR.glob("*.py"):
        if path.name in ("_rest.py", "_http.py"):
            continue
        tree = ast.parse(path.read_text())
        used = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "_http"
                and not (isinstance(n.ctx, ast.Store))]
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("json", "stream", "request")
                 and isinstance(n.value, ast.Attribute) and n.value.attr == "_http"]
        assert not calls, f"{path.name} sends requests through _http instead of _rest"
        if path.name != "client.py":
            assert not used, f"{path.name} reaches into the client's _http"


def test_input_to_a_pipeline_stopped_by_a_failed_step_says_why(make_pipeline):
    """The step fails (SUM overflows BIGINT) and the pipeline stops: waiting for the input's token used to
    raise only "not running: start it first"; the error it stopped on comes with it."""
    p = make_pipeline("CREATE TABLE t (n BIGINT);\nCREATE MATERIALIZED VIEW s AS SELECT SUM(n) AS total FROM t;\n")
    p.start()
    with pytest.raises(UnavailableError) as e:
        p.input_json("t", [{"n": 9_000_000_000_000_000_000}, {"n": 9_000_000_000_000_000_000}])
    cause = p.deployment_error()
    assert cause and cause["message"], "the pipeline stopped on an error"
    assert e.value.error_code == "PipelineInteractionNotDeployed" and e.value.status == 503
    assert f"It stopped on this error: {cause['message']}" in str(e.value)
    assert e.value.details["deployment_error"] == cause
