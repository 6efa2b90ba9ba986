"""Which table or view a name in a dashboard URL picks, against the real engine and the real dashboard: the
declared name itself (the dashboard's own links), else the rule the engine applies to names in ``/v0``
URLs, Feldera's (``canonical_identifier``): ``"Quoted"`` exactly, anything else folded to lower case."""

from __future__ import annotations

from contextlib import closing
from urllib.parse import quote

import pytest

from .support import csrf_client

SQL = """
CREATE TABLE "Orders" (id INT NOT NULL);
CREATE TABLE items (id INT NOT NULL);
CREATE MATERIALIZED VIEW "Big" AS SELECT id FROM "Orders";
"""


@pytest.fixture(scope="module")
def dash(dashboard):
    with closing(csrf_client(dashboard.url)) as c:
        yield c


def test_a_url_name_picks_what_the_engine_picks(dash, http, make_pipeline):
    p = make_pipeline(SQL)
    # The engine: an unquoted name folds to lower case, a quoted one is exact (its ingress finds the table or not).
    engine = {n: http.post(f"/pipelines/{p}/ingress/{quote(n)}", content=b"").status_code
              for n in ('"Orders"', "ORDERS", "ITEMS", '"ITEMS"', '"items"')}
    assert engine == {'"Orders"': 200, "ORDERS": 404, "ITEMS": 200, '"ITEMS"': 404, '"items"': 200}
    # The dashboard's table pages: the same, and the declared name as its links write it.
    pages = {n: dash.get(f"/pipelines/{p}/tables/{quote(n)}").status_code for n in ["Orders", *engine]}
    assert pages == {"Orders": 200, **engine}
    views = {n: dash.get(f"/pipelines/{p}/views/{quote(n)}").status_code for n in ("Big", '"Big"', "BIG", "big")}
    assert views == {"Big": 200, '"Big"': 200, "BIG": 404, "big": 404}
    tally = dash.get(f"/api/pipelines/{p}/tables/ORDERS/upload/tally")
    assert tally.status_code == 404 and tally.json()["error_code"] == "UnknownInputStream"
