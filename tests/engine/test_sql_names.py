"""Feldera's identifiers when a program is compiled.

Feldera's SQL reference, "Identifiers": unquoted identifiers "are automatically converted to all-lower case. So
emp, EMP, and eMp are all converted to the same lowercase identifier emp"; quoted ones "are left unchanged", and
"the identifiers "emp" and "EMP" are thus different". The schema is reported as ``program_info.schema`` is in
Feldera (``{name, case_sensitive, fields: [{name, case_sensitive, columntype}]}``).
"""

from __future__ import annotations

import duckdb
import pytest

from webapp.engine.sql import SqlError, compile_program

PROGRAM = """CREATE TABLE "EMP" ("Id" INT, id INT);
CREATE TABLE emp (id INT);
CREATE VIEW v AS SELECT id FROM EMP;
CREATE VIEW "V" AS SELECT "Id", id FROM "EMP";
CREATE VIEW w AS SELECT * FROM eMp UNION ALL SELECT id FROM "emp";
"""


def _names(rels: list[dict]) -> list:
    return [(r["name"], r["case_sensitive"], [(f["name"], f["case_sensitive"]) for f in r["fields"]]) for r in rels]


def test_quoted_and_unquoted_names_are_different_relations_and_columns():
    p = compile_program(PROGRAM)
    s = p.schema_json()
    assert _names(s["inputs"]) == [("EMP", True, [("Id", True), ("id", False)]), ("emp", False, [("id", False)])]
    assert _names(s["outputs"]) == [("v", False, [("id", False)]), ("V", True, [("Id", True), ("id", False)]),
                                    ("w", False, [("id", False)])]
    # Unquoted EMP and eMp, and quoted "emp", all name the table emp: each view reads the relation it names.
    assert [sorted(v.depends_on) for v in p.views] == [["emp"], ["EMP"], ["emp"]]
    con = duckdb.connect()
    for t in p.tables:
        con.execute(p.table_ddl(t))
    for v in p.views:
        con.execute(p.view_ddl(v))
    con.execute(f'INSERT INTO "{p.tables[0].internal}" VALUES (1, 2)')
    con.execute(f'INSERT INTO "{p.tables[1].internal}" VALUES (3)')
    assert [con.execute(f'SELECT * FROM "{v.internal}"').fetchall() for v in p.views] == [[(3,)], [(1, 2)],
                                                                                           [(3,), (3,)]]


def test_a_url_name_matches_as_feldera_matches_it():
    p = compile_program(PROGRAM)
    # A quoted name in a URL matches exactly; an unquoted one is folded to lower case.
    assert p.table('"EMP"').name == "EMP" and p.table("EMP").name == "emp" and p.table('"emp"').name == "emp"
    assert p.output('"V"').name == "V" and p.output("V").name == "v"
    assert p.table('"Emp"') is None


@pytest.mark.parametrize("code, message", [
    ('CREATE TABLE emp (id INT);\nCREATE VIEW v AS SELECT id FROM "EMP";', "Object 'EMP' not found"),
    ('CREATE TABLE emp (id INT);\nCREATE VIEW v AS SELECT "ID" FROM emp;', "Column 'ID' not found in any table"),
    ('CREATE TABLE emp (id INT);\nCREATE TABLE EMP (id INT);', "'emp' is declared twice"),
])
def test_errors_use_the_users_names(code, message):
    with pytest.raises(SqlError) as e:
        compile_program(code)
    assert message in e.value.message and e.value.line == 2, e.value.message


def test_a_quoted_column_is_typed_like_any_other():
    # Typing reads the schema under the internal names: "Id" / 2 is an integer division (Calcite's), 7 / 2 = 3.
    p = compile_program('CREATE TABLE "EMP" ("Id" INT);\nCREATE VIEW v AS SELECT "Id" / 2 AS h FROM "EMP";')
    con = duckdb.connect()
    con.execute(p.table_ddl(p.tables[0]))
    con.execute(f'INSERT INTO "{p.tables[0].internal}" VALUES (7)')
    assert con.execute(p.views[0].sql).fetchall() == [(3,)]
    assert p.views[0].columns[0].type.type == "INTEGER"
