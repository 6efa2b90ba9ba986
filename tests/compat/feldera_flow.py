"""The official Feldera Python client's documented flow, run against a Sluice engine.

Run as ``python feldera_flow.py URL``; prints one JSON document with what the client saw. It lives in
a process of its own because ``import feldera`` replaces ``sys.stderr`` and ``sys.excepthook``.
"""

import datetime as dt
import json
import sys
import threading

import pandas as pd
from feldera import FelderaClient, PipelineBuilder

from webapp.engine.testing import wait_until

SQL = """
CREATE TABLE users (id INT NOT NULL PRIMARY KEY, name VARCHAR, age INT);
CREATE TABLE events (event_id BIGINT NOT NULL, user_id INT, action VARCHAR, amount DECIMAL(10, 2), ts TIMESTAMP);
CREATE MATERIALIZED VIEW adults AS SELECT id, name, age FROM users WHERE age >= 18;
CREATE MATERIALIZED VIEW user_stats AS
    SELECT user_id, COUNT(*) AS n_events, SUM(amount) AS total, MAX(ts) AS last_ts
    FROM events GROUP BY user_id;
"""


def main(url: str) -> None:
    out: dict = {}
    client = FelderaClient(url)
    pipeline = PipelineBuilder(client, "feldera_compat", SQL).create_or_replace()
    # Replacing an existing pipeline (stop, clear, PUT) works too.
    pipeline = PipelineBuilder(client, "feldera_compat", SQL).create_or_replace()
    out["tables"] = sorted(t.name for t in pipeline.tables())
    out["views"] = sorted(v.name for v in pipeline.views())

    pipeline.start_paused()
    out["status_after_start_paused"] = str(pipeline.status())
    handler = pipeline.listen("adults")
    chunks: list = []
    lock = threading.Lock()

    def on_chunk(df, seq_no):
        with lock:
            chunks.append((seq_no, df.to_dict("records")))

    pipeline.foreach_chunk("user_stats", on_chunk)

    # Paused without force: the official client refuses on its side.
    try:
        pipeline.input_json("users", {"id": 99, "name": "Nobody", "age": 50})
        out["paused_push_error"] = None
    except RuntimeError as e:
        out["paused_push_error"] = str(e)

    # Forced while paused: processed anyway.
    pipeline.input_json("users", {"id": 1, "name": "Alice", "age": 30}, force=True)
    pipeline.input_json("users", [{"id": 2, "name": "Bob", "age": 17}, {"id": 3, "name": "Carol", "age": 41}],
                        force=True)
    pipeline.resume()
    out["status_after_resume"] = str(pipeline.status())
    pipeline.input_json("users", [{"insert": {"id": 4, "name": "Dan", "age": 22}},
                                  {"delete": {"id": 3, "name": "Carol", "age": 41}}], update_format="insert_delete")
    pipeline.input_json("users", {"insert": {"id": 1, "name": "Alice", "age": 31}}, update_format="insert_delete")

    base = dt.datetime(2026, 1, 1, 12, 0, 0)
    df = pd.DataFrame({
        "event_id": range(3500),
        "user_id": [i % 4 + 1 for i in range(3500)],
        "action": ["buy" if i % 2 else "view" for i in range(3500)],
        "amount": [round((i % 100) * 1.25, 2) for i in range(3500)],
        "ts": [base + dt.timedelta(seconds=i) for i in range(3500)],
    })
    token = pipeline.input_pandas("events", df)
    # Everything pushed is processed once the last chunk's token is, and the listener has every change of
    # that step once its stream has passed it.
    handler.wait_for_token(token, timeout_s=30)

    def chunks_hold_every_event():
        with lock:
            weights: dict = {}
            for _, rows in chunks:
                for r in rows:
                    key = (int(r["user_id"]), int(r["n_events"]))
                    weights[key] = weights.get(key, 0) + int(r["insert_delete"])
        return sum(n for (_, n), w in weights.items() if w > 0) == 3500
    wait_until(chunks_hold_every_event, 30, "foreach_chunk to receive the changes of all 3500 events")
    wait_until(lambda: pipeline.stats().global_metrics.pipeline_complete, 30, "the pipeline to report completion",
               interval=0.1)

    out["adults_changes"] = [
        {k: (None if pd.isna(v) else (int(v) if k in ("id", "age", "insert_delete") else str(v))) for k, v in r.items()}
        for r in handler.to_dict()
    ]
    with lock:
        out["chunk_seq_nos"] = [c[0] for c in chunks]
        changes: dict = {}
        for _, rows in chunks:
            for r in rows:
                key = (int(r["user_id"]), int(r["n_events"]), str(r["total"]), str(r["last_ts"]))
                changes[key] = changes.get(key, 0) + int(r["insert_delete"])
        out["user_stats_from_chunks"] = sorted([list(k) for k, w in changes.items() if w > 0])
        out["user_stats_negative"] = [list(k) for k, w in changes.items() if w < 0]
    out["adults_query"] = sorted(
        [{k: (str(v) if v is not None else None) for k, v in r.items()} for r in pipeline.query("SELECT * FROM adults")],
        key=lambda r: r["id"])
    out["user_stats_query"] = sorted(
        [[int(r["user_id"]), int(r["n_events"]), str(r["total"]), str(r["last_ts"])]
         for r in pipeline.query("SELECT * FROM user_stats")])
    out["tabular"] = list(pipeline.query_tabular("SELECT id, name FROM adults ORDER BY id"))
    st = pipeline.stats()
    out["stats"] = {"total_input_records": st.global_metrics.total_input_records,
                    "total_processed_records": st.global_metrics.total_processed_records,
                    "pipeline_complete": st.global_metrics.pipeline_complete,
                    "inputs": sorted(i.config["stream"] for i in st.inputs)}
    pipeline.stop(force=True)
    out["status_after_stop"] = str(pipeline.status())
    pipeline.delete(clear_storage=True)  # Feldera deletes only a pipeline whose storage is cleared
    out["status_after_delete"] = str(pipeline.status())
    sys.__stdout__.write(json.dumps(out, default=str) + "\n")
    sys.__stdout__.flush()


if __name__ == "__main__":
    main(sys.argv[1])
