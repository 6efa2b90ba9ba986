"""The official Feldera Python client (PyPI ``feldera``) drives a real Sluice engine through its whole flow."""

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("feldera")

FLOW = Path(__file__).with_name("feldera_flow.py")


@pytest.fixture(scope="module")
def seen(engine):
    r = subprocess.run([sys.executable, str(FLOW), engine.url], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"flow failed:\n{r.stdout}\n{r.stderr}\nengine log:\n{engine.log}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def _expected_user_stats(sep=" "):
    """``sep``: between date and time; a change stream writes a space, an ad-hoc query a ``T`` (Arrow's form)."""
    base = dt.datetime(2026, 1, 1, 12, 0, 0)
    acc: dict = {}
    for i in range(3500):
        u = i % 4 + 1
        n, total, last = acc.get(u, (0, Decimal("0"), base))
        acc[u] = (n + 1, total + Decimal(str(round((i % 100) * 1.25, 2))), max(last, base + dt.timedelta(seconds=i)))
    return sorted([[u, n, str(total.quantize(Decimal("0.01"))), last.strftime(f"%Y-%m-%d{sep}%H:%M:%S")]
                   for u, (n, total, last) in acc.items()])


def test_schema_is_reported(seen):
    assert seen["tables"] == ["events", "users"]
    assert seen["views"] == ["adults", "user_stats"]


def test_lifecycle_states(seen):
    assert seen["status_after_start_paused"] == "PipelineStatus.PAUSED"
    assert seen["status_after_resume"] == "PipelineStatus.RUNNING"
    assert seen["status_after_stop"] == "PipelineStatus.STOPPED"
    assert seen["status_after_delete"] == "PipelineStatus.NOT_FOUND"


def test_paused_push_without_force_is_refused(seen):
    assert seen["paused_push_error"] and "paused" in seen["paused_push_error"].lower()


def test_listen_saw_every_change_from_the_start(seen):
    # Alice(30) and Carol inserted while paused (forced), Bob is 17; then Dan in, Carol out, Alice updated.
    changes = [(c["id"], c["name"], c["age"], c["insert_delete"]) for c in seen["adults_changes"]]
    expected = [(1, "Alice", 30, 1), (3, "Carol", 41, 1), (4, "Dan", 22, 1), (3, "Carol", 41, -1),
                (1, "Alice", 30, -1), (1, "Alice", 31, 1)]
    assert sorted(changes) == sorted(expected)


def test_query_matches(seen):
    assert seen["adults_query"] == [{"id": "1", "name": "Alice", "age": "31"}, {"id": "4", "name": "Dan", "age": "22"}]
    assert seen["user_stats_query"] == _expected_user_stats(sep="T")


def test_foreach_chunk_sums_to_the_view(seen):
    assert seen["user_stats_negative"] == []
    assert seen["user_stats_from_chunks"] == _expected_user_stats()
    seqs = seen["chunk_seq_nos"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_query_tabular(seen):
    text = "\n".join(seen["tabular"])
    assert "| id | name  |" in text and "| 1  | Alice |" in text and "| 4  | Dan   |" in text


def test_stats(seen):
    s = seen["stats"]
    assert s["total_input_records"] == s["total_processed_records"] == 3500 + 6  # events, then users: 1 + 2 + (insert, delete) + 1
    assert s["pipeline_complete"] is True
    assert s["inputs"] == ["events", "users"]
