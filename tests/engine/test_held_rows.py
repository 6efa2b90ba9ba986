"""Rows of small insert-only steps held back from DuckDB (``stepdb``), in process with the real Engine.

Each test first checks that the rows really were held (``rt.held``), then that whatever reads the table
afterwards sees them: the other side of a join, a recomputed view, an upsert of the same key, an ad-hoc
query, a snapshot, a checkpoint, a later failed step, the step thread once idle. The random test drives
small steps of every kind through the runtime and compares what each view's egress stream has built up
with DuckDB computing the view from the tables."""

from __future__ import annotations

import random
import threading
from collections import Counter

import duckdb
import orjson
import pytest

from webapp.engine import Engine
from webapp.engine.runtime import Batch
from webapp.engine.sql import compile_program
from webapp.engine.stepdb import HeldRows, StepConnection
from webapp.engine.table import TableApplier
from webapp.engine.testing import wait_until

RAW = {"format": "json", "update_format": "raw"}
EVENTS = {"format": "json", "update_format": "insert_delete"}

PROGRAM = """
CREATE TABLE orders (order_id BIGINT NOT NULL PRIMARY KEY, customer_id INT, amount DOUBLE, city VARCHAR);
CREATE TABLE customers (customer_id INT NOT NULL PRIMARY KEY, name VARCHAR);
CREATE TABLE notes (n INT, body VARCHAR);
CREATE MATERIALIZED VIEW by_city AS SELECT city, COUNT(*) AS n, SUM(amount) AS s, MAX(amount) AS top
    FROM orders GROUP BY city;
CREATE MATERIALIZED VIEW enriched AS SELECT o.order_id, o.amount, c.name
    FROM orders o JOIN customers c ON o.customer_id = c.customer_id;
CREATE MATERIALIZED VIEW note_counts AS SELECT body, COUNT(*) AS c FROM notes GROUP BY body;
"""
RANKED = "CREATE MATERIALIZED VIEW ranked AS SELECT order_id, ROW_NUMBER() OVER (ORDER BY order_id) AS r FROM orders;"


class Stream:
    """A view's egress stream read on a thread: the rows its changes add up to, and the last step seen."""

    def __init__(self, rt, view: str):
        self.rows: Counter = Counter()
        self.steps = 0
        self.sub = rt.subscribe(view, "json", False, False)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.sub.lines():
            if not line.strip():
                continue
            chunk = orjson.loads(line)
            for ev in chunk.get("json_data") or []:
                for kind, w in (("insert", 1), ("delete", -1)):
                    if kind in ev:
                        self.rows[tuple(sorted(ev[kind].items()))] += w
            self.steps = max(self.steps, chunk.get("processed_steps", 0))

    def state(self) -> Counter:
        return +self.rows


@pytest.fixture
def running(tmp_path):
    eng = Engine(tmp_path / "data")

    def start(program=PROGRAM, logged=False):
        ft = {"model": "at_least_once"} if logged else {"model": None}
        eng.put("p", {"name": "p", "program_code": program, "runtime_config": {"fault_tolerance": ft}})
        p = eng.get("p")
        p.start()
        wait_until(lambda: p.status == "Running", 30, "the pipeline to run")
        return p, p.running()
    try:
        yield start
    finally:
        eng.shutdown()


def push(p, rt, table: str, records: list[dict], params=RAW) -> None:
    st, ans = p.ingest(table, b"\n".join(orjson.dumps(r) for r in records), params, False)
    assert st == 200, ans
    assert rt.wait_complete(ans["token"], 30)


def read(rt, sql: str) -> list[tuple]:
    """An ad-hoc read, as the query endpoint makes it (``begin_read``)."""
    cur = rt.db.cursor()
    try:
        rt.begin_read(cur)
        return sorted(cur.execute(sql).fetchall(), key=repr)
    finally:
        cur.close()


def stored(rt, table: str) -> list[tuple]:
    """What DuckDB's table holds now, held rows not added."""
    cur = rt.db.cursor()
    try:
        return sorted(cur.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
    finally:
        cur.close()


def recomputed(rt, view: str) -> Counter:
    body = rt.program.relation(view).sql
    cur = rt.db.cursor()
    try:
        rt.begin_read(cur)
        cols = [d[0] for d in cur.execute(body).description]
        rows = cur.fetchall()
    finally:
        cur.close()
    return Counter(tuple(sorted(zip(cols, r))) for r in rows)


def order(i, customer=1, amount=10.0, city="x"):
    return {"order_id": i, "customer_id": customer, "amount": amount, "city": city}


def test_a_new_row_is_held_and_a_query_sees_it(running):
    p, rt = running()
    push(p, rt, "orders", [order(1)])
    assert rt.held.rows == {"orders": [(1, 1, 10.0, "x")]}, "the step held the row (the case under test)"
    assert stored(rt, "orders") == []
    assert read(rt, "SELECT order_id FROM orders") == [(1,)]
    assert not rt.held and stored(rt, "orders") == [(1, 1, 10.0, "x")]


def test_the_other_side_of_a_join_sees_held_rows(running):
    p, rt = running()
    enriched = Stream(rt, "enriched")
    push(p, rt, "orders", [order(1, customer=7, amount=5.0)])
    push(p, rt, "orders", [order(2, customer=8, amount=6.0)])
    assert len(rt.held.rows["orders"]) == 2, "the orders were held (the case under test)"
    push(p, rt, "customers", [{"customer_id": 7, "name": "ann"}])  # probes orders by customer_id
    wait_until(lambda: enriched.steps >= rt.step, 10, "the stream to catch up")
    assert enriched.state() == Counter({(("amount", 5.0), ("name", "ann"), ("order_id", 1)): 1})


def test_a_recomputed_view_reads_the_rows_of_its_own_step(running):
    p, rt = running(PROGRAM + RANKED)
    ranked = Stream(rt, "ranked")
    push(p, rt, "orders", [order(1)])
    push(p, rt, "orders", [order(2)])
    wait_until(lambda: ranked.steps >= rt.step, 10, "the stream to catch up")
    assert ranked.state() == Counter({(("order_id", 1), ("r", 1)): 1, (("order_id", 2), ("r", 2)): 1})
    assert not rt.held  # ``ranked`` reads the table in every step: nothing stays held


def test_a_program_without_a_view_reading_the_table_keeps_rows_held_across_steps(running):
    p, rt = running("CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, v INT);\n"
                    "CREATE MATERIALIZED VIEW s AS SELECT COUNT(*) AS n, SUM(v) AS sv FROM t;")
    for i in range(3):
        push(p, rt, "t", [{"id": i, "v": 10 * i}])
    assert len(rt.held.rows["t"]) == 3 and stored(rt, "t") == []
    # An update of a held key: the held rows go in first, then the step replaces the row.
    push(p, rt, "t", [{"id": 1, "v": 100}])
    assert read(rt, "SELECT * FROM t") == [(0, 0), (1, 100), (2, 20)]
    assert read(rt, "SELECT * FROM s") == [(3, 120)]


def test_rows_of_a_table_without_a_key_are_held_and_deletes_and_large_steps_go_to_duckdb(running):
    p, rt = running()
    push(p, rt, "notes", [{"n": 1, "body": "a"}, {"n": None, "body": "b"}])
    assert rt.held.rows == {"notes": [(1, "a"), (None, "b")]}
    # Deletes, and more rows than a step may hold, take the usual path.
    push(p, rt, "notes", [{"delete": {"n": 1, "body": "a"}}], EVENTS)
    assert not rt.held and stored(rt, "notes") == [(None, "b")]
    push(p, rt, "notes", [{"n": i, "body": "c"} for i in range(40)])
    assert not rt.held and len(stored(rt, "notes")) == 41


def test_the_step_thread_inserts_held_rows_once_idle(running):
    p, rt = running()
    push(p, rt, "orders", [order(1)])
    assert rt.held
    wait_until(lambda: not rt.held, 10, "the idle step thread to insert the held row")
    assert stored(rt, "orders") == [(1, 1, 10.0, "x")]


def test_a_snapshot_and_a_checkpoint_see_held_rows(running):
    p, rt = running(logged=True)
    push(p, rt, "orders", [order(1), order(2, city="y")])
    assert rt.held
    sub = rt.subscribe("orders", "json", False, True)
    snap = []
    for line in sub.lines():
        chunk = orjson.loads(line)
        snap += chunk.get("json_data") or []
        if not chunk.get("snapshot", True) or len(snap) >= 2:
            break
    sub.close()
    assert sorted(ev["insert"]["order_id"] for ev in snap) == [1, 2]
    push(p, rt, "orders", [order(3)])
    assert rt.held
    assert p._checkpoint()
    assert not rt.held and [r[0] for r in stored(rt, "orders")] == [1, 2, 3]


def test_a_failed_step_leaves_the_rows_held_before_it_in_the_table(running):
    p, rt = running("CREATE TABLE m (id INT NOT NULL PRIMARY KEY, k INT);\n"
                    "CREATE MATERIALIZED VIEW bad AS SELECT id / (k - 3) AS q FROM m;")
    push(p, rt, "m", [{"id": 1, "k": 1}])
    push(p, rt, "m", [{"id": 2, "k": 2}])
    assert len(rt.held.rows["m"]) == 2
    p.ingest("m", b'{"id": 9, "k": 3}', RAW, False)  # divides by zero
    wait_until(lambda: p.status == "Stopped", 30, "the failed step to stop the pipeline")
    assert stored(rt, "m") == [(1, 1), (2, 2)], "rows of steps that ended were lost, or the failed one's kept"
    assert [b.ops for b in p.unapplied] == [[(1, (9, 3))]]


def test_a_stop_inserts_held_rows(running):
    p, rt = running()
    push(p, rt, "orders", [order(1)])
    assert rt.held
    p.stop()
    wait_until(lambda: p.status == "Stopped", 30, "the pipeline to stop")
    assert not rt.held and stored(rt, "orders") == [(1, 1, 10.0, "x")] and not p.unapplied


def test_the_step_connection_begins_at_the_first_write_and_inserts_held_rows_before_a_read_of_them():
    prog = compile_program("CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, v INT);\n"
                           "CREATE TABLE u (id BIGINT NOT NULL, v INT);\n"
                           "CREATE VIEW w AS SELECT id, v + 1 AS v1 FROM t;")
    con = duckdb.connect()
    for r in prog.tables:
        con.execute(prog.table_ddl(r))
    for r in prog.views:
        con.execute(prog.view_ddl(r))
    seen = []

    class Spy:  # the real connection, recording the statements it is given
        def execute(self, sql, *a):
            seen.append(sql.split()[0])
            return con.execute(sql, *a)

    appliers = {t.name: TableApplier(t) for t in prog.tables}
    held = HeldRows(prog, appliers)
    batch = Batch(1, "t", [(1, (5, 10))], 1, 8)
    assert held.hold(con, "t", [batch]) == [(5, 10)]
    sc = StepConnection(Spy(), held)
    assert sc.execute('SELECT count(*) FROM "u"').fetchall() == [(0,)]
    assert seen == ["SELECT"], "a read of another table began a transaction or inserted the held row"
    assert sc.execute('SELECT v1 FROM "w"').fetchall() == [(11,)], "a read of a view of t missed its held row"
    assert seen == ["SELECT", "BEGIN", "INSERT", "SELECT"]
    sc.commit()
    assert seen[-1] == "COMMIT" and not held
    # A key the table holds is not held: the step must delete the old row first.
    assert held.hold(con, "t", [Batch(2, "t", [(1, (5, 20))], 1, 8)]) is None
    # A rolled-back transaction gives its inserted rows back; the failed step's own are dropped.
    assert held.hold(con, "t", [Batch(3, "t", [(1, (6, 1))], 1, 8)]) == [(6, 1)]
    held.committed()  # that step ended
    assert held.hold(con, "t", [Batch(4, "t", [(1, (7, 1))], 1, 8)]) == [(7, 1)]
    sc = StepConnection(Spy(), held)
    sc.need("t")
    sc.rollback()
    assert held.rows == {"t": [(6, 1)]} and [b.seq for b in held.held_batches()] == [3]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_small_steps_give_what_recomputing_the_views_gives(running, seed):
    rnd = random.Random(seed)
    p, rt = running(PROGRAM + (RANKED if seed == 3 else ""))
    views = ["by_city", "enriched", "note_counts"] + (["ranked"] if seed == 3 else [])
    streams = {v: Stream(rt, v) for v in views}
    orders: dict[int, dict] = {}
    customers: dict[int, dict] = {}
    notes: list[dict] = []
    held_seen = 0
    for step in range(150):
        table = rnd.choice(["orders", "orders", "orders", "customers", "notes"])
        n = rnd.choice([1, 1, 1, 2, 3, 20])
        events = []
        for _ in range(n):
            if table == "orders":
                if orders and rnd.random() < 0.3:
                    i = rnd.choice(list(orders))
                    if rnd.random() < 0.5:
                        events.append({"delete": orders.pop(i)})
                        continue
                else:
                    i = rnd.randrange(10_000) if rnd.random() < 0.2 else max(orders, default=0) + rnd.randint(1, 3)
                row = order(i, customer=rnd.randrange(6), amount=rnd.choice([0.25, 0.5, 1000.0, -3.5, 7.0]),
                            city=rnd.choice("abc"))
                orders[i] = row
                events.append({"insert": row})
            elif table == "customers":
                c = rnd.randrange(6)
                if c in customers and rnd.random() < 0.4:
                    events.append({"delete": customers.pop(c)})
                else:
                    customers[c] = {"customer_id": c, "name": rnd.choice(["ann", "bo"])}
                    events.append({"insert": customers[c]})
            else:
                if notes and rnd.random() < 0.3:
                    events.append({"delete": notes.pop(rnd.randrange(len(notes)))})
                else:
                    notes.append({"n": rnd.choice([1, 2, None]), "body": rnd.choice(["x", "y"])})
                    events.append({"insert": notes[-1]})
        # A step keeps the last operation on a key: send each key once, so that the model is what it means.
        if table in ("orders", "customers"):
            key = "order_id" if table == "orders" else "customer_id"
            last = {}
            for ev in events:
                last[next(iter(ev.values()))[key]] = ev
            events = list(last.values())
        push(p, rt, table, events, EVENTS)
        held_seen += bool(rt.held)
        if rnd.random() < 0.05:
            assert read(rt, "SELECT count(*) FROM orders") == [(len(orders),)]
        if step % 50 == 49 or step == 149:
            wait_until(lambda: all(s.steps >= rt.step for s in streams.values()), 10, "the streams to catch up")
            for v, s in streams.items():
                assert s.state() == recomputed(rt, v), f"view {v} after step {step}"
    assert held_seen > 20, "few steps held rows: the test did not test holding"


def test_a_view_of_a_view_reads_held_rows_of_a_table_it_names_bare(running):
    """``v3`` reads ``v2`` through the text DuckDB writes back from its parse tree (``_substituted``),
    which names ``cities`` without quotes: its held row must go in before ``v3`` recomputes from it."""
    p, rt = running("""
        CREATE TABLE orders (order_id BIGINT NOT NULL PRIMARY KEY, city_id INT, amount DOUBLE);
        CREATE TABLE cities (city_id INT NOT NULL PRIMARY KEY, region VARCHAR);
        CREATE VIEW v1 AS SELECT city_id, SUM(amount) AS s FROM orders GROUP BY city_id;
        CREATE VIEW v2 AS SELECT c.region, v1.s FROM cities c JOIN v1 ON c.city_id = v1.city_id;
        CREATE MATERIALIZED VIEW v3 AS SELECT region, COUNT(*) AS n FROM v2 GROUP BY region;""")
    v3 = Stream(rt, "v3")
    push(p, rt, "cities", [{"city_id": i, "region": f"r{i % 3}"} for i in range(2, 701)])
    push(p, rt, "orders", [{"order_id": i, "city_id": i, "amount": 1.0} for i in range(1, 701)])
    push(p, rt, "cities", [{"city_id": 1, "region": "r1"}])
    assert rt.held.rows == {"cities": [(1, "r1")]}, "the city was held (the case under test)"
    push(p, rt, "orders", [{"order_id": 1000 + i, "city_id": i, "amount": 2.0} for i in range(1, 701)])
    wait_until(lambda: v3.steps >= rt.step, 10, "the stream to catch up")
    assert v3.state() == recomputed(rt, "v3")


def test_a_join_copy_is_dropped_when_an_aggregate_above_recomputes(running):
    """A large change under a GROUP BY is recomputed by DuckDB without stepping the join: the copy of
    ``orders`` the join kept in memory never saw it and must not be probed again."""
    p, rt = running("""
        CREATE TABLE orders (order_id BIGINT NOT NULL PRIMARY KEY, customer_id INT, amount DOUBLE);
        CREATE TABLE customers (customer_id INT NOT NULL PRIMARY KEY, name VARCHAR);
        CREATE MATERIALIZED VIEW per_name AS SELECT c.name, COUNT(*) AS n
            FROM orders o JOIN customers c ON o.customer_id = c.customer_id GROUP BY c.name;""")
    s = Stream(rt, "per_name")
    push(p, rt, "customers", [{"customer_id": 1, "name": "ann"}])  # probes orders: a copy, empty
    push(p, rt, "orders", [{"order_id": i, "customer_id": 1 + i % 2, "amount": 1.0} for i in range(2000)])
    push(p, rt, "customers", [{"customer_id": 2, "name": "bob"}])  # probes orders again
    wait_until(lambda: s.steps >= rt.step, 10, "the stream to catch up")
    assert s.state() == recomputed(rt, "per_name") == Counter({(("n", 1000), ("name", "ann")): 1,
                                                               (("n", 1000), ("name", "bob")): 1})


def test_rows_that_cannot_be_inserted_after_a_failure_are_not_checkpointed_as_applied(tmp_path, monkeypatch):
    """If even inserting held rows fails (DuckDB out of memory, say), the rows go on as the failed run's
    leftover, and no checkpoint counts them as in the tables: after a restart they are there."""
    from webapp.engine import stepdb

    program = "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, v INT);\nCREATE MATERIALIZED VIEW s AS SELECT COUNT(*) AS n FROM t;"
    eng = Engine(tmp_path / "data")
    try:
        eng.put("p", {"name": "p", "program_code": program,
                      "runtime_config": {"fault_tolerance": {"model": "at_least_once"}}})
        p = eng.get("p")
        p.start()
        wait_until(lambda: p.status == "Running", 30, "the pipeline to run")
        rt = p.running()
        push(p, rt, "t", [{"id": i, "v": i} for i in range(40)])
        push(p, rt, "t", [{"id": 100, "v": 1}])
        assert rt.held, "the row was held (the case under test)"

        def failing(self, con, names=None):
            raise duckdb.OutOfMemoryException("out of memory (injected)")
        monkeypatch.setattr(stepdb.HeldRows, "insert", failing)  # the idle insert fails, then the failure's
        wait_until(lambda: p.status == "Stopped", 30, "the failure to stop the pipeline")
        monkeypatch.undo()
        assert [b.get_ops() for b in p.unapplied] == [[(1, (100, 1))]]
        assert p.incomplete_upto and not p._checkpoint(), "a checkpoint counted the row as in the table"
    finally:
        eng.shutdown()
    eng = Engine(tmp_path / "data")  # the log after the last checkpoint is replayed
    try:
        p = eng.get("p")
        assert sorted(p.db.execute('SELECT id FROM "t"').fetchall())[-1] == (100,)
        p.start()
        wait_until(lambda: p.status == "Running", 30, "the pipeline to run again")
        assert read(p.running(), "SELECT count(*) FROM t") == [(41,)]
    finally:
        eng.shutdown()
