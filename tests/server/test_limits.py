"""Limits: a producer outpacing a paused pipeline is held back without growing memory; 413 before reading."""

import socket
import threading

import httpx
import orjson

from webapp.engine.testing import EngineProcess, wait_processed, wait_status, wait_until


def test_paused_pipeline_holds_producers_back_with_flat_memory(tmp_path):
    with EngineProcess(tmp_path, "--max-buffered-records", "2000", "--ingress-wait", "60") as eng:
        c = eng.client(timeout=90)
        c.put("/pipelines/cap", json={"program_code": "CREATE TABLE t (id BIGINT, s VARCHAR);"
                                                      "CREATE MATERIALIZED VIEW n AS SELECT COUNT(*) AS n FROM t;"})
        c.post("/pipelines/cap/start?initial=paused")
        wait_status(c, "cap", "Paused")
        rss0 = c.get("/pipelines/cap/stats").json()["global_metrics"]["rss_bytes"]
        lock = threading.Lock()
        accepted, answered = [0], []  # records of the requests answered 200; every answer's status
        stop = threading.Event()

        def producer(k):
            with httpx.Client(timeout=120) as pc:
                i = 0
                while not stop.is_set():
                    body = b"\n".join(orjson.dumps({"id": k * 10**9 + i + j, "s": "x" * 200}) for j in range(5000))
                    r = pc.post(f"{eng.url}/v0/pipelines/cap/ingress/t", params={"format": "json", "update_format": "raw"},
                                content=body)
                    with lock:
                        answered.append(r.status_code)
                        accepted[0] += 5000 if r.status_code == 200 else 0
                    i += 5000

        threads = [threading.Thread(target=producer, args=(k,), daemon=True) for k in range(8)]
        for t in threads:
            t.start()
        samples = []

        def sample():
            st = c.get("/pipelines/cap/stats").json()
            gm = st["global_metrics"]
            samples.append((gm["rss_bytes"], gm["buffered_input_records"], gm["total_input_records"]))
            ins = st["inputs"]  # the table's HTTP input is listed from the first request on, as Feldera's
            return ins[0]["metrics"]["waiting_requests"] if ins else 0

        # every producer is held back, and stays so over a few more samples
        wait_until(lambda: sample() == 8, 30, "the 8 producers to be held back")
        assert all(sample() == 8 for _ in range(5)), samples
        stop.set()
        # Nothing was taken while paused, and the waiting requests did not pile their bodies up in memory.
        assert all(b == 0 and n == 0 for _, b, n in samples), samples
        with lock:
            assert answered == []
        assert max(r for r, _, _ in samples) - rss0 < 40 << 20, (rss0, samples)
        c.post("/pipelines/cap/resume")
        for t in threads:
            t.join(120)
            assert not t.is_alive()
        assert answered and all(s == 200 for s in answered), answered

        def counted():
            r = c.get("/pipelines/cap/query", params={"sql": "SELECT n FROM n", "format": "json"})
            return orjson.loads(r.text)["n"] == accepted[0]
        wait_until(counted, 60, f"the view to count all {accepted[0]} accepted records", interval=0.1)


def test_oversized_body_gets_413_before_it_is_read(tmp_path):
    with EngineProcess(tmp_path, "--max-body-mb", "1") as eng:
        host, port = eng.url.removeprefix("http://").split(":")
        s = socket.create_connection((host, int(port)))
        # Announce 50 MB but send none of it: the answer must come anyway.
        s.sendall(b"POST /v0/pipelines/x/ingress/t?format=json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Length: 52428800\r\nContent-Type: application/json\r\n\r\n")
        s.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head or len(head.split(b"\r\n\r\n", 1)[1]) < int(
                head.lower().split(b"content-length: ")[1].split(b"\r\n")[0] if b"content-length: " in head.lower() else 0):
            chunk = s.recv(65536)
            if not chunk:
                break
            head += chunk
        s.close()
        head = head.decode()
        assert head.startswith("HTTP/1.1 413"), head
        body = orjson.loads(head.split("\r\n\r\n", 1)[1])
        assert body["error_code"] == "PayloadTooLarge" and "limit" in body["message"]


def test_a_body_cut_short_stores_nothing(http, make_pipeline, engine):
    """A client that announces N bytes and goes away after fewer: nothing stored, not even good records."""
    name = make_pipeline("CREATE TABLE t (id INT NOT NULL, v VARCHAR) WITH ('materialized' = 'true');")
    body = b"\n".join(orjson.dumps({"id": i, "v": "x" * 20}) for i in range(2000)) + b"\n"
    cut = body[: len(body) // 2 - 7]  # mid-record: the last line is torn but may parse
    host, port = engine.url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)))
    s.sendall(f"POST /v0/pipelines/{name}/ingress/t?format=json&update_format=raw HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n".encode() + cut)
    s.shutdown(socket.SHUT_WR)  # the rest never comes
    s.settimeout(10)
    answer = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        answer += chunk
    s.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error_code"] == "IncompleteBody"
    ok = http.post(f"/pipelines/{name}/ingress/t", params={"format": "json", "update_format": "raw"},
                   content=b'{"id": -1, "v": "after"}')
    assert ok.status_code == 200, ok.text  # the server still serves
    wait_processed(http, name, ok.json()["token"])
    r = http.get(f"/pipelines/{name}/query", params={"sql": "SELECT id FROM t", "format": "json"})
    assert [orjson.loads(x)["id"] for x in r.text.splitlines() if x.strip()] == [-1]
