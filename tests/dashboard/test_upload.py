"""File upload through the dashboard (``webapp/dashboard/upload.py``): a real engine, the dashboard under
gunicorn, parts posted with httpx the way ``static/js/upload.js`` posts them."""

from __future__ import annotations

import html
import json
import re
import socket
import time
from contextlib import closing

import httpx
import pytest

from webapp.dashboard import auth
from webapp.dashboard.ratelimit import IngressLimiter
from webapp.dashboard.testing import DashboardProcess
from webapp.dashboard.upload import file_errors, part_answer
from webapp.engine.testing import push_and_wait, wait_processed, wait_until

from . import support
from .conftest import TEST_SETTINGS
from .support import csrf_client

SQL = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, note VARCHAR, n INT) WITH ('materialized' = 'true');\n" \
      "CREATE MATERIALIZED VIEW v AS SELECT id, n FROM t;\n"
PASSWORDS = {"vera": "viewer-pass-1", "ed": "editor-pass-2", "eddie": "editor-pass-3", "edna": "editor-pass-4"}


def post_part(c: httpx.Client, pipeline: str, body, **params) -> httpx.Response:
    params.setdefault("format", "csv")
    return c.post(f"/api/pipelines/{pipeline}/tables/t/upload", params=params, content=body)


def rows(http, pipeline: str) -> dict[int, tuple]:
    r = http.get(f"/pipelines/{pipeline}/query", params={"sql": "SELECT id, note, n FROM t", "format": "json"})
    assert r.status_code == 200, r.text
    return {d["id"]: (d["note"], d["n"]) for d in map(json.loads, r.text.splitlines()) if d}


def rows_after_sentinel(http, pipeline: str) -> dict[int, tuple]:
    """The table's rows once a sentinel record pushed after everything before it is processed (so a
    record that was wrongly passed on would be there), without the sentinel."""
    push_and_wait(http, pipeline, "t", [{"insert": {"id": -1, "note": "sentinel", "n": 0}}])
    got = rows(http, pipeline)
    assert got.pop(-1) == ("sentinel", 0)
    return got


def csv_field(v) -> str:
    if v is None:
        return ""
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n\r') else s


def records(data: list[tuple]) -> list[str]:
    """One CSV record per row, each ending in a newline (quoted fields may hold more)."""
    return [",".join(csv_field(v) for v in r) + "\n" for r in data]


def test_limiter_refuses_while_a_client_is_in_debt():
    lim = IngressLimiter(1000)
    assert lim.retry_after("a") == 0
    lim.charge("a", 3000)  # 1000 saved up, 2000 in debt: 2 s to pay off
    assert 1.9 < lim.retry_after("a") <= 2.0
    assert lim.retry_after("b") == 0  # per client
    off = IngressLimiter(0)
    off.charge("a", 10 ** 12)
    assert off.retry_after("a") == 0


def test_engine_errors_are_placed_at_file_rows_and_lines():
    engine = {"error_code": "ParseErrors", "details": {"num_errors": 2, "num_records_kept": 5, "token": "tok",
              "errors": [{"event_number": 1, "line": 1, "description": "a"},
                         {"event_number": 4, "line": 9, "description": "b", "field": "n"}]}}
    body, status = part_answer(400, engine, {"part": 2, "first_row": 101, "first_line": 120})
    assert status == 200 and body["token"] == "tok" and body["num_errors"] == 2 and body["num_records_kept"] == 5
    assert [(e["row"], e["line"]) for e in body["errors"]] == [(101, 120), (104, 128)]
    assert [(e["row"], e["line"]) for e in file_errors(engine, 7, None)] == [(7, None), (10, None)]
    body, status = part_answer(503, {"message": "paused", "error_code": "PipelinePaused", "details": {}},
                               {"part": 2, "first_row": 101, "first_line": None})
    assert status == 503 and body["message"] == "part 2 (from file row 101): paused"


@pytest.fixture
def pipeline(make_pipeline):
    return make_pipeline(SQL)


@pytest.fixture(scope="module")
def client(dashboard):
    with closing(csrf_client(dashboard.url)) as c:
        yield c


def test_csv_with_quoted_newlines_in_parts_cut_at_record_boundaries(client, http, pipeline):
    data = [(i, f"line one of {i}\nline two, with \"quotes\"" if i % 3 == 0 else f"note {i}", i) for i in range(1, 41)]
    bad_at = 29  # 0-based record index: its n is not an integer
    recs = records(data)
    recs[bad_at] = f'{data[bad_at][0]},"multi\nline",oops\n'
    cut = 17  # the second part starts at the 18th record, which follows several multi-line ones
    # the file's header line ("id,note,n") is not sent: its columns are the table's, in order
    part0, part1 = "".join(recs[:cut]).encode(), "".join(recs[cut:]).encode()
    lines_before = 1 + "".join(recs[:cut]).count("\n")  # the header is line 1
    r0 = post_part(client, pipeline, part0, part=0, first_row=2, first_line=2)
    assert r0.status_code == 200, r0.text
    assert r0.json()["num_errors"] == 0 and r0.json()["token"]
    r1 = post_part(client, pipeline, part1, part=1, first_row=2 + cut, first_line=lines_before + 1)
    assert r1.status_code == 200, r1.text
    body = r1.json()
    assert body["num_errors"] == 1
    err = body["errors"][0]
    # the header is row 1, so the k-th record (0-based) is row k + 2; its line counts the newlines in quotes
    assert err["row"] == bad_at + 2
    assert err["line"] == 2 + "".join(recs[:bad_at]).count("\n")
    assert err["field"] == "n" and "oops" in err["description"]
    wait_processed(http, pipeline, body["token"])
    got = rows(http, pipeline)
    assert len(got) == 39
    assert got[3] == ("line one of 3\nline two, with \"quotes\"", 3)
    assert data[bad_at][0] not in got


def test_three_bad_rows_are_listed_by_file_row_and_the_others_kept(client, http, pipeline):
    n = 3000
    data = [(i, f"r{i}", i) for i in range(n)]
    recs = records(data)
    bad = {417: "x", 1500: "1.5.1", 2999: "2147483648"}  # 0-based record index -> a bad n
    for i, v in bad.items():
        recs[i] = f"{i},r{i},{v}\n"
    parts, size = [], 1000
    for start in range(0, n, size):
        parts.append((start, "".join(recs[start:start + size]).encode()))
    listed, tokens = [], []
    for k, (start, body) in enumerate(parts):
        # no header: row k is record k (1-based); the middle part goes chunked (no Content-Length)
        content = iter([body[:7000], body[7000:]]) if k == 1 else body
        r = post_part(client, pipeline, content, part=k, first_row=start + 1, first_line=start + 1)
        assert r.status_code == 200, r.text
        listed += r.json()["errors"]
        tokens.append(r.json()["token"])
    assert sorted((e["row"], e["line"]) for e in listed) == [(i + 1, i + 1) for i in sorted(bad)]
    for t in tokens:
        wait_processed(http, pipeline, t)
    got = rows(http, pipeline)
    assert len(got) == n - 3 and not set(bad) & set(got)


def test_json_parts_and_insert_delete_documents(client, http, pipeline):
    docs = [{"insert": {"id": i, "note": "j", "n": i}} for i in range(10)]
    docs[4] = {"insert": {"id": 4, "note": "j", "n": "four"}}
    docs.append({"delete": {"id": 0}})
    body = "\n".join(json.dumps(d) for d in docs).encode()
    r = post_part(client, pipeline, body, format="json", update_format="insert_delete", part=3, first_row=101)
    assert r.status_code == 200, r.text
    assert [(e["row"], e["line"]) for e in r.json()["errors"]] == [(105, None)]
    wait_processed(http, pipeline, r.json()["token"])
    assert sorted(rows(http, pipeline)) == [1, 2, 3, 5, 6, 7, 8, 9]
    st = client.get(f"/api/pipelines/{pipeline}/tables/t/upload/status", params={"token": r.json()["token"]})
    assert st.status_code == 200 and st.json()["status"] == "complete"


def test_wrong_targets_and_parameters_are_refused_with_the_envelope(client, pipeline):
    r = client.post(f"/api/pipelines/{pipeline}/tables/nope/upload", params={"first_row": 1}, content=b"1,a,1\n")
    assert r.status_code == 404 and set(r.json()) == {"message", "error_code", "details"}
    r = client.post(f"/api/pipelines/{pipeline}/tables/v/upload", params={"first_row": 1}, content=b"1,1\n")
    assert r.status_code == 400 and r.json()["error_code"] == "NotATable"
    r = post_part(client, pipeline, b"1,a,1\n")  # no first_row
    assert r.status_code == 400 and r.json()["details"] == {"parameter": "first_row"}
    r = post_part(client, pipeline, b"1,a,1\n", first_row=1, format="xml")
    assert r.status_code == 400 and r.json()["error_code"] == "UnknownInputFormat"


def test_too_large_content_length_is_refused_before_the_body_is_read(dashboard, client, pipeline):
    host, port = dashboard.url.split("//")[1].rsplit(":", 1)
    too_big = (4 << 30) + 1
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall((f"POST /api/pipelines/{pipeline}/tables/t/upload?first_row=1 HTTP/1.1\r\n"
                   f"Host: {host}:{port}\r\nContent-Type: text/csv\r\nContent-Length: {too_big}\r\n"
                   f"Cookie: sluice_csrf={client.cookies['sluice_csrf']}\r\n"
                   f"X-CSRF-Token: {client.cookies['sluice_csrf']}\r\n\r\n1,a,1\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)  # answered although the body never comes: times out otherwise
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer
    env = json.loads(body)
    assert env["error_code"] == "PayloadTooLarge"
    assert env["details"] == {"limit": 4 << 30, "content_length": too_big}
    assert "UPLOAD_MAX_BYTES" in env["message"]


def test_a_part_cut_short_stores_nothing(dashboard, client, http, pipeline):
    host, port = dashboard.url.split("//")[1].rsplit(":", 1)
    body = "".join(records([(i, "x", i) for i in range(2000)])).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall((f"POST /api/pipelines/{pipeline}/tables/t/upload?first_row=1 HTTP/1.1\r\n"
                   f"Host: {host}:{port}\r\nContent-Type: text/csv\r\nContent-Length: {len(body) * 2}\r\n"
                   f"Cookie: sluice_csrf={client.cookies['sluice_csrf']}\r\n"
                   f"X-CSRF-Token: {client.cookies['sluice_csrf']}\r\n\r\n").encode() + body)
        s.shutdown(socket.SHUT_WR)  # the browser went away halfway through the part
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error_code"] == "UploadCut"
    assert rows_after_sentinel(http, pipeline) == {}


# -- a dashboard with users, a small upload limit and a small rate -------------------------------------

def sign_in(url: str, name: str) -> httpx.Client:
    return support.sign_in(url, name, PASSWORDS[name])


@pytest.fixture(scope="module")
def strict(engine, tmp_path_factory):
    users = tmp_path_factory.mktemp("upload-auth") / "users.json"
    for name, role in (("vera", "viewer"), ("ed", "editor"), ("eddie", "editor"), ("edna", "editor")):  # `sluice user add` itself is tested in test_auth
        auth.add_user(users, name, role, PASSWORDS[name])
    settings = TEST_SETTINGS | {"UPLOAD_MAX_BYTES": 1 << 20, "INGRESS_RATE": 20_000}
    with DashboardProcess(engine.url, "--users-file", str(users), "--proxy-fix", settings=settings) as d:
        yield d


def test_viewer_may_not_upload(strict, http, pipeline):
    with closing(sign_in(strict.url, "vera")) as c:
        r = post_part(c, pipeline, b"1,a,1\n", first_row=1)
        assert r.status_code == 403 and r.json()["error_code"] == "Forbidden"
    with httpx.Client(base_url=strict.url) as anonymous:
        assert post_part(anonymous, pipeline, b"1,a,1\n", first_row=1).status_code in (401, 403)
    assert rows_after_sentinel(http, pipeline) == {}


def test_rate_limit_answers_429_with_retry_after(strict, http, pipeline):
    with closing(sign_in(strict.url, "ed")) as c:
        body = "".join(records([(i, "x" * 40, i) for i in range(1000)])).encode()  # about 50 KB: 2.5 s of rate
        r = post_part(c, pipeline, body, first_row=1)
        assert r.status_code == 200, r.text
        r = post_part(c, pipeline, b"5000,a,1\n", first_row=1001)
        assert r.status_code == 429, r.text
        assert set(r.json()) == {"message", "error_code", "details"} and r.json()["error_code"] == "TooManyRequests"
        assert 1 <= int(r.headers["Retry-After"]) <= 3
        # Deliberate idle time: what is tested is that the Retry-After the answer named is enough.
        time.sleep(int(r.headers["Retry-After"]) + 0.2)
        r = post_part(c, pipeline, b"5000,a,1\n", first_row=1001)
        assert r.status_code == 200, r.text
        wait_processed(http, pipeline, r.json()["token"])
    assert len(rows(http, pipeline)) == 1001


def test_data_entry_and_uploads_share_the_rate(strict, http, pipeline):
    with closing(sign_in(strict.url, "edna")) as c:
        big = [{"id": i, "note": "y" * 40, "n": i} for i in range(600)]  # about 35 KB of JSON
        r = c.post(f"/api/pipelines/{pipeline}/tables/t/rows", json={"rows": big, "op": "insert"})
        assert r.status_code == 202, r.text
        wait_processed(http, pipeline, r.json()["token"])
        r = post_part(c, pipeline, b"5000,a,1\n", first_row=1)
        assert r.status_code == 429 and r.json()["error_code"] == "TooManyRequests", r.text
        r = c.post(f"/api/pipelines/{pipeline}/tables/t/rows", json={"rows": [{"id": 5001, "note": "b", "n": 1}]})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1, r.text
    got = rows_after_sentinel(http, pipeline)
    assert len(got) == 600 and 5000 not in got and 5001 not in got  # the refused ones were not sent


def test_chunked_body_over_the_limit_is_cut_and_nothing_stored(strict, http, pipeline):
    line = b"1,abcdefghijklmnopqrstuvwxyz,1\n"
    with closing(sign_in(strict.url, "eddie")) as c:
        chunks = iter([line * 2048] * 20)  # 1.2 MiB against a 1 MiB limit, sent chunked
        r = post_part(c, pipeline, chunks, first_row=1)
        assert r.status_code == 413, r.text
        assert r.json()["error_code"] == "PayloadTooLarge" and r.json()["details"]["limit"] == 1 << 20
    assert rows_after_sentinel(http, pipeline) == {}


def test_paused_pipeline_refuses_unforced_parts_at_once(client, http, make_pipeline):
    """Unforced input to a paused pipeline would wait silently until it resumes: 409 PipelinePaused instead,
    telling the user about force; with force=true the part goes in."""
    p = make_pipeline(SQL, initial="paused")
    r = post_part(client, p, "".join(records([(1, "a", 1), (2, "b", 2)])).encode(), first_row=1, part=0)
    # 409 and its message are the dashboard's own refusal, before sending: had it passed the part on, the
    # engine would have held it for --ingress-wait and answered 503 PipelinePaused "stayed paused"
    assert r.status_code == 409, r.text
    assert r.json()["error_code"] == "PipelinePaused" and set(r.json()) == {"message", "error_code", "details"}
    assert "push while paused (force)" in r.json()["message"] and "resume" in r.json()["message"]
    r = post_part(client, p, "".join(records([(1, "a", 1), (2, "b", 2)])).encode(), first_row=1, part=0, force="true")
    assert r.status_code == 200, r.text
    wait_processed(http, p, r.json()["token"])
    assert sorted(rows(http, p)) == [1, 2]


def test_tally_does_not_count_rows_while_received_records_wait_for_a_step(client, http, pipeline):
    """Records received but not yet in the table (held here by a transaction; in use, another writer's
    input sent without waiting) would pair a row count with a records figure that includes rows the count
    lacks, and the page would show a wrong, even negative, replaced count: the tally gives neither figure."""
    push_and_wait(http, pipeline, "t", [{"insert": {"id": 1, "note": "a", "n": 1}}])
    tally = lambda: client.get(f"/api/pipelines/{pipeline}/tables/t/upload/tally").json()  # noqa: E731
    assert tally() == {"rows": 1, "records": 1, "late": 0, "why": None}
    assert http.post(f"/pipelines/{pipeline}/start_transaction").status_code == 200
    r = http.post(f"/pipelines/{pipeline}/ingress/t", params={"format": "json", "update_format": "raw"},
                  content=b'{"id": 2, "note": "b", "n": 2}')
    assert r.status_code == 200, r.text
    held = tally()
    assert held["rows"] is None and held["records"] is None, held
    assert "other writes" in held["why"]
    assert http.post(f"/pipelines/{pipeline}/commit_transaction").status_code == 200
    wait_until(lambda: tally() == {"rows": 2, "records": 2, "late": 0, "why": None}, what="the committed row counted")


def test_the_keyed_banner_says_what_happens_to_the_table_at_hand(client, make_pipeline):
    """The engine upserts by key in every keyed table; only a materialized one can be asked which keys it
    holds, so only there does the form's Insert refuse them and the result count the replaced rows."""
    # A keyed table is materialized by itself (as in Feldera) unless LATENESS is declared on a key column.
    p = make_pipeline("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, n INT);\n"
                      "CREATE TABLE u (id INT NOT NULL, ts TIMESTAMP NOT NULL LATENESS INTERVAL 1 HOUR, n INT, "
                      "PRIMARY KEY (id, ts));\n"
                      "CREATE TABLE bag (id INT, n INT) WITH ('materialized' = 'true');\n")

    def banner(table: str) -> str | None:
        page = client.get(f"/pipelines/{p}/tables/{table}")
        assert page.status_code == 200, page.text
        found = re.search(r"<p [^>]*data-upload-keyed>(.*?)</p>", page.text, re.S)
        return found and " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split())

    not_materialized, materialized = banner("u"), banner("t")
    assert not_materialized.startswith("A row whose key (id, ts) is already in the table replaces that row")
    assert "refuses" not in not_materialized
    assert "not materialized" in not_materialized and "Insert replaces such rows too" in not_materialized
    assert materialized.startswith("A row whose key (id) is already in the table replaces that row")
    assert "not as Insert (which looks the keys up first and refuses such rows)" in materialized
    assert "counts the rows replaced" in materialized
    assert banner("bag") is None  # no key: nothing is replaced
