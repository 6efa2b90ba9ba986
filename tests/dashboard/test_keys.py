"""The key existence query of data entry (``webapp/dashboard/keys.py``): literals, identifiers, splitting."""

from __future__ import annotations

from urllib.parse import quote_plus

from webapp.dashboard.keys import KEY_QUERY_CHARS, existence_queries, key_of
from webapp.dashboard.validate import rule_for


def _key(name, type_, **kw):
    return dict(rule_for(name, {"type": type_, "nullable": False, **kw}, key=True))


def test_values_are_literals_and_names_are_quoted():
    keys = [_key("id", "BIGINT"), _key('we"ird', "VARCHAR"), _key("d", "DECIMAL", precision=10, scale=2),
            _key("ok", "BOOLEAN"), _key("at", "TIMESTAMP")]
    rows = [{"id": 1, 'we"ird': "O'Brien", "d": "-1.5", "ok": True, "at": "2024-01-31 10:00"}]
    assert existence_queries('My "T"', keys, rows) == [(
        'SELECT "id", "we""ird", "d", "ok", "at" FROM "My ""T""" WHERE ("id", "we""ird", "d", "ok", "at") IN '
        "((1, CAST('O''Brien' AS VARCHAR), -1.5, TRUE, CAST('2024-01-31 10:00' AS TIMESTAMP)))")]


def test_many_keys_go_in_several_queries_that_fit_a_url():
    keys = [_key("name", "VARCHAR")]
    rows = [{"name": f"key number {i}, with spaces"} for i in range(2000)]
    queries = existence_queries("t", keys, rows)
    assert len(queries) > 1 and all(len(quote_plus(q)) <= KEY_QUERY_CHARS for q in queries)
    assert sum(q.count("CAST(") for q in queries) == 2000
    assert len(existence_queries("t", keys, rows + rows)) == len(queries)  # each key asked once


def test_keys_as_sent_and_as_answered_compare_equal():
    keys = [_key("d", "DECIMAL", precision=10, scale=2), _key("at", "TIMESTAMP")]
    assert key_of(keys, {"d": "1.5", "at": "2024-01-31 10:00"}) == key_of(keys, {"D": "1.50", "at": "2024-01-31T10:00:00"})
