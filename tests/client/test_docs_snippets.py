"""Every snippet of the HTTP connector documentation, nearly verbatim, against a real server.

The server is a `sluice engine` process, or whatever Feldera-compatible URL ``SLUICE_TEST_URL`` names
(see conftest.py). Where a snippet had to change, a comment says why. Waits are bounded generously
and only guard against hangs; nothing here measures time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from decimal import Decimal

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

from webapp.client import (
    Chunk,
    CompilationError,
    NotFoundError,
    PipelineStateError,
    PipelineStatus,
    SchemaError,
)

# -- HTTP input ------------------------------------------------------------------------------------


def rows(pipeline, sql):
    return list(pipeline.query(sql))


def test_push_a_dict(pipeline):
    pipeline.start()
    pipeline.input_json(
        table_name="users",
        data={"id": 1, "name": "Alice", "age": 30},
        update_format="raw"
    )
    assert rows(pipeline, "SELECT * FROM users") == [{"id": 1, "name": "Alice", "age": 30}]


def test_push_a_list(pipeline):
    pipeline.start()
    token = pipeline.input_json(
        table_name="users",
        data=[
            {"id": 1, "name": "Alice", "age": 30},
            {"id": 2, "name": "Bob", "age": 25}
        ],
        update_format="raw"
    )
    assert isinstance(token, str) and token
    assert rows(pipeline, "SELECT id, name, age FROM users ORDER BY id") == [
        {"id": 1, "name": "Alice", "age": 30}, {"id": 2, "name": "Bob", "age": 25}]


def test_raw_and_insert_delete_formats(pipeline):
    pipeline.start()
    with pipeline.listen("user_stats") as handler:
        # Raw format: each record is an insert.
        pipeline.input_json("users", {"id": 1, "name": "Alice", "age": 30}, update_format="raw")
        # Insert/Delete format: explicit inserts and deletes.
        pipeline.input_json("users", {"insert": {"id": 2, "name": "Alice", "age": 31}}, update_format="insert_delete")
        assert rows(pipeline, "SELECT COUNT(*) AS c FROM users") == [{"c": 2}]
        token = pipeline.input_json("users", {"delete": {"id": 1, "name": "Alice", "age": 30}},
                                    update_format="insert_delete")
        assert rows(pipeline, "SELECT id FROM users") == [{"id": 2}]
        handler.wait_for_token(token, timeout_s=60)
        seen = handler.to_pandas()
    # Alice counted once, then twice, then once again; every change carries its weight.
    assert set(seen["insert_delete"]) == {1, -1}
    net = seen.groupby(["name", "visits"])["insert_delete"].sum()
    assert net[net != 0].to_dict() == {("Alice", 1): 1}


def test_update_events_and_debezium_through_input_json(pipeline, recorder):
    """Sluice's client sends what the engine's ingress reads: partial updates by key and Debezium events."""
    pipeline.start()
    pipeline.input_json("users", [{"id": 1, "name": "Alice", "age": 30}, {"id": 2, "name": "Bob", "age": 25}])
    pipeline.input_json("users", {"update": {"id": 2, "age": 26}}, update_format="insert_delete")
    pipeline.input_json("users", [{"payload": {"op": "c", "after": {"id": 3, "name": "Carol", "age": 41}}},
                                  {"payload": {"op": "u", "before": {"id": 1},
                                               "after": {"id": 1, "name": "Alice", "age": 31}}},
                                  {"payload": {"op": "d", "before": {"id": 3}}}], update_format="debezium")
    assert rows(pipeline, "SELECT * FROM users ORDER BY id") == [
        {"id": 1, "name": "Alice", "age": 31}, {"id": 2, "name": "Bob", "age": 26}]
    assert [r.url.params["update_format"] for r in recorder.ingress()] == ["raw", "insert_delete", "debezium"]
    sent = len(recorder.ingress())
    with pytest.raises(ValueError, match="weighted"):
        pipeline.input_json("users", [], update_format="weighted")
    assert len(recorder.ingress()) == sent  # refused before anything is sent


def test_paused_pipeline_refuses_input_unless_forced(pipeline, recorder):
    pipeline.start_paused()
    before = len(recorder.ingress())
    with pytest.raises(PipelineStateError) as e:
        pipeline.input_json("users", {"id": 1, "name": "Alice"})
    assert isinstance(e.value, RuntimeError)  # what the official client raises
    assert e.value.error_code == "PipelinePaused" and "force=True" in str(e.value)
    assert len(recorder.ingress()) == before, "nothing may be sent once the pipeline is known to be paused"

    # Forcing input on paused pipelines. (wait=False: whether a paused server steps on forced input
    # differs between servers, and the snippet only promises that the push is accepted.)
    token = pipeline.input_json(
        table_name="users",
        data={"id": 1, "name": "Alice"},
        force=True,
        wait=False,
    )
    pipeline.resume()
    pipeline.wait_for_token(token, timeout_s=60)
    assert rows(pipeline, "SELECT id, name, age FROM users") == [{"id": 1, "name": "Alice", "age": None}]


def test_push_a_pandas_dataframe(pipeline):
    pipeline.start()
    import pandas as pd
    df = pd.DataFrame({
        "id": [1, 2, 3],
        "name": ["Alice", "Bob", "Charlie"],
        "age": [30, 25, 35]
    })
    pipeline.input_pandas(table_name="users", df=df)
    assert rows(pipeline, "SELECT id, name, age FROM users ORDER BY id") == [
        {"id": 1, "name": "Alice", "age": 30}, {"id": 2, "name": "Bob", "age": 25},
        {"id": 3, "name": "Charlie", "age": 35}]


def typed_frame(n: int) -> pd.DataFrame:
    ids = np.arange(n, dtype="int64")
    base = pd.Timestamp("2024-03-01 12:00:00")
    ts = pd.Series(base + pd.to_timedelta(ids * 1_000_123, unit="us"))
    ts[ids % 10 == 3] = pd.NaT
    score = ids / 8.0
    score[ids % 10 == 4] = np.nan
    return pd.DataFrame({
        "id": ids,
        "name": pd.array([None if i % 10 == 5 else f"n{i % 13}" for i in ids], dtype="string"),
        "ts": ts,
        "d": pd.Series(pd.to_datetime("2024-01-01") + pd.to_timedelta(ids % 365, unit="D")),
        "t": pd.to_timedelta(ids % 86_400, unit="s"),
        "amount": [None if i % 10 == 6 else Decimal(int(i)) / 100 + Decimal("0.01") for i in ids],
        "score": score,
        "ok": pd.array([None if i % 10 == 7 else bool(i % 2) for i in ids], dtype="boolean"),
    })


def test_dataframe_of_10000_rows_goes_in_chunks_with_exact_values(pipeline, recorder):
    pipeline.start()
    df = typed_frame(10_000)
    with pipeline.listen("typed_v") as handler:
        before = len(recorder.ingress())
        token = pipeline.input_pandas(table_name="typed", df=df, chunk_size=1000)
        sent = recorder.ingress()[before:]
        handler.wait_for_token(token, timeout_s=120)
        out = handler.to_pandas()
    # Sent as it goes: ten requests of at most 1000 rows, none the whole frame.
    assert [len(orjson.loads(r.content)) for r in sent] == [1000] * 10
    assert all(r.headers.get("Idempotency-Key") for r in sent)
    assert len({r.headers["Idempotency-Key"] for r in sent}) == 10

    assert len(out) == 10_000 and set(out["insert_delete"]) == {1}
    assert str(out["id"].dtype) == "Int64" and str(out["name"].dtype) == "string"
    assert str(out["score"].dtype) == "Float64" and str(out["ok"].dtype) == "boolean"
    assert out["ts"].dtype.kind == "M" and out["d"].dtype.kind == "M" and out["t"].dtype.kind == "m"
    out = out.sort_values("id").reset_index(drop=True)
    pd.testing.assert_series_equal(out["ts"], df["ts"].astype(out["ts"].dtype), check_names=False)
    pd.testing.assert_series_equal(out["d"], df["d"].astype(out["d"].dtype), check_names=False)
    pd.testing.assert_series_equal(out["t"], df["t"].astype(out["t"].dtype), check_names=False)
    assert out["amount"].tolist() == df["amount"].tolist()  # Decimals, exactly; None stays None
    assert out["score"].isna().tolist() == df["score"].isna().tolist()
    assert out["score"].dropna().tolist() == df["score"].dropna().tolist()
    assert out["name"].isna().sum() == 1000 and out["ok"].isna().sum() == 1000

    total = rows(pipeline, "SELECT COUNT(*) AS c, COUNT(ts) AS ts, COUNT(amount) AS a FROM typed")
    assert total == [{"c": 10_000, "ts": 9_000, "a": 9_000}]


def test_input_pandas_checks_columns_before_sending(pipeline, recorder):
    pipeline.start()
    before = len(recorder.ingress())
    bad = pd.DataFrame({"id": [1], "nmae": ["typo"]})
    with pytest.raises(SchemaError) as e:
        pipeline.input_pandas("users", bad)
    assert "nmae" in str(e.value) and isinstance(e.value, ValueError)
    with pytest.raises(SchemaError):
        pipeline.input_pandas("users", pd.DataFrame({"name": ["no id"]}))  # id is NOT NULL
    with pytest.raises(SchemaError):
        pipeline.input_pandas("no_such_table", pd.DataFrame({"id": [1]}))
    assert len(recorder.ingress()) == before
    # Column names match as SQL identifiers do: case-insensitively.
    pipeline.input_pandas("USERS", pd.DataFrame({"ID": [7], "Name": ["Grace"]}))
    assert rows(pipeline, "SELECT id, name FROM users") == [{"id": 7, "name": "Grace"}]


# -- HTTP output -----------------------------------------------------------------------------------


def test_start_paused_listen_resume_sees_changes_from_the_beginning(pipeline):
    pipeline.start_paused()
    handler = pipeline.listen(view_name="user_stats")
    first = pipeline.input_json("users", {"id": 1, "name": "Alice"}, force=True, wait=False)
    pipeline.resume()
    last = pipeline.input_json("users", {"id": 2, "name": "Bob"})
    pipeline.wait_for_token(first, timeout_s=60)
    handler.wait_for_token(last, timeout_s=60)
    seen = handler.to_pandas()
    handler.close()
    net = seen.groupby(["name", "visits"])["insert_delete"].sum()
    assert net[net != 0].to_dict() == {("Alice", 1): 1, ("Bob", 1): 1}


def test_iterating_the_handler(pipeline, capsys):
    pipeline.start()
    handler = pipeline.listen(view_name="user_stats")
    pipeline.input_json("users", [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}])
    token = pipeline.input_json("users", {"id": 3, "name": "Alice"})
    handler.wait_for_token(token, timeout_s=60)
    pipeline.stop(force=True)  # iteration ends when the pipeline stops

    got = []
    # Process chunks as they arrive
    for chunk in handler:
        print(chunk)
        got.append(chunk)

    assert handler.ended and handler.error is None
    assert all(isinstance(c, Chunk) for c in got) and got
    seqs = [c.sequence_number for c in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    changes = [(c["name"], c["visits"], c["insert_delete"]) for ch in got for c in ch.changes]
    assert ("Alice", 2, 1) in changes and ("Alice", 1, -1) in changes and ("Bob", 1, 1) in changes
    frame = got[-1].to_pandas()
    assert list(frame.columns) == ["name", "visits", "insert_delete"]
    assert "sequence_number=" in capsys.readouterr().out


def test_iteration_ends_on_close(pipeline):
    pipeline.start()
    handler = pipeline.listen("user_stats")
    got, done = [], threading.Event()

    def consume():
        for chunk in handler:
            got.append(chunk)
        done.set()

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    token = pipeline.input_json("users", {"id": 1, "name": "Alice"})
    handler.wait_for_token(token, timeout_s=60)
    handler.close()
    assert done.wait(30), "iteration must end when the handler is closed"
    assert handler.ended


def test_foreach_chunk_with_increasing_seq_no(pipeline, capsys):
    pipeline.start()
    calls = []

    def process_chunk(df, seq_no):
        print(f"Received chunk {seq_no} with {len(df)} rows")
        print(df.head())
        calls.append((seq_no, df))

    handle = pipeline.foreach_chunk(view_name="user_stats", callback=process_chunk)
    for i in range(4):
        pipeline.input_json("users", {"id": i, "name": "Alice" if i % 2 else "Bob"})
    pipeline.stop(force=True)  # the output is already on the stream; the thread ends with it
    handle.join(timeout=60)

    seqs = [s for s, _ in calls]
    assert len(calls) >= 4 and seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for _, df in calls:
        assert list(df.columns) == ["name", "visits", "insert_delete"]
        assert str(df["name"].dtype) == "string" and str(df["visits"].dtype) == "Int64"
        assert set(df["insert_delete"]) <= {1, -1}
    final = pd.concat([df for _, df in calls]).groupby(["name", "visits"])["insert_delete"].sum()
    assert final[final != 0].to_dict() == {("Alice", 2): 1, ("Bob", 2): 1}
    assert "Received chunk" in capsys.readouterr().out


def test_exception_in_callback_surfaces_from_join(pipeline, caplog):
    pipeline.start()
    calls = []

    def process_chunk(df, seq_no):
        calls.append(seq_no)
        raise ValueError(f"bad chunk {seq_no}")

    with caplog.at_level(logging.ERROR, logger="sluice.client"):
        handle = pipeline.foreach_chunk(view_name="user_stats", callback=process_chunk)
        pipeline.input_json("users", {"id": 1, "name": "Alice"})
        pipeline.input_json("users", {"id": 2, "name": "Bob"})
        with pytest.raises(ValueError, match="bad chunk"):
            handle.join(timeout=60)
    assert len(calls) == 1, "after a failure the callback is not called again"
    assert isinstance(handle.exception, ValueError)
    assert any("callback" in r.getMessage() and r.exc_info for r in caplog.records)
    with pytest.raises(ValueError):  # still there on a second join
        handle.join()


# -- Use cases -------------------------------------------------------------------------------------


def test_testing_and_debugging(pipeline):
    # Start pipeline in paused mode
    pipeline.start_paused()
    # Push test data. (The snippet omits force=True, but the same page says pushing to a paused
    # pipeline raises unless forced, as the official client does; wait=False as above.)
    pipeline.input_json("users", {"id": 1, "name": "Alice"}, force=True, wait=False)
    token = pipeline.input_json("users", {"id": 2, "name": "Bob"}, force=True, wait=False)
    # Resume and check output
    pipeline.resume()
    pipeline.wait_for_token(token, timeout_s=60)
    results = list(pipeline.query("SELECT * FROM user_stats"))
    assert sorted(results, key=lambda r: r["name"]) == [{"name": "Alice", "visits": 1}, {"name": "Bob", "visits": 1}]


def test_interactive_data_exploration(pipeline, capsys):
    pipeline.start()
    # Push some data
    pipeline.input_json("events", {"user_id": 1, "action": "login"})
    # Query the results
    for row in pipeline.query("SELECT * FROM event_summary"):
        print(row)
    assert capsys.readouterr().out.strip() == str({"action": "login", "n": 1})


def test_browser_snippet_reads_egress_with_get(pipeline, server_url, is_sluice):
    """The JavaScript snippet reads egress with a plain GET and splits the body on newlines."""
    if not is_sluice:
        pytest.skip("GET on egress is a Sluice extension; Feldera serves egress by POST only")
    pipeline.start()
    url = f"{server_url}/v0/pipelines/{pipeline.name}/egress/user_stats?format=json"
    received = []
    with httpx.Client(timeout=30) as http, http.stream("GET", url) as response:
        reader = response.iter_bytes()
        first = next(reader)  # the stream is open: push now
        pipeline.input_json("users", {"id": 1, "name": "Alice"}, wait=False)
        pending = first
        while not any("json_data" in d for d in received):
            for line in pending.decode().split("\n"):
                if line.strip():
                    received.append(orjson.loads(line))
            if not any("json_data" in d for d in received):
                pending = next(reader)
    data = [d for d in received if "json_data" in d]
    assert data[0]["json_data"] == [{"insert": {"name": "Alice", "visits": 1}}]


# -- The rest of the API, against the same server ----------------------------------------------------


def test_execute_insert_and_query_pandas(pipeline):
    pipeline.start()
    pipeline.execute("INSERT INTO users VALUES (1, 'Alice', 30), (2, 'Bob', NULL)", wait=True)
    df = pipeline.query_pandas("SELECT id, name, age FROM users ORDER BY id")
    assert df["id"].tolist() == [1, 2] and df["name"].tolist() == ["Alice", "Bob"]
    assert df["age"].iloc[0] == 30 and pd.isna(df["age"].iloc[1])
    assert any("Alice" in line for line in pipeline.query_tabular("SELECT name FROM users"))


def test_lifecycle_and_lookup(client, pipeline):
    assert pipeline.status() == PipelineStatus.STOPPED
    assert pipeline.start_paused() == PipelineStatus.PAUSED
    pipeline.resume()
    assert pipeline.status() == "Running"
    pipeline.pause()
    assert pipeline.status() == PipelineStatus.PAUSED
    gm = pipeline.stats()["global_metrics"]
    assert gm["state"] == "Paused" and "total_processed_records" in gm
    assert pipeline.name in [p.name for p in client.pipelines()]
    assert client.pipeline(pipeline.name).name == pipeline.name
    pipeline.stop(force=True)
    assert pipeline.status() == PipelineStatus.STOPPED
    pipeline.clear()
    pipeline.delete()
    assert pipeline.status() == PipelineStatus.NOT_FOUND
    with pytest.raises(NotFoundError) as e:
        client.pipeline(pipeline.name)
    assert e.value.error_code == "UnknownPipelineName" and e.value.status == 404


def test_sql_error_reports_line_and_column(client):
    sql = "CREATE TABLE t (id INT);\nCREATE VIEW v AS SELECT nope FROM t;"
    name = f"client-bad-{dt.datetime.now():%H%M%S%f}"
    try:
        with pytest.raises(CompilationError) as e:
            client.create_pipeline(name, sql)
        assert isinstance(e.value, RuntimeError)
        msg = e.value.messages[0]
        assert msg["start_line_number"] == 2 and msg["start_column"] > 1
        assert "line 2, column" in str(e.value) and "nope" in str(e.value)
    finally:
        try:
            client.pipeline(name).delete()
        except NotFoundError:
            pass


def test_listen_checks_view_and_state(pipeline):
    with pytest.raises(PipelineStateError):
        pipeline.listen("user_stats")  # not started
    pipeline.start()
    with pytest.raises(SchemaError) as e:
        pipeline.listen("no_such_view")
    assert "user_stats" in str(e.value)
    with pipeline.listen("USER_STATS") as handler:  # unquoted names are case-insensitive
        token = pipeline.input_json("users", {"id": 1, "name": "Alice"})
        handler.wait_for_token(token, timeout_s=60)
        assert handler.to_dict() == [{"name": "Alice", "visits": 1, "insert_delete": 1}]


def test_create_pipeline_replaces_a_running_pipeline(client, pipeline, docs_sql):
    pipeline.start()
    pipeline.input_json("users", {"id": 1, "name": "Alice"})
    again = client.create_pipeline(pipeline.name, docs_sql)  # stops it, clears its data, compiles the new program
    assert again.status() == PipelineStatus.STOPPED
    again.start()
    assert list(again.query("SELECT * FROM users")) == []


def test_input_pandas_progress_bar(pipeline, capsys):
    pytest.importorskip("tqdm")
    pipeline.start()
    df = pd.DataFrame({"id": range(25), "name": ["x"] * 25})
    pipeline.input_pandas("users", df, chunk_size=10, progress=True)
    assert "25/25" in capsys.readouterr().err
    assert list(pipeline.query("SELECT COUNT(*) AS c FROM users")) == [{"c": 25}]


def test_every_listener_ends_when_the_pipeline_stops(pipeline):
    """Several streams on one view: stopping the pipeline must end each of them, not just some."""
    pipeline.start()
    handlers = [pipeline.listen("user_stats") for _ in range(3)]
    calls = []
    handle = pipeline.foreach_chunk("user_stats", lambda df, seq_no: calls.append(seq_no))
    pipeline.input_json("users", {"id": 1, "name": "Alice"})
    pipeline.stop(force=True)
    results = [[] for _ in handlers]
    threads = [threading.Thread(target=lambda h=h, out=out: out.extend(h), daemon=True)
               for h, out in zip(handlers, results)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 10
    for th in threads:
        th.join(max(0.0, deadline - time.monotonic()))
    still_open = [i for i, th in enumerate(threads) if th.is_alive()]
    try:
        handle.join(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        for h in handlers:
            h.close()
    assert not still_open, f"streams {still_open} of 3 stayed open after the pipeline stopped"
    assert all(len(r) == 1 for r in results) and len(calls) == 1
