"""The demo pipeline ``sluice up`` creates on first run: two tables, a filter, a join and an aggregate."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("sluice.demo")

DEMO_NAME = "demo"

DEMO_SQL = """\
-- Sluice demo: customers place orders; the views follow every change.
CREATE TABLE customers (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR NOT NULL,
    city VARCHAR
) WITH ('materialized' = 'true');

CREATE TABLE orders (
    order_id BIGINT NOT NULL PRIMARY KEY,
    customer_id INT NOT NULL,
    amount DECIMAL(10, 2) NOT NULL,
    placed_at TIMESTAMP NOT NULL
) WITH ('materialized' = 'true');

-- A filter: orders of 100 or more.
CREATE MATERIALIZED VIEW big_orders AS
    SELECT order_id, customer_id, amount, placed_at FROM orders WHERE amount >= 100;

-- A join: each order with its customer's name and city.
CREATE MATERIALIZED VIEW order_details AS
    SELECT o.order_id, c.name, c.city, o.amount, o.placed_at
    FROM orders o JOIN customers c ON o.customer_id = c.id;

-- An aggregate: orders and revenue per city.
CREATE MATERIALIZED VIEW city_totals AS
    SELECT c.city, COUNT(*) AS orders, SUM(o.amount) AS revenue
    FROM orders o JOIN customers c ON o.customer_id = c.id
    GROUP BY c.city;
"""

DEMO_CUSTOMERS = [
    {"id": 1, "name": "Ada", "city": "London"},
    {"id": 2, "name": "Grace", "city": "New York"},
    {"id": 3, "name": "Linus", "city": "Helsinki"},
    {"id": 4, "name": "Margaret", "city": "Boston"},
    {"id": 5, "name": "Edsger", "city": "Amsterdam"},
]


def bootstrap_demo(engine) -> None:
    """Create the demo pipeline if missing, start it, and seed its customers on first start."""
    try:
        if DEMO_NAME not in engine.pipelines:
            engine.put(DEMO_NAME, {"program_code": DEMO_SQL, "description": "Sluice demo pipeline"})
        p = engine.get(DEMO_NAME)
        fresh = p.storage_status == "Cleared"
        if p.status == "Stopped" and p.program is not None:
            p.start("running")
        for _ in range(200):
            if p.status in ("Running", "Paused"):
                break
            time.sleep(0.05)
        if fresh and p.runtime is not None:
            import orjson
            body = b"\n".join(orjson.dumps(c) for c in DEMO_CUSTOMERS)
            p.ingest("customers", body, {"format": "json", "update_format": "raw"}, force=True)
        log.info("demo pipeline '%s' is %s", DEMO_NAME, p.status)
    except Exception:
        log.exception("could not set up the demo pipeline")
