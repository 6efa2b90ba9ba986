"""Ad-hoc queries over real HTTP: json and text formats, INSERT INTO through the pipeline, errors, stats."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from sluice_support import assert_error, completion, push, query_json, wait_until

SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR, n INT);
CREATE MATERIALIZED VIEW pos AS SELECT id, v FROM t WHERE n > 0;
CREATE MATERIALIZED VIEW sums AS SELECT v, SUM(n) AS s FROM t GROUP BY v;
"""


def _done(http, name, token, timeout=15.0):
    return wait_until(lambda: completion(http, name, token)["status"] == "complete", timeout, what="token")


def _load(http, name):
    _done(http, name, push(http, name, "t", [{"insert": {"id": 1, "v": "a", "n": 5}},
                                             {"insert": {"id": 2, "v": None, "n": -1}},
                                             {"insert": {"id": 3, "v": "c", "n": 7}}], array="true"))


def test_query_json(http, make_pipeline):
    name = make_pipeline(SQL)
    _load(http, name)
    r = http.get(f"/pipelines/{name}/query", params={"sql": "SELECT * FROM t ORDER BY id", "format": "json"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    lines = r.text.splitlines()
    assert lines == ['{"id":1,"v":"a","n":5}', '{"id":2,"v":null,"n":-1}', '{"id":3,"v":"c","n":7}']
    assert query_json(http, name, "SELECT * FROM pos ORDER BY id") == [{"id": 1, "v": "a"}, {"id": 3, "v": "c"}]
    assert query_json(http, name, "SELECT count(*) AS c FROM t WHERE n > 100") == [{"c": 0}]
    assert query_json(http, name, "SELECT * FROM t WHERE n > 100") == []


def test_query_reads_the_input_pushed_before_it(http, make_pipeline):
    """A query right after a push (no completion wait) reads the push, as on Feldera, where Feldera's own
    platform tests push and query at once; input an open transaction holds is not waited for."""
    name = make_pipeline(SQL)
    for k in range(1, 6):
        push(http, name, "t", [{"insert": {"id": k, "v": "x", "n": k}}], array="true")
        assert query_json(http, name, "SELECT count(*) AS c FROM pos") == [{"c": k}]
    assert http.post(f"/pipelines/{name}/start_transaction").status_code == 200
    push(http, name, "t", [{"insert": {"id": 50, "v": "y", "n": 1}}], array="true")
    assert query_json(http, name, "SELECT count(*) AS c FROM t") == [{"c": 5}]
    assert http.post(f"/pipelines/{name}/commit_transaction").status_code == 200


def test_query_text(http, make_pipeline):
    name = make_pipeline(SQL)
    _load(http, name)
    for params in ({"sql": "SELECT id, v FROM t ORDER BY id", "format": "text"},
                   {"sql": "SELECT id, v FROM t ORDER BY id"}):  # text is the default
        r = http.get(f"/pipelines/{name}/query", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/plain"
        assert r.text == (
            "+----+---+\n"
            "| id | v |\n"
            "+----+---+\n"
            "| 1  | a |\n"
            "| 2  |   |\n"
            "| 3  | c |\n"
            "+----+---+\n"
        )
    # the hash format is text/plain too: one line, the same for the same rows in any order
    hashes = []
    for sql in ("SELECT id, v FROM t ORDER BY id", "SELECT id, v FROM t ORDER BY id DESC"):
        r = http.get(f"/pipelines/{name}/query", params={"sql": sql, "format": "hash"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/plain"
        hashes.append(r.text.strip())
    assert hashes[0] == hashes[1] and len(hashes[0].splitlines()) == 1


def test_sum_of_integers_is_an_integer(http, make_pipeline, egress):
    """SUM over an INT column is an integer (Feldera keeps the argument type), in queries and in egress."""
    name = make_pipeline(SQL)
    rd = egress(name, "sums")
    _load(http, name)
    assert query_json(http, name, "SELECT * FROM sums WHERE v = 'a'") == [{"v": "a", "s": 5}]
    ev = rd.wait_events(3)
    assert ("insert", {"v": "a", "s": 5}) in ev


def test_a_query_reads_the_sums_a_view_maintains(http, make_pipeline, egress):
    """A DOUBLE SUM/AVG view in a query has the values egress sends (the exact sum, rounded once), not
    DuckDB's sum of its body, which rounds at each addition: for these values every order of plain
    addition gives 0.43533333333333335 and the exact sum is 0.4353333333333333. ``ms`` is read by no
    other view (it keeps its changes back between steps), ``mr`` by ``over``."""
    name = make_pipeline("""
        CREATE TABLE m (id INT NOT NULL PRIMARY KEY, k INT, x DOUBLE);
        CREATE MATERIALIZED VIEW ms AS SELECT k, SUM(x) AS s, AVG(x) AS a FROM m GROUP BY k;
        CREATE MATERIALIZED VIEW mr AS SELECT k, SUM(x) AS s, COUNT(*) AS n FROM m GROUP BY k;
        CREATE MATERIALIZED VIEW over AS SELECT k, s FROM mr WHERE n >= 2;
    """)
    xs = [0.001, 0.1, 0.001, 1 / 3]
    rd = egress(name, "ms")
    _done(http, name, push(http, name, "m", [{"insert": {"id": i, "k": 1, "x": x}} for i, x in enumerate(xs)],
                           array="true"))
    total = sum(map(Fraction, xs))
    s, a = float(total), float(total / len(xs))
    assert s == 0.4353333333333333
    assert rd.wait_events(1) == [("insert", {"k": 1, "s": s, "a": a})]
    assert query_json(http, name, "SELECT * FROM ms") == [{"k": 1, "s": s, "a": a}]
    assert query_json(http, name, "SELECT s FROM mr JOIN over USING (k, s)") == [{"s": s}]
    # a later step, and the row it deletes from the view, in the query too
    _done(http, name, push(http, name, "m", [{"delete": {"id": 3, "k": 1, "x": 1 / 3}}], array="true"))
    rest = total - Fraction(1 / 3)
    assert query_json(http, name, "SELECT * FROM ms") == [{"k": 1, "s": float(rest), "a": float(rest / 3)}]


def test_insert_into_via_query(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "pos")
    r = http.get(f"/pipelines/{name}/query",
                 params={"sql": "INSERT INTO t VALUES (10, 'x', 1), (11, 'y', -1)", "format": "json"})
    assert r.status_code == 200, r.text
    assert [l for l in r.text.splitlines() if l] == ['{"count":2}']
    # visible to queries at once (the insert went through a step), and to egress
    assert query_json(http, name, "SELECT id FROM t ORDER BY id") == [{"id": 10}, {"id": 11}]
    assert rd.wait_events(1) == [("insert", {"id": 10, "v": "x"})]
    # column list, text format, and upsert by key through the same path
    r = http.get(f"/pipelines/{name}/query", params={"sql": "INSERT INTO t (id, n, v) VALUES (10, 3, 'z')"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain"
    assert "| count |" in r.text and "| 1     |" in r.text
    assert query_json(http, name, "SELECT * FROM t ORDER BY id") == [{"id": 10, "v": "z", "n": 3},
                                                                     {"id": 11, "v": "y", "n": -1}]
    ev = rd.wait_events(3)
    assert sorted(ev[1:], key=lambda e: e[0]) == [("delete", {"id": 10, "v": "x"}), ("insert", {"id": 10, "v": "z"})]


def test_insert_of_a_decimal_literal_into_a_double_column(http, make_pipeline):
    """DuckDB reads 33.3 as a DECIMAL; INSERT assigns it to a DOUBLE column as the number (it was refused:
    "expected a number, found \"33.3\""), in VALUES, a column list and INSERT ... SELECT alike."""
    name = make_pipeline("CREATE TABLE r (id INT NOT NULL PRIMARY KEY, temp DOUBLE, lo REAL, d DECIMAL(6, 2), "
                         "a DOUBLE ARRAY, m MAP<VARCHAR, DOUBLE>);")
    for sql in ("INSERT INTO r VALUES (1, 33.3, -3.75, 1.25, ARRAY[1.5, 2.25], MAP {'x': 0.5})",
                "INSERT INTO r (d, Temp, id) VALUES (2.5, 0.1, 2)", "INSERT INTO r SELECT 3, 0.5 + 1, 2, 7.5, NULL, NULL"):
        r = http.get(f"/pipelines/{name}/query", params={"sql": sql, "format": "json"})
        assert r.status_code == 200, (sql, r.text)
    assert query_json(http, name, "SELECT id, a, m FROM r WHERE id = 1") == [{"id": 1, "a": [1.5, 2.25], "m": {"x": 0.5}}]
    assert query_json(http, name, "SELECT id, temp, lo, d FROM r ORDER BY id", exact=True) == [
        {"id": 1, "temp": Decimal("33.3"), "lo": Decimal("-3.75"), "d": Decimal("1.25")},
        {"id": 2, "temp": Decimal("0.1"), "lo": None, "d": Decimal("2.50")},
        {"id": 3, "temp": Decimal("1.5"), "lo": Decimal("2.0"), "d": Decimal("7.50")}]


def test_query_works_while_paused(http, make_pipeline):
    name = make_pipeline(SQL, initial="paused")
    r = http.get(f"/pipelines/{name}/query", params={"sql": "INSERT INTO t VALUES (1, 'p', 1)", "format": "json"})
    assert r.status_code == 200, r.text
    assert query_json(http, name, "SELECT id, v FROM pos") == [{"id": 1, "v": "p"}]


def test_query_errors(http, make_pipeline):
    name = make_pipeline(SQL)
    q = f"/pipelines/{name}/query"
    for sql in ("SELEC 1", "SELECT * FROM no_such_table", "SELECT no_such_col FROM t",
                "DROP TABLE t", "CREATE TABLE x (a INT)", "DELETE FROM t", "SELECT 1; SELECT 2",
                "INSERT INTO t VALUES ('not an int', 'v', 1)"):
        body = assert_error(http.get(q, params={"sql": sql, "format": "json"}), 400, "AdHocQueryError")
        assert body["message"]
    assert_error(http.get(q, params={"sql": "INSERT INTO nope VALUES (1)"}), 404, "UnknownInputStream")
    # a view's name is told apart, as ingress tells it
    body = assert_error(http.get(q, params={"sql": "INSERT INTO pos VALUES (1, 'x')"}), 404, "UnknownInputStream")
    assert "'pos' is a view, not a table" in body["message"] and body["details"]["reads"] == ["t"], body
    assert_error(http.get(q, params={"format": "json"}), 400, "InvalidParam")
    assert_error(http.get(q, params={"sql": "SELECT 1", "format": "parquetish"}), 400, "InvalidParam")
    # the failed statements changed nothing
    assert query_json(http, name, "SELECT count(*) AS c FROM t") == [{"c": 0}]


def test_query_errors_say_nothing_of_duckdbs_own_objects_and_functions(http, make_pipeline):
    """DuckDB's texts suggested its catalog tables ("Did you mean pg_enum?"), ANY_VALUE (not in Feldera's
    SQL), and listed all 53 overloads of "+": a newcomer read 54 lines."""
    name = make_pipeline(SQL)

    def msg(sql):
        return assert_error(http.get(f"/pipelines/{name}/query", params={"sql": sql, "format": "json"}),
                            400, "AdHocQueryError")["message"]
    assert "pg_" not in msg("SELECT * FROM nope") and "nope" in msg("SELECT * FROM nope")
    m = msg("SELECT v, count(*) FROM t GROUP BY id")
    assert "ANY_VALUE" not in m and "MIN(v)" in m and "GROUP BY" in m, m
    m = msg("SELECT id + v FROM t")
    assert m.count("\n") <= 7 and "more" in m and "+(INTEGER, VARCHAR)" in m, m


def test_stats(http, make_pipeline, egress):
    name = make_pipeline(SQL)
    rd = egress(name, "pos")
    _load(http, name)
    rd.wait_events(2)
    r = http.get(f"/pipelines/{name}/stats")
    assert r.status_code == 200
    st = r.json()
    assert {"global_metrics", "inputs", "outputs"} <= set(st)
    gm = st["global_metrics"]
    assert gm["state"] == "Running"
    assert gm["total_input_records"] == 3
    assert gm["total_processed_records"] == 3
    assert gm["buffered_input_records"] == 0
    assert gm["total_completed_steps"] >= 1
    assert gm["pipeline_complete"] is True
    inp = [i for i in st["inputs"] if i["config"]["stream"] == "t"]
    assert len(inp) == 1 and inp[0]["endpoint_name"].startswith("t.api-ingress-")
    assert inp[0]["metrics"]["total_records"] == 3 and inp[0]["metrics"]["num_parse_errors"] == 0
    outs = [o for o in st["outputs"] if o["config"]["stream"] == "pos"]
    assert len(outs) == 1 and outs[0]["endpoint_name"].startswith("pos.api-")
    m = outs[0]["metrics"]
    assert m["transmitted_records"] == 2
    assert m["total_processed_steps"] >= 1
