"""File upload on a table's page (templates/_upload.html, static/js/upload.js) in real Chromium, through
the dashboard to the real engine: progress, the final count, refused rows by file row number."""

from __future__ import annotations

import json
import random

from playwright.sync_api import expect

from webapp.engine.csvfmt import iter_csv_records

from .support import push, query

SQL = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR, n INT) WITH ('materialized' = 'true');\n" \
      "CREATE MATERIALIZED VIEW v AS SELECT id, n FROM t;\n"


def open_upload(page, proxy, pipeline: str, part_bytes: int | None = None):
    page.goto(f"{proxy.url}/pipelines/{pipeline}/tables/t")
    root = page.locator("[data-upload]")
    expect(root).to_be_visible()
    expect(root).to_have_attribute("data-ready", "1")
    if part_bytes:  # smaller parts than the default 8 MiB, so a small file still goes in several
        root.evaluate("(n, b) => { n.dataset.partBytes = String(b); }", part_bytes)
    return root


def upload_detected(page, root, path, fmt: str, update: str):
    """Choose ``path``, check the format and update format the page detected, upload it, wait until
    done; returns the listed refused rows."""
    page.set_input_files("[data-upload-file]", str(path))
    expect(root.locator("[data-upload-format]")).to_have_value(fmt)
    expect(root.locator("[data-upload-update]")).to_have_value(update)
    root.locator("[data-upload-start]").click()
    expect(root).to_have_attribute("data-state", "done", timeout=30_000)
    return root.locator("[data-upload-errors] li[data-row]")


def count(http, pipeline: str) -> int:
    return query(http, pipeline, "SELECT COUNT(*) AS c FROM t")[0]["c"]


def test_upload_100k_rows_with_progress_and_count(page, proxy, http, make_pipeline, tmp_path):
    p = make_pipeline(SQL)
    path = tmp_path / "rows.csv"
    with path.open("w") as f:
        f.write("id,name,n\n")
        f.writelines(f"{i},name {i},{i % 1000}\n" for i in range(100_000))
    root = open_upload(page, proxy, p, part_bytes=512 << 10)
    page.evaluate("""() => {  // remember every progress value shown
      window.__progress = [];
      const bar = document.querySelector("[data-upload-progress]");
      new MutationObserver(() => window.__progress.push(bar.value)).observe(bar, { attributes: true });
      setInterval(() => window.__progress.push(bar.value), 5);
    }""")
    page.set_input_files("[data-upload-file]", str(path))
    expect(root.locator("[data-upload-format]")).to_have_value("csv")
    expect(root.locator("[data-upload-header]")).to_be_checked()
    expect(root.locator(".upload-preview-table tbody tr")).to_have_count(20)
    expect(root.locator(".upload-preview-table td.bad")).to_have_count(0)
    root.locator("[data-upload-start]").click()
    expect(root).to_have_attribute("data-state", "done", timeout=45_000)
    expect(root.locator("[data-upload-progress]")).to_have_js_property("value", 100)
    expect(root.locator("[data-upload-percent]")).to_have_text("100 %")
    expect(root.locator("[data-upload-count]")).to_contain_text("100,000 rows stored")
    assert root.get_attribute("data-stored") == "100000" and root.get_attribute("data-failed") == "0"
    seen = page.evaluate("window.__progress")
    assert any(0 < v < 100 for v in seen), "the bar never showed progress between 0 and 100"
    assert count(http, p) == 100_000
    assert query(http, p, "SELECT name, n FROM t WHERE id = 99999") == [{"name": "name 99999", "n": 999}]


def test_three_bad_rows_listed_by_file_row_the_others_kept(page, proxy, http, make_pipeline, tmp_path):
    p = make_pipeline(SQL)
    # columns in another order than the table's, one extra column: the mapping reorders and skips
    lines = ["n,extra,id,name\n"]
    bad_ids = {150: "x", 2222: "1.5", 4999: "99999999999"}  # id -> a bad n
    expected_rows, line_no = {}, 2
    for i in range(5000):
        name = f'"two\nlines {i}"' if i % 7 == 0 else f"name {i}"
        n = bad_ids.get(i, str(i))
        lines.append(f"{n},zzz,{i},{name}\n")
        if i in bad_ids:
            expected_rows[i] = (i + 2, line_no)  # row: the header is row 1; line: quoted newlines count
        line_no += 2 if i % 7 == 0 else 1
    path = tmp_path / "bad.csv"
    path.write_text("".join(lines))
    root = open_upload(page, proxy, p, part_bytes=16 << 10)
    page.set_input_files("[data-upload-file]", str(path))
    notes = root.locator("[data-upload-notes]")
    expect(notes).to_contain_text('file column "extra" matches no column of the table')
    expect(root.locator('select[data-file-column="0"]')).to_have_value("2")  # n -> the table's third column
    root.locator("[data-upload-start]").click()
    expect(root).to_have_attribute("data-state", "done", timeout=30_000)
    listed = root.locator("[data-upload-errors] li[data-row]")
    expect(listed).to_have_count(3)
    rows = sorted(int(x) for x in listed.evaluate_all("(lis) => lis.map((li) => li.dataset.row)"))
    assert rows == sorted(r for r, _ in expected_rows.values())
    texts = listed.all_text_contents()
    for i, (row, line) in expected_rows.items():
        want = f"row {row}" + (f" (line {line})" if line != row else "")
        assert any(t.startswith(want + ":") for t in texts), (want, texts)
    expect(root.locator("[data-upload-count]")).to_contain_text("4,997 rows stored, 3 refused")
    assert count(http, p) == 4997
    assert query(http, p, "SELECT name, n FROM t WHERE id = 7") == [{"name": "two\nlines 7", "n": 7}]


def test_json_array_preview_flags_and_refused_element(page, proxy, http, make_pipeline, tmp_path):
    p = make_pipeline(SQL)
    docs = [{"insert": {"id": i, "name": f"j{i}", "n": i}} for i in range(300)]
    docs[41] = {"insert": {"id": 41, "name": "j41", "n": "forty-one"}}
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(docs, indent=2))  # pretty-printed: each element spans several lines
    root = open_upload(page, proxy, p, part_bytes=4 << 10)
    listed = upload_detected(page, root, path, "jsonarray", "insert_delete")
    line = 2 + 7 * 41  # "[" is line 1; each pretty-printed element takes 7 lines
    expect(listed).to_have_count(1)
    assert listed.text_content().startswith(f"row 42 (line {line}): column 'n'"), listed.text_content()
    assert count(http, p) == 299


def test_ndjson_rows_with_blank_lines(page, proxy, http, make_pipeline, tmp_path):
    p = make_pipeline(SQL)
    lines = [json.dumps({"id": i, "name": f"n{i}", "n": i}) for i in range(2000)]
    lines[10] = ""  # not a record: rows go on counting values, lines count lines
    lines[1500] = json.dumps({"id": 1500, "name": "n1500", "n": 1500, "bogus": 1})
    path = tmp_path / "rows.ndjson"
    path.write_text("\n".join(lines) + "\n")
    root = open_upload(page, proxy, p, part_bytes=8 << 10)
    listed = upload_detected(page, root, path, "ndjson", "raw")
    expect(listed).to_have_count(1)
    assert listed.text_content().startswith("row 1500 (line 1501): unknown column 'bogus'"), listed.text_content()
    expect(root.locator("[data-upload-count]")).to_contain_text("1,998 rows stored, 1 refused")
    assert count(http, p) == 1998


def test_missing_not_null_column_stops_the_upload(page, proxy, make_pipeline, tmp_path):
    p = make_pipeline(SQL)
    path = tmp_path / "nokey.csv"
    path.write_text("name,n\na,1\nb,2\n")
    root = open_upload(page, proxy, p)
    page.set_input_files("[data-upload-file]", str(path))
    expect(root.locator("[data-upload-notes]")).to_contain_text("no file column goes to id, which is NOT NULL")
    expect(root.locator("[data-upload-start]")).to_be_disabled()
    root.locator('select[data-file-column="1"]').select_option("0")  # map the file's n to id
    expect(root.locator("[data-upload-start]")).to_be_enabled()


def test_cutter_matches_the_engines_csv_records(page, proxy):
    """filecut.js cuts where the engine's CSV reader sees record ends, and numbers rows and lines alike."""
    rnd = random.Random(7)
    fields = ['"a\nb, ""c"""', '"x\r\ny"', "", 'bad"q', '"q"z', "12", "word"]
    recs = []
    for _ in range(400):
        if rnd.random() < 0.05:
            recs.append(rnd.choice(["\n", "\r\n"]))
            continue
        recs.append(",".join(rnd.choice(fields) for _ in range(rnd.randint(1, 4))) + rnd.choice(["\n", "\r\n", "\r"]))
    text = "".join(recs)
    page.goto(proxy.url + "/")
    # and with quotes never closed at the end: the engine's reader backs off to the last quote, refuses
    # that line and reads the lines after it (a "" pair across lines included)
    for text in (text, text + '5,"open\nx""y\nz,1\n7,8\r\n9\n'):
        parts = page.evaluate("""async (text) => {
          const { cutFile } = await import("/static/js/filecut.js");
          const out = [];
          for await (const p of cutFile(new Blob([text]), "csv", { partBytes: 64, header: true })) out.push(p);
          return out;
        }""", text)
        data = text.encode()
        whole = [line for _, line, _ in iter_csv_records(text)]
        got = []
        for part in parts:
            body = data[part["start"]:part["end"]].decode()
            recs_in_part = list(iter_csv_records(body))
            assert len(recs_in_part) == part["records"]
            got += [(part["firstRow"] + k, part["firstLine"] + line - 1)
                    for k, (_, line, _) in enumerate(recs_in_part)]
        assert got == [(k + 1, line) for k, line in enumerate(whole)][1:]  # the header (row 1) is not sent


def test_paused_pipeline_says_so_then_force_uploads(page, proxy, http, make_pipeline, tmp_path):
    """A paused pipeline without force: a message at once (not a silent 100 %), the file kept; ticking force
    sends it."""
    p = make_pipeline(SQL, initial="paused")
    path = tmp_path / "rows.csv"
    path.write_text("id,name,n\n1,a,1\n2,b,2\n")
    root = open_upload(page, proxy, p)
    page.set_input_files("[data-upload-file]", str(path))
    start = root.locator("[data-upload-start]")
    expect(start).to_be_enabled()
    start.click()
    expect(root).to_have_attribute("data-state", "failed")
    expect(root.locator("[data-upload-count]")).to_contain_text('Tick "push while paused (force)"')
    expect(start).to_be_enabled()  # the file is kept: tick force and try again
    root.locator("[data-upload-force]").check()
    start.click()
    expect(root).to_have_attribute("data-state", "done")
    assert count(http, p) == 2


def test_upload_is_off_after_a_file_is_sent_until_another_is_chosen(page, proxy, http, make_pipeline, tmp_path):
    """A second click would send the same rows again (duplicates in a table without a key)."""
    p = make_pipeline(SQL)
    path = tmp_path / "rows.csv"
    path.write_text("id,name,n\n1,a,1\n2,b,2\n")
    root = open_upload(page, proxy, p)
    page.set_input_files("[data-upload-file]", str(path))
    start = root.locator("[data-upload-start]")
    start.click()
    expect(root).to_have_attribute("data-state", "done")
    expect(start).to_be_disabled()
    root.locator("[data-upload-header]").uncheck()  # a redraw does not turn it back on
    root.locator("[data-upload-header]").check()
    expect(start).to_be_disabled()
    other = tmp_path / "more.csv"
    other.write_text("id,name,n\n3,c,3\n")
    page.set_input_files("[data-upload-file]", str(other))
    expect(start).to_be_enabled()


def test_ndjson_preview_marks_the_rows_the_server_refuses(page, proxy, http, make_pipeline, tmp_path):
    """The preview applies the engine's rules: the rows it marks as failing are exactly those refused."""
    p = make_pipeline(SQL)
    values = [
        {"id": 1, "name": "good", "n": 1},
        {"id": 2, "colour": "red"},                # unknown column: the engine refuses the row
        {"id": 3, "n": "x"},                       # not an INT
        {"id": 4},                                 # nullable columns may be missing
        {"name": "no id"},                         # NOT NULL id missing
        [{"id": 6}],                               # an array of rows in raw format
        {"id": 99999999999},                       # out of range for INT
        {"ID": 8, "N": 5},                         # names match case-insensitively
        {"id": 9, "n": 1, "Colour": None},         # unknown even when null
    ]
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(json.dumps(v) for v in values) + "\n")
    root = open_upload(page, proxy, p)
    # said before anything is sent: an upload replaces rows by key, where the form's Insert refuses them
    expect(root.locator("[data-upload-keyed]")).to_contain_text("A row whose key (id) is already in the table replaces")
    page.set_input_files("[data-upload-file]", str(path))
    expect(root.locator(".upload-preview-table tbody tr")).to_have_count(len(values))
    marked = root.locator(".upload-preview-table tbody tr.bad-row td:first-child").all_inner_texts()
    listed = upload_detected(page, root, path, "ndjson", "raw")
    refused = [li.get_attribute("data-row") for li in listed.all()]
    assert marked == refused == ["2", "3", "5", "6", "7", "9"], (marked, refused)
    expect(root.locator("[data-upload-count]")).to_contain_text("3 rows stored, 6 refused")


def test_keyed_upload_counts_rows_replaced_by_key(page, proxy, http, make_pipeline, tmp_path):
    """Rows whose key is already in the table replace it: the result counts them apart from new rows."""
    p = make_pipeline(SQL)
    push(http, p, "t", [{"insert": {"id": 1, "name": "one", "n": 1}}, {"insert": {"id": 2, "name": "two", "n": 2}}])
    path = tmp_path / "rows.csv"
    path.write_text("2,two again,20\n3,three,3\n4,four,4\n4,four twice,40\n")  # 2 replaces; 4 twice
    root = open_upload(page, proxy, p)
    upload_detected(page, root, path, "csv", "raw")
    # Four rows kept: 3 and the first 4 are new; 2 and the second 4 replaced a row with the same key.
    expect(root.locator("[data-upload-count]")).to_contain_text("4 rows stored · 2 new, 2 replaced a row with the same key")
    assert count(http, p) == 4


def test_replaced_rows_are_not_guessed_when_others_write_meanwhile(page, proxy, make_pipeline):
    """The count is exact only when the upload was the table's only input: otherwise it says why not."""
    open_upload(page, proxy, make_pipeline(SQL))
    verdicts = page.evaluate("""async () => {
        const src = document.querySelector('script[src*="/js/entry.js"]').src.replace("entry.js", "upload.js");
        const { replacedCount } = await import(src);
        return [replacedCount({rows: 2, records: 2}, {rows: 4, records: 6}, 4),
                replacedCount({rows: 2, records: 2}, {rows: 5, records: 7}, 4),
                replacedCount({rows: null, records: 2, why: "table 't' is not materialized"}, {rows: null, records: 6}, 4),
                // the records moved by exactly what was kept, but the rows by more: another writer's row
                // was received before the first tally and counted only in the second
                replacedCount({rows: 2, records: 2}, {rows: 5, records: 4}, 2),
                replacedCount({rows: 5, records: 2}, {rows: 4, records: 4}, 2)];
    }""")
    assert verdicts[0] == {"added": 2, "replaced": 2}
    assert verdicts[1] == "other writes reached the table during the upload"
    assert "not materialized" in verdicts[2]
    assert verdicts[3] == verdicts[4] == "other writes reached the table during the upload"


def test_a_part_whose_answer_is_lost_is_sent_again_with_its_key_and_stored_once(page, proxy, http, make_pipeline,
                                                                                 tmp_path):
    """The pipeline server restarting mid-upload: part 0's answer is lost after the engine stored it (the
    dashboard's 502), part 1's connection is reset. Both are sent again with the same Idempotency-Key, the
    page saying it waits for the server, and the upload goes on; a table without a key shows that part 0
    was stored once."""
    p = make_pipeline("CREATE TABLE t (id INT, name VARCHAR, n INT) WITH ('materialized' = 'true');\n")
    path = tmp_path / "rows.csv"
    path.write_text("id,name,n\n" + "".join(f"{i},name {i},{i}\n" for i in range(3000)))
    root = open_upload(page, proxy, p, part_bytes=16 << 10)
    seen: dict[str, list[str]] = {}

    def lose_first_answers(route):
        part = route.request.url.split("part=")[1].split("&")[0]
        keys = seen.setdefault(part, [])
        keys.append(route.request.headers.get("idempotency-key"))
        if part == "0" and len(keys) == 1:
            route.fetch()  # the engine stores it; its answer never reaches the page
            route.fulfill(status=502, content_type="application/json", body=json.dumps(
                {"message": "part 0 could not be passed to the pipeline server (ReadError)",
                 "error_code": "UpstreamUnreachable", "details": {"part": 0}}))
        elif part == "1" and len(keys) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()
    page.route("**/upload?*", lose_first_answers)
    page.evaluate("""() => {
      window.__said = [];
      const count = document.querySelector("[data-upload-count]");
      new MutationObserver(() => window.__said.push(count.textContent)).observe(count, { childList: true });
    }""")
    page.set_input_files("[data-upload-file]", str(path))
    root.locator("[data-upload-start]").click()
    expect(root).to_have_attribute("data-state", "done", timeout=30_000)
    assert root.get_attribute("data-retries") == "2"
    assert [len(seen[k]) for k in ("0", "1")] == [2, 2] and all(len(set(v)) == 1 for v in seen.values())
    said = page.evaluate("() => window.__said")
    assert any(s.startswith("part 1: waiting for the pipeline server") for s in said), said
    assert any(s.startswith("part 2: waiting for the pipeline server") for s in said), said
    assert count(http, p) == 3000


def test_cancel_while_a_part_waits_to_be_sent_again_sends_nothing_more(page, proxy, http, make_pipeline, tmp_path):
    """Cancel during the wait before a part is sent again (its connection failed) ends the upload there: the
    part is not sent again (it was, and stored, when Cancel only aborted the request that had failed)."""
    p = make_pipeline("CREATE TABLE t (id INT, name VARCHAR, n INT) WITH ('materialized' = 'true');\n")
    path = tmp_path / "rows.csv"
    path.write_text("id,name,n\n" + "".join(f"{i},name {i},{i}\n" for i in range(100)))
    root = open_upload(page, proxy, p)
    sent = []

    def first_fails(route):
        sent.append(route.request.headers.get("idempotency-key"))
        if len(sent) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()
    page.route("**/upload?*", first_fails)
    page.set_input_files("[data-upload-file]", str(path))
    root.locator("[data-upload-start]").click()
    expect(root).to_have_attribute("data-state", "waiting")
    root.locator("[data-upload-cancel]").click()
    expect(root).to_have_attribute("data-state", "failed")  # the upload is over: nothing more can be sent
    expect(root.locator("[data-upload-count]")).to_contain_text("cancelled")
    assert len(sent) == 1
    assert count(http, p) == 0


def test_a_first_record_longer_than_the_preview_window_is_previewed_or_said(page, proxy, http, make_pipeline, tmp_path):
    """A first record over 64 KiB: the preview reads on (up to the part size) and shows it; past the part size
    it says the record is longer than what it reads, and the upload is allowed (it said "no records" and kept
    Upload off)."""
    p = make_pipeline(SQL)
    long_first = tmp_path / "long.csv"
    long_first.write_text(f"id,name,n\n1,{'z' * (100 << 10)},2\n2,small,3\n")
    root = open_upload(page, proxy, p)
    page.set_input_files("[data-upload-file]", str(long_first))
    expect(root.locator(".upload-preview-table tbody tr")).to_have_count(2)
    expect(root.locator("[data-upload-notes]")).not_to_contain_text("no records")
    root.locator("[data-upload-start]").click()
    expect(root).to_have_attribute("data-state", "done")
    assert count(http, p) == 2
    # parts of 32 KiB: the preview reads 64 KiB at most, which the first record outgrows
    root.evaluate("(n) => { n.dataset.partBytes = String(32 << 10); }")
    longer = tmp_path / "longer.csv"
    longer.write_text(f"id,name,n\n3,{'z' * (100 << 10)},2\n4,small,3\n")
    page.set_input_files("[data-upload-file]", str(longer))
    expect(root.locator("[data-upload-notes]")).to_contain_text(
        "the first record is longer than the 64.0 KiB the preview reads")
    root.locator("[data-upload-start]").click()
    expect(root).to_have_attribute("data-state", "done")
    assert count(http, p) == 4


def test_an_unclosed_quote_is_one_refused_row_as_the_engine_reads_it(page, proxy, http, make_pipeline, tmp_path):
    """A quote never closed: the engine refuses that line's record and stores the rows after it, so the page
    lists that row as refused in the usual result (it said the upload stopped and counted the rest as one
    record)."""
    p = make_pipeline(SQL)
    path = tmp_path / "quote.csv"
    path.write_text('id,name,n\n3100,a,1\n3101,b,2\n3102,"oops,4\n3103,c,3\n3104,d,4\n')
    root = open_upload(page, proxy, p)
    listed = upload_detected(page, root, path, "csv", "raw")
    # the preview marked the row the engine refused
    expect(root.locator(".upload-preview-table tbody tr.bad-row td:first-child")).to_have_text(["4"])
    expect(root.locator("[data-upload-count]")).to_contain_text("4 rows stored, 1 refused (listed below by file row)")
    expect(listed).to_have_count(1)
    expect(listed).to_have_attribute("data-row", "4")
    expect(listed).to_contain_text("unexpected '\"' in a field")
    assert count(http, p) == 4


def test_an_upload_stopped_midway_counts_the_refused_rows_of_the_parts_before(page, proxy, http, make_pipeline,
                                                                              tmp_path):
    """The second part refused (a 400 here): the message counts the first part's refused row apart from the
    rows kept (it said all its records stay stored)."""
    p = make_pipeline(SQL)
    path = tmp_path / "rows.csv"
    path.write_text("id,name,n\n1,a,1\n2,b,x\n3,c,3\n" + "".join(f"{i},name {i},{i}\n" for i in range(4, 200)))
    root = open_upload(page, proxy, p, part_bytes=64)  # the first part: 8 records

    def second_refused(route):
        if "part=1&" in route.request.url:
            route.fulfill(status=400, content_type="application/json", body=json.dumps(
                {"message": "refused for the test", "error_code": "BadPart", "details": {}}))
        else:
            route.continue_()
    page.route("**/upload?*", second_refused)
    page.set_input_files("[data-upload-file]", str(path))
    root.locator("[data-upload-start]").click()
    expect(root).to_have_attribute("data-state", "failed")
    expect(root.locator("[data-upload-count]")).to_have_text(
        "Upload stopped: refused for the test. The 8 records of the 1 part(s) before were sent: 7 kept, "
        "1 refused (listed below by file row).")
    expect(root.locator("[data-upload-errors] li[data-row]")).to_have_attribute("data-row", "3")
    assert count(http, p) == 7  # the first part: rows 2, 4 to 9 (file rows; row 1 is the header)
