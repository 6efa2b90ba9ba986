"""The data-entry validator (``webapp/dashboard/validate.py``) and its browser twin (``static/js/rules.js``).

The Python checks are authoritative; the page interprets the same rule data in JS. ``test_js_agrees``
runs rules.js in Debian's Chromium (Playwright, in a subprocess, no server: requests are answered from
``static/``) on the same table of values and asks for the same verdicts, messages and values.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from webapp.dashboard.validate import FieldError, check_row, check_value, parse_documents, rule_for, rules_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SLUICE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def ct(type_, nullable=True, **kw):
    return {"type": type_, "nullable": nullable, **kw}


RULES = {
    "tinyint": rule_for("a", ct("TINYINT", False)),
    "int": rule_for("a", ct("INTEGER")),
    "bigint": rule_for("a", ct("BIGINT", False)),
    "dec": rule_for("a", ct("DECIMAL", precision=5, scale=2)),
    "dec0": rule_for("a", ct("DECIMAL", False, precision=3, scale=0)),
    "real": rule_for("a", ct("REAL")),
    "double": rule_for("a", ct("DOUBLE", False)),
    "bool": rule_for("a", ct("BOOLEAN", False)),
    "vc3": rule_for("a", ct("VARCHAR", precision=3)),
    "vc": rule_for("a", ct("VARCHAR", False, precision=-1)),
    "char2": rule_for("a", ct("CHAR", precision=2)),
    "date": rule_for("a", ct("DATE", False)),
    "time": rule_for("a", ct("TIME")),
    "ts": rule_for("a", ct("TIMESTAMP")),
    "ints": rule_for("a", ct("ARRAY", component=ct("INTEGER", False))),
    "decs": rule_for("a", ct("ARRAY", component=ct("DECIMAL", precision=4, scale=1))),
    "other": rule_for("a", ct("VARIANT")),
}

# (rule, value, expected: the value sent, or an error message)
CASES = [
    ("tinyint", "127", 127), ("tinyint", "-128", -128), ("tinyint", "128", "ERR:128 is out of range for TINYINT (-128 to 127)"),
    ("tinyint", " +5 ", 5), ("tinyint", 5, 5), ("tinyint", 5.0, 5), ("tinyint", 5.5, "ERR:"), ("tinyint", True, "ERR:"),
    ("tinyint", None, "ERR:a value is required (NOT NULL)"), ("tinyint", "", "ERR:empty: enter a value of type TINYINT"),
    ("int", " ", "ERR:empty: enter a value of type INTEGER (or NULL)"), ("tinyint", "1e2", 100), ("vc", "", ""),
    ("tinyint", "٣", "ERR:"), ("tinyint", "12\n", 12),
    ("int", None, None), ("int", "2147483647", 2147483647), ("int", "2147483648", "ERR:"), ("int", "abc",
     'ERR:expected a whole number (INTEGER), found "abc"'),
    ("bigint", "9223372036854775807", 9223372036854775807), ("bigint", "-9223372036854775809", "ERR:"),
    ("dec", "123.45", "123.45"), ("dec", "1234", "ERR:too many digits before the decimal point: DECIMAL(5, 2) allows 3"),
    ("dec", "1.234", "ERR:too many digits after the decimal point: DECIMAL(5, 2) allows 2"), ("dec", "1.230", "1.23"),
    ("dec", "-0.00", "0"), ("dec", "007.5", "7.5"), ("dec", ".5", "0.5"), ("dec", "5.", "5"), ("dec", "1e2", "100"),
    ("dec", "1.5e-2", "ERR:"), ("dec", "12e-1", "1.2"), ("dec", 12.5, "12.5"), ("dec", -3, "-3"),
    ("dec", ".", "ERR:expected a decimal number like 12.34, found \".\""), ("dec", "1,5", "ERR:"), ("dec", False, "ERR:"),
    ("dec0", "999", "999"), ("dec0", "1000", "ERR:"), ("dec0", "0.5", "ERR:"),
    ("real", "1.5", 1.5), ("real", "3.5e38", 'ERR:"3.5e38" is out of range for REAL'), ("real", "-2.5E3", -2500.0),
    ("real", "1.", 1.0), ("real", "x", "ERR:expected a number (REAL), found \"x\""), ("real", "NaN", "ERR:"),
    ("double", "1e308", 1e308), ("double", "1e309", "ERR:"), ("double", 7, 7.0),
    ("bool", "true", True), ("bool", " FALSE ", False), ("bool", False, False), ("bool", "yes",
     'ERR:expected true or false, found "yes"'), ("bool", 1, "ERR:"),
    ("vc3", "abc", "abc"), ("vc3", "abcd", "ERR:4 characters: VARCHAR(3) holds at most 3"), ("vc3", "é😀x", "é😀x"),
    ("vc3", "", ""), ("vc3", 12, "ERR:expected text, found 12"), ("vc", "x" * 500, "x" * 500), ("vc", None, "ERR:"),
    ("char2", "abc", "ERR:"), ("char2", "<b>", "ERR:"),
    ("date", "2024-02-29", "2024-02-29"), ("date", "2023-02-29", 'ERR:"2023-02-29" is not a calendar date'),
    ("date", "2024-13-01", "ERR:"), ("date", "0000-01-01", "ERR:"), ("date", "2024-1-1",
     'ERR:expected a DATE like 2024-01-31, found "2024-1-1"'), ("date", 20240101, "ERR:"),
    ("time", "13:45", "13:45"), ("time", "23:59:59.123456", "23:59:59.123456"), ("time", "24:00:00",
     'ERR:"24:00:00" is not a time of day (00:00:00 to 23:59:59)'), ("time", "12:60", "ERR:"),
    ("time", "12:00:00.1234567", "ERR:"),
    ("ts", "2024-01-31T13:45", "2024-01-31 13:45"), ("ts", "2024-01-31 13:45:07.5", "2024-01-31 13:45:07.5"),
    ("ts", "2024-01-31", "ERR:"), ("ts", "2024-02-30 10:00:00", "ERR:"), ("ts", "2024-01-31 25:00", "ERR:"),
    ("ints", "[1, 2, 3]", [1, 2, 3]), ("ints", [4], [4]), ("ints", "[1, null]", "ERR:item 2: a value is required (NOT NULL)"),
    ("ints", "[1, \"x\"]", 'ERR:item 2: expected a whole number (INTEGER), found "x"'), ("ints", "1, 2",
     'ERR:expected a JSON array like [1, 2], found "1, 2"'), ("ints", "{}", "ERR:"), ("ints", "[]", []),
    ("decs", "[1.5, \"2.25\"]", "ERR:item 2: too many digits after the decimal point: DECIMAL(4, 1) allows 1"),
    ("decs", "[\"100.5\", null]", ["100.5", None]),
    # a whole number is taken however it is written, in the form as in JSON; a fractional part is refused
    ("tinyint", "5.0", 5), ("bigint", "920000013.0", 920000013), ("bigint", 920000013.0, 920000013),
    ("bigint", "920000013.5", 'ERR:expected a whole number (BIGINT), found "920000013.5"'), ("int", "1.5e1", 15),
    ("int", "-0.0", 0), ("int", 1e3, 1000), ("int", 0.5, "ERR:expected a whole number (INTEGER), found 0.5"),
    ("ints", "[1.0, 2e0]", [1, 2]), ("ints", "[1.5]", "ERR:item 1: expected a whole number (INTEGER), found 1.5"),
    ("bigint", "1e999999999", "ERR:"), ("dec", "1e-999999999", "ERR:too many digits after the decimal point: "
                                                              "DECIMAL(5, 2) allows 2"),
    # both limits passed: both said
    ("dec", "1234.567", "ERR:too many digits before and after the decimal point: DECIMAL(5, 2) allows 3 before and 2 after"),
    ("other", '{"a": 1}', {"a": 1}), ("other", "plain", "plain"), ("other", None, None),
]


def _expect(expected, run):
    if isinstance(expected, str) and expected.startswith("ERR:"):
        with pytest.raises(FieldError) as e:
            run()
        if expected != "ERR:":
            assert e.value.message == expected[4:]
    else:
        got = run()
        assert got == expected and type(got) is type(expected), (got, expected)


@pytest.mark.parametrize("name,value,expected", CASES)
def test_check_value(name, value, expected):
    _expect(expected, lambda: check_value(RULES[name], value))


FIELDS = [
    {"name": "ID", "case_sensitive": False, "columntype": ct("INTEGER", False)},
    {"name": "Name", "case_sensitive": True, "columntype": ct("VARCHAR", precision=5)},
    {"name": "amount", "case_sensitive": False, "columntype": ct("DECIMAL", False, precision=6, scale=2)},
]


def test_rules_for_marks_keys_and_names():
    rules = rules_for(FIELDS, ["id"])
    assert [(r["name"], r["key"], r["label"]) for r in rules] == [
        ("id", True, "INTEGER NOT NULL"), ("Name", False, "VARCHAR(5)"), ("amount", False, "DECIMAL(6, 2) NOT NULL")]
    json.dumps(rules)  # plain data, ready for the page


def test_check_row_collects_every_field_error():
    rules = rules_for(FIELDS, ["id"])
    assert check_row(rules, {"ID": "7", "Name": "ann", "AMOUNT": "1.5"}) == ({"id": 7, "Name": "ann", "amount": "1.5"}, [])
    out, errors = check_row(rules, {"id": "x", "name": "bob", "extra": 1})
    assert {e["field"] for e in errors} == {"id", "name", "extra", "amount"}  # "name" is not "Name" (quoted)
    assert any("missing" in e["message"] for e in errors if e["field"] == "amount")
    assert check_row(rules, [1, 2])[1][0]["field"] is None
    # a delete by key checks and sends only the key
    assert check_row(rules, {"id": 3, "amount": "bad"}, key_only=True) == ({"id": 3}, [])


def test_json_numbers_with_a_point_are_whole_only_when_exactly_whole():
    """JSON numbers are read exactly (Decimal), so 920000013.0 is the whole number and 920000013.0000000001
    is not (a float would have rounded it to a whole number and stored it)."""
    bigint, ints = RULES["bigint"], RULES["ints"]
    assert check_value(bigint, Decimal("920000013.0")) == 920000013
    assert check_value(bigint, Decimal("9.2E+8")) == 920000000
    for v in (Decimal("920000013.0000000001"), Decimal("NaN"), float("inf")):
        with pytest.raises(FieldError, match="expected a whole number"):
            check_value(bigint, v)
    with pytest.raises(FieldError, match="item 1: expected a whole number"):
        check_value(ints, "[920000013.0000000001]")
    [item], _ = parse_documents('{"a": 920000013.0000000001}')
    assert check_row([bigint], item["row"])[1][0]["message"].startswith("expected a whole number")


def test_parse_documents_refuses_a_name_given_twice():
    items, errors = parse_documents('{"a": 1, "a": 2}')
    assert items == [] and errors[0]["message"].startswith('duplicate name "a" in one JSON object')
    items, errors = parse_documents('{"a": 1}\n{"b": {"c": 1, "c": 1}}')
    assert [i["row"] for i in items] == [{"a": 1}] and errors[0]["where"] == "line 2"


def test_parse_documents_takes_arrays_ndjson_and_insert_delete():
    items, errors = parse_documents('[{"id": 1}, {"delete": {"id": 2}, "insert": {"id": 2, "amount": 1.10}}]')
    assert errors == []
    assert [(i["op"], i["where"]) for i in items] == [("insert", "item 1"), ("delete", "item 2"), ("insert", "item 2")]
    assert items[2]["row"]["amount"] == Decimal("1.10")
    items, errors = parse_documents('{"id": 1}\n\n{"delete": {"id": 1}}\n{oops}\n')
    assert [(i["op"], i["where"]) for i in items] == [("insert", "line 1"), ("delete", "line 3")]
    assert errors == [{"where": "line 4", "message": errors[0]["message"]}] and "invalid JSON" in errors[0]["message"]
    assert parse_documents("   ")[1][0]["message"].startswith("nothing to send")
    assert parse_documents('[{"id": 1},\n{"id": }]')[1][0]["where"] == "line 2"


_JS_RUNNER = r"""
import json, sys
from pathlib import Path
from playwright.sync_api import sync_playwright
root, chromium, cases = Path(sys.argv[1]), sys.argv[2], json.loads(sys.stdin.read())
def serve(route):
    path = route.request.url.split("sluice.test", 1)[1]
    if path.startswith("/static/"):
        route.fulfill(path=str(root / path.lstrip("/")), content_type="text/javascript")
    else:
        route.fulfill(body="<!doctype html><title>t</title>", content_type="text/html")
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    page = b.new_page()
    page.route("http://sluice.test/**", serve)
    page.goto("http://sluice.test/")
    out = page.evaluate('''async (cases) => {
      const r = await import("/static/js/rules.js");
      const plain = (v) => JSON.parse(JSON.stringify(v, (_, x) => typeof x === "bigint" ? Number(x) : x));
      const checks = cases.checks.map(([rule, value]) => {
        try { return { value: plain(r.checkValue(rule, value)) }; } catch (e) { return { error: e.message }; }
      });
      const randoms = cases.rules.map((rule) => Array.from({ length: 30 }, () => r.randomText(rule)));
      return { checks, randoms };
    }''', cases)
    b.close()
print(json.dumps(out))
"""


def _run_js(checks: list, rules: list) -> dict:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/test.sh or set SLUICE_CHROMIUM")
    proc = subprocess.run([sys.executable, "-c", _JS_RUNNER, str(ROOT / "webapp" / "dashboard"), CHROMIUM], capture_output=True, text=True,
                          input=json.dumps({"checks": checks, "rules": rules}), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_js_agrees_and_random_values_pass():
    """rules.js gives the same verdict, message and value as Python on every case (floats and big
    integers compared as numbers, since JSON in the browser has one number type), and every random
    value it makes for each rule passes the Python validator."""
    checks = [(RULES[n], v) for n, v, _ in CASES]
    rules = list(RULES.values())
    got = _run_js(checks, rules)
    for (name, value, _), js in zip(CASES, got["checks"]):
        try:
            py = {"value": check_value(RULES[name], value)}
        except FieldError as e:
            py = {"error": e.message}
        if "value" in py and "value" in js and isinstance(py["value"], int) and not isinstance(py["value"], bool):
            assert float(py["value"]) == float(js["value"]), (name, value)
        else:
            assert js == py, (name, value, js, py)
    for rule, values in zip(rules, got["randoms"]):
        for v in values:
            check_value(rule, v)  # raises on a random value of the wrong shape
