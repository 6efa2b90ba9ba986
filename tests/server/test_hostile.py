"""A hostile-input corpus: each answered with a 4xx error envelope, the good records kept, the server still serving."""

import pytest

from webapp.engine.testing import wait_processed, wait_status

SQL = """
CREATE TABLE h (id INT NOT NULL, amount DECIMAL(6, 2), at TIMESTAMP, name VARCHAR, tags INT ARRAY);
CREATE MATERIALIZED VIEW hv AS SELECT * FROM h;
"""

GOOD = b'{"id": 1, "amount": "1.50", "at": "2026-01-01 00:00:00", "name": "ok", "tags": [1]}'

CORPUS = [
    ("malformed JSON", b'{"id": 2, "amount": ', "json", "ParseErrors"),
    ("unterminated string", b'{"id": 2, "name": "abc', "json", "ParseErrors"),
    ("wrong type", b'{"id": "two"}', "json", "ParseErrors"),
    ("NULL in NOT NULL", b'{"id": null, "name": "x"}', "json", "ParseErrors"),
    ("missing NOT NULL", b'{"name": "x"}', "json", "ParseErrors"),
    ("decimal overflow", b'{"id": 3, "amount": 123456789.5}', "json", "ParseErrors"),
    ("integer overflow", b'{"id": 99999999999}', "json", "ParseErrors"),
    ("bad timestamp", b'{"id": 4, "at": "yesterday"}', "json", "ParseErrors"),
    ("bad month", b'{"id": 4, "at": "2026-13-01 00:00:00"}', "json", "ParseErrors"),
    ("invalid UTF-8", b'{"id": 5, "name": "\xff\xfe"}', "json", "ParseErrors"),
    ("deep nesting", b'{"id": 6, "tags": ' + b"[" * 5000 + b"]" * 5000 + b"}", "json", "ParseErrors"),
    ("array for a row", b'[1, 2, 3, 4, 5, 6, 7]', "json", "ParseErrors"),
    ("unknown column", b'{"id": 7, "nope": 1}', "json", "ParseErrors"),
    ("a bare string", b'"hello"', "json", "ParseErrors"),
    ("CSV wrong type", b'x,1.0,,,\n', "csv", "ParseErrors"),
    ("CSV too many fields", b'8,1.0,,,,,,,\n', "csv", "ParseErrors"),
    ("CSV invalid UTF-8", b'9,1.0,,\xff,\n', "csv", "ParseErrors"),
    ("CSV stray quote", b'10,1.0,,ab"c,\n', "csv", "ParseErrors"),
]


@pytest.fixture(scope="module")
def hostile(engine):
    c = engine.client()
    c.put("/pipelines/hostile", json={"program_code": SQL})
    c.post("/pipelines/hostile/start")
    wait_status(c, "hostile", "Running")
    yield c
    c.post("/pipelines/hostile/stop?force=true")


def _ids(c):
    r = c.get("/pipelines/hostile/query", params={"sql": "SELECT id FROM h", "format": "json"})
    import orjson
    return sorted(orjson.loads(x)["id"] for x in r.text.splitlines() if x.strip())


@pytest.mark.parametrize("label,bad,fmt,code", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_record_is_refused_and_the_good_one_kept(hostile, label, bad, fmt, code):
    c = hostile
    good_id = 1000 + [x[0] for x in CORPUS].index(label)
    good = GOOD.replace(b'"id": 1', b'"id": %d' % good_id) if fmt == "json" else b"%d,2.50,,good,\n" % good_id
    body = (good if fmt == "csv" else good + b"\n") + bad + b"\n"
    r = c.post("/pipelines/hostile/ingress/h", params={"format": fmt, "update_format": "raw"}, content=body)
    assert r.status_code == 400, (label, r.text)
    env = r.json()
    assert set(env) == {"message", "error_code", "details"} and env["error_code"] == code
    assert env["details"]["num_errors"] >= 1 and env["details"]["errors"][0]["line"] == 2
    wait_processed(c, "hostile", env["details"]["token"])
    assert good_id in _ids(c)
    assert c.get("/config").status_code == 200  # still serving


@pytest.mark.parametrize("method,path,status,code", [
    ("POST", "/pipelines/nope/ingress/h?format=json", 404, "UnknownPipelineName"),
    ("POST", "/pipelines/hostile/ingress/nope?format=json", 404, "UnknownInputStream"),
    ("POST", "/pipelines/hostile/egress/nope?format=json", 404, "UnknownOutputStream"),
    ("POST", "/pipelines/hostile/ingress/h?format=xml", 400, "UnknownInputFormat"),
    ("POST", "/pipelines/hostile/egress/hv?format=xml", 400, "InvalidParam"),
    ("GET", "/pipelines/hostile/query?sql=SELECT%201&format=xml", 400, "InvalidParam"),
    ("POST", "/pipelines/hostile/ingress/h?format=json&force=yes", 400, "InvalidParam"),
    ("POST", "/pipelines/hostile/ingress/h?format=json&update_format=snowflake", 400, "InputFormatNotSupported"),
    ("GET", "/pipelines/hostile/query?sql=SELEC", 400, "AdHocQueryError"),
    ("GET", "/pipelines/hostile/completion_status?token=!!!", 400, "InvalidCompletionToken"),
    ("PUT", "/pipelines/bad%20name", 400, "NameDoesNotMatchPattern"),
])
def test_unknown_names_and_formats(hostile, method, path, status, code):
    r = hostile.request(method, path, content=b'{"id": 1}')
    assert r.status_code == status, r.text
    assert r.json()["error_code"] == code and set(r.json()) == {"message", "error_code", "details"}
