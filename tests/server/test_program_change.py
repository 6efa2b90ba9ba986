"""Changing a stopped pipeline's program keeps the tables whose definition did not change, or that only gained
NULL-able columns, and says which."""

import orjson

from webapp.engine.testing import EngineProcess, wait_processed, wait_status, wait_until

V1 = """CREATE TABLE keep (id INT NOT NULL PRIMARY KEY, v VARCHAR);
CREATE TABLE change (id INT, v VARCHAR);
CREATE MATERIALIZED VIEW kv AS SELECT * FROM keep;"""
V2 = """CREATE TABLE keep (id INT NOT NULL PRIMARY KEY, v VARCHAR);
CREATE TABLE change (id INT, v INT);
CREATE TABLE fresh (x INT);
CREATE MATERIALIZED VIEW kv AS SELECT id, v FROM keep WHERE id > 0;"""


def _rows(c, sql):
    r = c.get("/pipelines/pc/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    return [orjson.loads(x) for x in r.text.splitlines() if x.strip()]


def test_unchanged_tables_keep_their_data_across_edits_and_restarts(tmp_path):
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        c.put("/pipelines/pc", json={"program_code": V1})
        c.post("/pipelines/pc/start")
        wait_status(c, "pc", "Running")
        for t in ("keep", "change"):
            r = c.post(f"/pipelines/pc/ingress/{t}?format=json&update_format=raw", content=b'{"id":1,"v":"a"}\n{"id":2,"v":"b"}')
            assert r.status_code == 200
            wait_processed(c, "pc", r.json()["token"])
        assert c.put("/pipelines/pc", json={"program_code": V2}).json()["error_code"] == "UpdateRestrictedToStopped"
        c.post("/pipelines/pc/stop?force=true")
        wait_status(c, "pc", "Stopped")
        r = c.put("/pipelines/pc", json={"program_code": V2})
        assert r.status_code == 200
        assert c.get("/pipelines/pc").json()["program_info"]["sluice"]["kept_tables"] == ["keep"]
        c.post("/pipelines/pc/start")
        wait_status(c, "pc", "Running")
        assert sorted(x["id"] for x in _rows(c, "SELECT id FROM keep")) == [1, 2]
        assert _rows(c, "SELECT * FROM change") == []
        assert sorted(x["id"] for x in _rows(c, "SELECT id FROM kv")) == [1, 2]
        eng.kill()
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        wait_status(c, "pc", "Running")
        assert sorted(x["id"] for x in _rows(c, "SELECT id FROM keep")) == [1, 2]
        assert _rows(c, "SELECT * FROM change") == []  # old log records of the changed table are not replayed


GEN = """ WITH ('connectors' = '[{"transport": {"name": "datagen", "config": {"plan": [{"limit": 3}]}}}]')"""
GROW1 = """CREATE TABLE grow (id INT NOT NULL PRIMARY KEY, v VARCHAR);
CREATE TABLE strict (id INT NOT NULL PRIMARY KEY, v VARCHAR);
CREATE TABLE narrow (id INT NOT NULL PRIMARY KEY, v VARCHAR, w VARCHAR);
CREATE TABLE rekey (id INT NOT NULL PRIMARY KEY, v VARCHAR NOT NULL);
CREATE TABLE quoted ("Id" INT NOT NULL, "ID" INT NOT NULL, v VARCHAR, PRIMARY KEY ("Id"));
CREATE TABLE wide (id INT NOT NULL PRIMARY KEY, v VARCHAR NOT NULL, d DECIMAL(10, 2), r REAL);
CREATE TABLE tight (id BIGINT NOT NULL PRIMARY KEY, v VARCHAR, d DECIMAL(10, 2));
CREATE TABLE gen (id INT)""" + GEN + ";"
GROW2 = """CREATE TABLE grow (id INT NOT NULL PRIMARY KEY, note VARCHAR, v VARCHAR, n INT);
CREATE TABLE strict (id INT NOT NULL PRIMARY KEY, v VARCHAR, m INT NOT NULL);
CREATE TABLE narrow (id INT NOT NULL PRIMARY KEY, v VARCHAR);
CREATE TABLE rekey (id INT NOT NULL, v VARCHAR NOT NULL, PRIMARY KEY (id, v));
CREATE TABLE quoted ("Id" INT NOT NULL, "ID" INT NOT NULL, v VARCHAR, PRIMARY KEY ("ID"));
CREATE TABLE wide (id BIGINT NOT NULL PRIMARY KEY, v VARCHAR, d DECIMAL(12, 3), r DOUBLE);
CREATE TABLE tight (id INT NOT NULL PRIMARY KEY, v VARCHAR, d DECIMAL(10, 3));
CREATE TABLE gen (id INT, extra INT)""" + GEN + """;
CREATE MATERIALIZED VIEW g AS SELECT id, v, n FROM grow;"""


def test_a_table_that_only_gains_null_able_columns_or_widens_keeps_its_rows(tmp_path):
    """Its rows read NULL in the new columns (wherever they are declared), and so does a table whose columns
    only widen (a wider integer or DECIMAL, REAL to DOUBLE, NOT NULL dropped); a new NOT NULL column, a
    narrower type (INT from BIGINT, a DECIMAL with fewer integer digits), a column dropped or another key
    ("ID" is not "Id") start the table empty (its old rows may not fit), and so does a
    table whose connector starts over (it would make its rows again)."""
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        c.put("/pipelines/pc", json={"program_code": GROW1})
        c.post("/pipelines/pc/start")
        wait_status(c, "pc", "Running")
        for t in ("grow", "strict", "narrow", "rekey"):
            r = c.post(f"/pipelines/pc/ingress/{t}?format=json&update_format=raw",
                       content=b'{"id":1,"v":"a"}\n{"id":2,"v":"b"}')
            assert r.status_code == 200, r.text
            wait_processed(c, "pc", r.json()["token"])
        for t in ("wide", "tight"):
            r = c.post(f"/pipelines/pc/ingress/{t}?format=json&update_format=raw",
                       content=b'{"id":1,"v":"a","d":"12345678.25","r":0.5}' if t == "wide" else b'{"id":1,"v":"a"}')
            assert r.status_code == 200, r.text
            wait_processed(c, "pc", r.json()["token"])
        r = c.post('/pipelines/pc/ingress/quoted?format=json&update_format=raw',
                   content=b'{"Id":1,"ID":1,"v":"a"}\n{"Id":2,"ID":1,"v":"b"}')
        wait_processed(c, "pc", r.json()["token"])
        wait_until(lambda: _rows(c, "SELECT count(*) AS n FROM gen") == [{"n": 3}], 30, "datagen's 3 rows")
        c.post("/pipelines/pc/stop?force=true")
        wait_status(c, "pc", "Stopped")
        assert c.put("/pipelines/pc", json={"program_code": GROW2}).status_code == 200
        assert c.get("/pipelines/pc").json()["program_info"]["sluice"]["kept_tables"] == ["grow", "wide"]
        c.post("/pipelines/pc/start")
        wait_status(c, "pc", "Running")
        assert _rows(c, "SELECT * FROM grow ORDER BY id") == [{"id": 1, "note": None, "v": "a", "n": None},
                                                              {"id": 2, "note": None, "v": "b", "n": None}]
        assert _rows(c, "SELECT * FROM g ORDER BY id") == [{"id": 1, "v": "a", "n": None}, {"id": 2, "v": "b", "n": None}]
        assert _rows(c, "SELECT * FROM wide") == [{"id": 1, "v": "a", "d": 12345678.25, "r": 0.5}]
        for t in ("strict", "narrow", "rekey", "quoted", "tight"):
            assert _rows(c, f"SELECT * FROM {t}") == [], t
        wait_until(lambda: c.get("/pipelines/pc/stats").json()["global_metrics"]["pipeline_complete"], 30,
                   "the datagen connector to end its input")
        assert _rows(c, "SELECT count(*) AS n FROM gen") == [{"n": 3}]  # made again, not kept and made again
        r = c.post("/pipelines/pc/ingress/grow?format=json&update_format=raw",
                   content=b'{"id":2,"note":"x","v":"c","n":5}')
        wait_processed(c, "pc", r.json()["token"])
        eng.kill()
    with EngineProcess(tmp_path) as eng:  # the carried rows are in the checkpoint the change wrote
        c = eng.client()
        wait_status(c, "pc", "Running")
        assert _rows(c, "SELECT * FROM grow ORDER BY id") == [{"id": 1, "note": None, "v": "a", "n": None},
                                                              {"id": 2, "note": "x", "v": "c", "n": 5}]


def test_a_program_with_errors_keeps_the_stored_data_until_one_compiles(tmp_path):
    with EngineProcess(tmp_path) as eng:
        c = eng.client()
        c.put("/pipelines/pc", json={"program_code": V1})
        c.post("/pipelines/pc/start")
        wait_status(c, "pc", "Running")
        r = c.post("/pipelines/pc/ingress/keep?format=json&update_format=raw", content=b'{"id":1,"v":"a"}')
        token = r.json()["token"]
        wait_processed(c, "pc", token)
        c.post("/pipelines/pc/stop?force=true")
        wait_status(c, "pc", "Stopped")
        bad = c.put("/pipelines/pc", json={"program_code": V1 + "\nCREATE VIEW broken AS SELECT nope FROM keep;"})
        assert bad.status_code == 200
        bad = c.get("/pipelines/pc").json()
        assert bad["program_status"] == "SqlError" and bad["storage_status"] == "InUse"
        c.put("/pipelines/pc", json={"program_code": V2})
        r = c.get("/pipelines/pc")
        assert r.json()["program_status"] == "Success" and r.json()["program_info"]["sluice"]["kept_tables"] == ["keep"]
        c.post("/pipelines/pc/start")
        wait_status(c, "pc", "Running")
        assert [x["id"] for x in _rows(c, "SELECT id FROM keep")] == [1]
        assert c.get("/pipelines/pc/completion_status", params={"token": token}).json()["status"] == "complete"


def test_engine_program_flag_prints_compile_errors_by_line_and_column(tmp_path):
    """``sluice engine --program bad.sql --pipeline p`` says each error as a user reads it (where it was a
    raw dict), and what happens next: the engine serves on, the pipeline stays in SqlError until fixed."""
    program = tmp_path / "bad.sql"
    program.write_text("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT);\n"
                       "CREATE MATERIALIZED VIEW w AS SELECT id, vv FROM t;\n")
    with EngineProcess(tmp_path / "data", "--program", str(program), "--pipeline", "p1") as eng:
        said = eng.wait_for_output(r"program .*bad\.sql has errors: (?s:.*?)program editor\)\.", timeout=30).group(0)
        assert "line 2, column 42: Error in SQL statement: Column 'vv' not found in any table" in said, said
        assert "2|CREATE MATERIALIZED VIEW w AS SELECT id, vv FROM t;" in said, said
        assert "sql_compilation" not in said and "{" not in said, said
        assert "pipeline 'p1' stays stopped in SqlError until its program is fixed" in said, said
        p1 = eng.client().get("/pipelines/p1").json()
        assert (p1["program_status"], p1["deployment_status"]) == ("SqlError", "Stopped")
