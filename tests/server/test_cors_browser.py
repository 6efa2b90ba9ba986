"""GET egress from a browser page of another origin: allowed with --cors-origin, refused without (real Chromium)."""

import http.server
import shutil
import threading
import time

import httpx
import pytest

from webapp.engine.testing import EngineProcess

pw = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

PAGE = b"""<!doctype html><meta charset="utf-8"><title>other origin</title><body><pre id="out"></pre></body>"""


@pytest.fixture(scope="module")
def page_origin():
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


# The snippet of the HTTP connector documentation, made to buffer lines cut across reads.
READ_STREAM = """async ([url, want]) => {
  const response = await fetch(url);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buf = '', got = [];
  while (got.length < want) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    const lines = buf.split('\\n');
    buf = lines.pop();
    for (const line of lines) if (line.trim()) {
      const data = JSON.parse(line);
      if (data.json_data) got.push(...data.json_data);
    }
  }
  reader.cancel();
  return got;
}"""


def _pipeline(url):
    c = httpx.Client(base_url=url + "/v0", timeout=30)
    c.put("/pipelines/web", json={"program_code": "CREATE TABLE t (id INT, s VARCHAR); CREATE MATERIALIZED VIEW v AS SELECT * FROM t;"})
    c.post("/pipelines/web/start")
    while c.get("/pipelines/web?selector=status").json()["deployment_status"] != "Running":
        time.sleep(0.05)
    return c


def _run(page_origin, engine_url, push):
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(page_origin)
            result = {}

            def reader():
                try:
                    result["rows"] = page.evaluate(READ_STREAM, [f"{engine_url}/v0/pipelines/web/egress/v?format=json", 2])
                except Exception as e:  # noqa: BLE001 - the browser's refusal is the expected outcome
                    result["error"] = str(e)
            # page.evaluate blocks; push rows from another thread once the stream is open
            t = threading.Thread(target=push, daemon=True)
            t.start()
            reader()
            t.join()
            return result
        finally:
            browser.close()


def test_allowed_origin_reads_the_stream(tmp_path, page_origin):
    with EngineProcess(tmp_path, "--cors-origin", page_origin) as eng:
        c = _pipeline(eng.url)

        def push():
            time.sleep(1.0)
            c.post("/pipelines/web/ingress/t?format=json&update_format=raw", content=b'{"id":1,"s":"a"}\n{"id":2,"s":"b"}')

        res = _run(page_origin, eng.url, push)
        assert "error" not in res, res
        assert sorted(r["insert"]["id"] for r in res["rows"]) == [1, 2]


def test_foreign_origin_is_refused(tmp_path, page_origin):
    with EngineProcess(tmp_path) as eng:
        c = _pipeline(eng.url)
        res = _run(page_origin, eng.url, lambda: None)
        assert "error" in res and "Failed to fetch" in res["error"], res
        # and the refusal is the engine's, not only the browser's: no stream was opened
        assert c.get("/pipelines/web/stats").json()["outputs"] == []
