"""An ad-hoc query error says where: ``details.line`` and ``details.column`` (1-based), where DuckDB points at one."""

from __future__ import annotations

import pytest

SQL = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR);\n"


@pytest.mark.parametrize("sql, line, column", [
    ("SELECT * FROM nope", 1, 15),
    ("SELECT id,\n  nope\nFROM t", 2, 3),
    ("SELECT *\nFRM t", 2, 5),
])
def test_query_error_position(http, make_pipeline, sql, line, column):
    name = make_pipeline(SQL)
    r = http.get(f"/pipelines/{name}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 400 and r.json()["error_code"] == "AdHocQueryError"
    d = r.json()["details"]
    assert d["sql"] == sql and (d["line"], d["column"]) == (line, column), d
    assert "LINE" not in r.json()["message"]


def test_no_position_when_there_is_no_place(http, make_pipeline):
    name = make_pipeline(SQL)
    r = http.get(f"/pipelines/{name}/query", params={"sql": "SELECT 1; SELECT 2"})
    assert r.status_code == 400 and r.json()["details"] == {"sql": "SELECT 1; SELECT 2"}
