"""A filter view's WHERE evaluated in Python (``ivm.pyfilter``) keeps exactly the rows DuckDB keeps.

The differential test plans real views, filters rows DuckDB stored through each Select's Python path
and compares them with DuckDB's own ``SELECT ... WHERE`` over the same rows: NULL, NaN, infinities,
-0.0, integers beyond a double's precision, REAL rounding, unicode and NUL in strings. Predicates
outside the subset must get no Python evaluator. The last test sends small upserts through a real
engine and reads a filtered view's changes on its egress stream.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter

import duckdb
import httpx
import pyarrow as pa
import pytest

from webapp.engine.ivm.ops import Select
from webapp.engine.ivm.pyfilter import ROWS_MAX
from webapp.engine.sql import compile_program
from webapp.engine.strategy import ViewPlans
from webapp.engine.testing import wait_processed

TABLE = ("CREATE TABLE t (i INT, b BIGINT, d DOUBLE, e DOUBLE, r REAL, s VARCHAR, u VARCHAR, f BOOLEAN, "
         "m DECIMAL(10,2), dt DATE);")
NAN = float("nan")
INF = float("inf")
POOLS = {
    "i": [None, 0, 1, -1, 5, -5, 10, -10, 2**31 - 1, -2**31],
    "b": [None, 0, 1, -5, 2**53, 2**53 + 1, 2**63 - 1, -2**63, 9007199254740993],
    "d": [None, NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 900.0, 900.0000001, 1e308, 2.0**53, 0.5, 5e-324],
    "r": [None, NAN, INF, -INF, 0.0, -0.0, 0.5, 1.0, 0.1, 16777216.0, 16777218.0],
    "s": [None, "", "a", "A", "b", "ab", "a\x00b", "z", "zz", "é", "e\u0301", "中文", "😀", "\uffff", "\U0010ffff"],
    "f": [None, True, False],
}
POOLS["e"], POOLS["u"] = POOLS["d"], POOLS["s"]
ARROW = {"i": pa.int32(), "b": pa.int64(), "d": pa.float64(), "e": pa.float64(), "r": pa.float32(),
         "s": pa.string(), "u": pa.string(), "f": pa.bool_()}

# Inside the subset: each must get a Python evaluator.
SUBSET = [
    "d > 900", "d >= 0", "d < 0", "d <= 0", "d = 0", "d <> 0", "d > -1", "d < 1e999", "d = 1e999", "d >= 1e308",
    "d = e", "d <> e", "d < e", "d <= e", "d > e", "d >= e", "d IS DISTINCT FROM e", "d IS NOT DISTINCT FROM e",
    "900 < d", "0 >= d", "d BETWEEN -1 AND 1", "d NOT BETWEEN e AND 900", "d IN (0, 1, 900)", "d NOT IN (1, 0.5e0)",
    "i = b", "i < b", "i >= b", "b > 9007199254740992", "b = 9007199254740993", "i > -5", "i BETWEEN -10 AND 10",
    "i NOT BETWEEN -10 AND 10", "i IN (1, 5, NULL)", "i NOT IN (1, 5)", "i NOT IN (1, NULL)",
    "b <= 170141183460469231731687303715884105727", "i IS DISTINCT FROM b",
    "r > 0.5e0", "r = d", "r < d", "r >= 1", "r <= 16777216", "r = 16777218", "r > e",
    "s < u", "s <= u", "s = u", "s <> u", "s > 'z'", "s < 'é'", "s = 'é'", "s >= 'a' AND s < 'b'",
    "s BETWEEN 'a' AND 'zz'", "s IN ('a', 'é', '😀')", "s > '\uffff'", "s IS NOT DISTINCT FROM u",
    "f", "NOT f", "f = true", "f <> false", "f > false", "f IS NULL", "f IS NOT NULL", "f = (d > 0)",
    "f AND d > 0", "f OR d > 0", "NOT (f OR d > 0)", "(i > 0) = (d > 0)", "d IS NULL", "s IS NOT NULL",
    "m IS NULL", "dt IS NOT NULL", "NULL", "true", "false", "i = NULL", "NULL <> d", "d > 0 AND NULL",
    "d > 0 OR NULL", "NOT NULL", "i IS DISTINCT FROM NULL", "(d > 0 OR s = 'a') AND (i IS NULL OR NOT f)",
]
# Outside it: DuckDB converts or computes something Python does not reproduce as written.
OUTSIDE = [
    "d + 1 > 2", "abs(d) > 1", "CAST(i AS DOUBLE) > 1", "i::DOUBLE > 1", "i > 900.5", "d > 900.5", "m > 1",
    "s LIKE 'a%'", "s ILIKE 'a%'", "i > 1e3", "i = '5'", "d = '1'", "r > 0.1e0", "d > 9007199254740993",
    "r >= 16777217", "i", "i > 1 AND abs(i) > 1", "i = b + 1", "dt > DATE '2020-01-01'",
    "i > 170141183460469231731687303715884105728", "d = 1e999 - 1e999", "coalesce(f, false)", "f IS TRUE",
]


def _program(preds: list[str], extra: str = ""):
    views = "\n".join(f"CREATE VIEW v{k} AS SELECT * FROM t WHERE {p};" for k, p in enumerate(preds))
    return compile_program(TABLE + "\n" + views + "\n" + extra)


def _select(plans: ViewPlans, name: str) -> Select:
    assert plans.strategy(name) == "incremental", name
    root = plans.maintainer(name).root
    assert isinstance(root, Select)
    return root


def _key(row) -> tuple:
    """Rows compare by value, NaN equal to NaN and -0.0 unlike 0.0 (the same stored value kept)."""
    return tuple("nan" if isinstance(v, float) and v != v else repr(v) for v in row)


@pytest.fixture(scope="module")
def stored():
    """DuckDB holding the program's table with random rows from the pools, and its rows as DuckDB gives them."""
    prog = _program([])
    con = duckdb.connect(":memory:")
    con.execute(prog.table_ddl(prog.table("t")))
    rnd = random.Random(19)
    n = 600
    cols = {c: [rnd.choice(POOLS[c]) for _ in range(n)] for c in POOLS}
    cols["d"][:2], cols["e"][:2] = [NAN, -0.0], [NAN, 0.0]  # d and e meet at NaN and at zero
    con.register("tbl", pa.table({c: pa.array(v, type=ARROW[c]) for c, v in cols.items()}))
    con.execute("INSERT INTO t (i, b, d, e, r, s, u, f, m, dt) SELECT i, b, d, e, r, s, u, f, "
                "CASE WHEN i > 0 THEN 1.5 END, CASE WHEN i > 0 THEN DATE '2021-01-01' END FROM tbl")
    return con, con.execute("SELECT * FROM t").fetchall()


def test_python_filter_keeps_what_duckdb_keeps(stored):
    con, rows = stored
    assert len(rows) <= ROWS_MAX  # one step's worth: the Python path takes them
    plans = ViewPlans(_program(SUBSET))
    for k, pred in enumerate(SUBSET):
        sel = _select(plans, f"v{k}")
        assert sel.keep is not None, f"{pred}: no Python evaluator"
        got = [r for r, w in sel.eval(None, [(r, 1) for r in rows])]  # no DuckDB connection needed
        want = con.execute(f"SELECT * FROM t WHERE {pred}").fetchall()
        assert Counter(map(_key, got)) == Counter(map(_key, want)), pred
        assert len(got) == len(want), pred


def test_duckdb_semantics_the_evaluator_relies_on(stored):
    """The claims in pyfilter's docstring, asked of DuckDB itself."""
    con, _ = stored
    nan, inf = "'nan'::DOUBLE", "'inf'::DOUBLE"
    assert con.execute(f"SELECT {nan} > {inf}, {nan} = {nan}, -0.0::DOUBLE = 0.0::DOUBLE, "
                       f"CAST(16777216 AS REAL) >= 16777217, 'é' < 'z', 'z' < '中文', '\uffff' < '😀'"
                       ).fetchall() == [(True, True, True, True, False, True, True)]
    assert sorted(["é", "z", "中文", "\uffff", "😀", "a\x00b", "a"]) == [r[0] for r in con.execute(
        "SELECT s FROM (VALUES ('é'), ('z'), ('中文'), ('\uffff'), ('😀'), ('a\x00b'), ('a')) v(s) ORDER BY s")
        .fetchall()]


def test_predicates_outside_the_subset_get_no_python_evaluator():
    plans = ViewPlans(_program(OUTSIDE, "CREATE VIEW p AS SELECT i + 1 AS j, s FROM t WHERE i > 0;\n"
                                        "CREATE VIEW q AS SELECT CAST(i AS BIGINT) AS i FROM t WHERE i > 0;"))
    for k, pred in enumerate(OUTSIDE):
        assert _select(plans, f"v{k}").keep is None, pred
    # computed output columns keep the DuckDB path whatever the predicate
    assert _select(plans, "p").keep is None and _select(plans, "q").keep is None
    # picking columns is still the Python path
    assert _select(ViewPlans(_program([], "CREATE VIEW w AS SELECT s, i FROM t WHERE i > 0;")), "w").keep


# ---------------------------------------------------------------------------------------------
# Through a real engine

PROGRAM = """
CREATE TABLE orders (order_id BIGINT NOT NULL PRIMARY KEY, amount DOUBLE, city VARCHAR);
CREATE VIEW big AS SELECT * FROM orders WHERE amount > 900;
"""


def _csv(rows) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return out.getvalue()


def _event_key(ev: dict) -> tuple:
    (kind, row), = ev.items()
    return kind, row["order_id"], row["amount"], row["city"]


def test_small_upserts_reach_a_filtered_views_egress(engine, http, make_pipeline):
    name = make_pipeline(PROGRAM)
    url = f"{engine.url}/v0/pipelines/{name}/egress/big"
    with httpx.stream("POST", url, params={"format": "json"}, timeout=30) as resp:
        lines = resp.iter_lines()

        def step(rows, expect: list[tuple]):
            tok = http.post(f"/pipelines/{name}/ingress/orders", params={"format": "csv"},
                            content=_csv(rows)).json()["token"]
            wait_processed(http, name, tok, 20)
            got: list[tuple] = []
            for line in lines:  # an empty line is a keepalive; a missing change times the read out
                if line.strip():
                    got += [_event_key(ev) for ev in json.loads(line).get("json_data") or []]
                if len(got) >= len(expect):
                    break
            assert sorted(got) == sorted(expect)

        # JSON has no NaN or infinity: the egress writes them as null. Which rows arrive tells a
        # NaN (above every number in DuckDB) from a NULL (never kept).
        step([(1, 950.0, "a"), (2, 100.0, "b"), (3, "nan", "c"), (4, None, "d"), (5, -0.0, "e"), (6, "inf", "f"),
              (7, 900, "g")],
             [("insert", 1, 950.0, "a"), ("insert", 3, None, "c"), ("insert", 6, None, "f")])
        step([(1, 100.0, "a"), (2, 1000.0, "b"), (3, None, "c"), (4, "nan", "d"), (7, 900.5, "g")],
             [("delete", 1, 950.0, "a"), ("insert", 2, 1000.0, "b"), ("delete", 3, None, "c"),
              ("insert", 4, None, "d"), ("insert", 7, 900.5, "g")])
        # The last change is the only one: nothing else arrived after the previous step's.
        step([(99, 5000.0, "z")], [("insert", 99, 5000.0, "z")])
