"""The fake upstream (fake_feldera.py) answers as the real engine does: the same requests go to both, over
HTTP, and the answers' shapes are compared (status codes, error codes, JSON keys and value types, egress
chunk fields and line ends). The fake may leave out fields the dashboard does not read, never add or
change one; so the hub tests that still need the fake cannot pass against answers the engine never gives."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from webapp.engine.testing import push_and_wait, wait_status

from .fake_feldera import FakeFeldera, View

SQL = """CREATE TABLE t (k VARCHAR NOT NULL PRIMARY KEY, x VARCHAR);
CREATE MATERIALIZED VIEW v AS SELECT * FROM t;"""
ROWS = [{"k": "1", "x": "a"}, {"k": "2", "x": "b"}]


@pytest.fixture
def both(http, engine):
    """(fake client, real client, pipeline name): the same pipeline and view on each, same rows."""
    name = f"c{uuid.uuid4().hex[:10]}"
    assert http.put(f"/pipelines/{name}", json={"program_code": SQL}).status_code == 201
    fake = FakeFeldera({"v": View(["k", "x"], True, [dict(r) for r in ROWS], [["k"]])}, pipeline=name,
                       status="Stopped")
    with httpx.Client(base_url=fake.serve(), timeout=30) as f, httpx.Client(base_url=engine.url, timeout=30) as r:
        yield fake, f, r, name
    fake.close()
    http.post(f"/pipelines/{name}/stop", params={"force": "true"})
    wait_status(http, name, "Stopped")
    http.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
    http.delete(f"/pipelines/{name}")


def _start(http, fake, name):
    assert http.post(f"/pipelines/{name}/start").status_code == 202
    wait_status(http, name, "Running")
    push_and_wait(http, name, "t", [{"insert": r} for r in ROWS])
    fake.status = "Running"


def shape(v):
    """JSON value -> its shape: objects keep their keys, lists their first element, leaves their type."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return type(v).__name__


def assert_within(fake, real, where="answer"):
    """Every key of the fake's shape is in the engine's, with a value of the same shape."""
    if isinstance(fake, dict):
        assert isinstance(real, dict), f"{where}: the fake sends an object, the engine {real}"
        extra = set(fake) - set(real)
        assert not extra, f"{where}: the fake sends {sorted(extra)}, which the engine does not"
        for k in fake:
            assert_within(fake[k], real[k], f"{where}.{k}")
    elif isinstance(fake, list):
        assert isinstance(real, list), f"{where}: the fake sends a list, the engine {real}"
        if fake and real:
            assert_within(fake[0], real[0], f"{where}[0]")
    else:
        assert fake == real, f"{where}: the fake sends a {fake}, the engine a {real}"


def assert_same_answer(f: httpx.Response, r: httpx.Response, what: str):
    assert f.status_code == r.status_code, (what, f.text, r.text)
    assert f.headers["content-type"].split(";")[0] == r.headers["content-type"].split(";")[0], what
    fb, rb = f.json(), r.json()
    if r.status_code >= 400:  # errors: the envelope exactly, the same code
        assert set(fb) == set(rb) == {"message", "error_code", "details"}, (what, fb, rb)
        assert fb["error_code"] == rb["error_code"], (what, fb, rb)
    assert_within(shape(fb), shape(rb), what)


def _lines(client: httpx.Client, path: str, n: int, **params) -> tuple[int, list[bytes]]:
    """The first ``n`` lines of an egress stream, with their line ends."""
    with client.stream("POST", path, params={"format": "json", **params}) as resp:
        if resp.status_code != 200:
            resp.read()
            return resp.status_code, [resp.content]
        buf = b""
        for part in resp.iter_raw():
            buf += part
            if buf.count(b"\n") >= n:
                break
        return 200, buf.splitlines(keepends=True)[:n]


def test_pipeline_answers_have_the_engines_shape(both, http):
    fake, f, r, name = both
    for path, params in ((f"/v0/pipelines/{name}", {}), (f"/v0/pipelines/{name}", {"selector": "status"})):
        assert_same_answer(f.get(path, params=params), r.get(path, params=params), f"stopped {path} {params}")
    assert_same_answer(f.post(f"/v0/pipelines/{name}/egress/v", params={"format": "json"}),
                       r.post(f"/v0/pipelines/{name}/egress/v", params={"format": "json"}), "egress while stopped")
    _start(http, fake, name)
    for path, params in ((f"/v0/pipelines/{name}", {}), (f"/v0/pipelines/{name}", {"selector": "status"})):
        assert_same_answer(f.get(path, params=params), r.get(path, params=params), f"running {path} {params}")
    # the list holds every pipeline of the engine: compare the entry of this one
    fl = [p for p in f.get("/v0/pipelines").json() if p["name"] == name]
    rl = [p for p in r.get("/v0/pipelines").json() if p["name"] == name]
    assert len(fl) == len(rl) == 1
    assert_within(shape(fl[0]), shape(rl[0]), "GET /v0/pipelines entry")


def test_error_answers_match(both, http):
    fake, f, r, name = both
    _start(http, fake, name)
    for method, path in (("POST", f"/v0/pipelines/{name}/egress/nope"), ("POST", "/v0/pipelines/nope-zz/egress/v"),
                         ("GET", "/v0/pipelines/nope-zz")):
        assert_same_answer(f.request(method, path, params={"format": "json"}),
                           r.request(method, path, params={"format": "json"}), f"{method} {path}")


def test_egress_chunks_have_the_engines_fields(both, http):
    fake, f, r, name = both
    _start(http, fake, name)
    path = f"/v0/pipelines/{name}/egress/v"
    fs, flines = _lines(f, path, 2, send_snapshot="true")
    rs, rlines = _lines(r, path, 2, send_snapshot="true")
    assert fs == rs == 200
    # the opening chunk, then the snapshot: same fields, same value types, same line ends
    for what, fl, rl in zip(("opening chunk", "snapshot chunk"), flines, rlines, strict=True):
        assert fl.endswith(b"\r\n") and rl.endswith(b"\r\n"), (fl, rl)
        fc, rc = json.loads(fl), json.loads(rl)
        assert set(fc) == set(rc), (what, fc, rc)
        assert_within(shape(fc), shape(rc), what)

    def events(line):
        return sorted(json.dumps(ev, sort_keys=True) for ev in json.loads(line)["json_data"])
    assert events(flines[1]) == events(rlines[1])


def test_a_steps_chunk_has_the_engines_fields(both, http):
    fake, f, r, name = both
    _start(http, fake, name)
    path = f"/v0/pipelines/{name}/egress/v"
    change = [{"insert": {"k": "3", "x": "c"}}]
    chunks = {}
    for who, client in (("fake", f), ("engine", r)):
        with client.stream("POST", path, params={"format": "json"}) as resp:
            assert resp.status_code == 200
            lines = resp.iter_lines()
            opening = json.loads(next(lines))
            if who == "fake":
                fake.step("v", change)
            else:
                push_and_wait(http, name, "t", change)
            chunks[who] = (opening, json.loads(next(line for line in lines if line.strip())))
    for i, what in enumerate(("opening chunk", "step chunk")):
        fc, rc = chunks["fake"][i], chunks["engine"][i]
        assert set(fc) == set(rc) and shape(fc) == shape(rc), (what, fc, rc)
    assert chunks["fake"][1]["json_data"] == chunks["engine"][1]["json_data"] == change
