"""GET egress from a browser page of another origin: allowed with --cors-origin, refused without (real Chromium)."""

import http.server
import shutil
import threading

import pytest

from webapp.engine.testing import EngineProcess, wait_status, wait_until

pytest.importorskip("playwright.sync_api")
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
    srv.server_close()


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


def _pipeline(eng):
    c = eng.client()
    c.put("/pipelines/web", json={"program_code": "CREATE TABLE t (id INT, s VARCHAR); CREATE MATERIALIZED VIEW v AS SELECT * FROM t;"})
    c.post("/pipelines/web/start")
    wait_status(c, "web", "Running")
    return c


BROWSER_SCRIPT = """
import json, sys
from playwright.sync_api import sync_playwright
page_origin, url, chromium, args, js = json.loads(sys.argv[1])
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=args)
    page = browser.new_page()
    page.goto(page_origin)
    try:
        out = {"rows": page.evaluate(js, [url, 2])}
    except Exception as e:
        out = {"error": str(e)}
    browser.close()
print(json.dumps(out))
"""


def _run(page_origin, engine_url, push):
    """Chromium runs in a process of its own, so no other Playwright session in this one interferes."""
    import json
    import subprocess
    import sys
    t = threading.Thread(target=push, daemon=True)
    t.start()
    arg = json.dumps([page_origin, f"{engine_url}/v0/pipelines/web/egress/v?format=json", CHROMIUM, ARGS, READ_STREAM])
    r = subprocess.run([sys.executable, "-c", BROWSER_SCRIPT, arg], capture_output=True, text=True, timeout=120)
    t.join()
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_allowed_origin_reads_the_stream(tmp_path, page_origin):
    with EngineProcess(tmp_path, "--cors-origin", page_origin) as eng:
        c = _pipeline(eng)

        def push():
            # once the browser's stream is attached (it only sees changes from then on)
            wait_until(lambda: [o for o in c.get("/pipelines/web/stats").json()["outputs"] if not o["closed"]], 60,
                       "the browser's egress stream to attach", interval=0.05)
            c.post("/pipelines/web/ingress/t?format=json&update_format=raw", content=b'{"id":1,"s":"a"}\n{"id":2,"s":"b"}')

        res = _run(page_origin, eng.url, push)
        assert "error" not in res, res
        assert sorted(r["insert"]["id"] for r in res["rows"]) == [1, 2]


def test_foreign_origin_is_refused(tmp_path, page_origin):
    with EngineProcess(tmp_path) as eng:
        c = _pipeline(eng)
        res = _run(page_origin, eng.url, lambda: None)
        assert "error" in res and "Failed to fetch" in res["error"], res
        # and the refusal is the engine's, not only the browser's: no stream was opened
        assert c.get("/pipelines/web/stats").json()["outputs"] == []
