"""Feldera's datagen examples driven by the official Feldera Python client against a Sluice engine.

Run as ``python datagen_client.py URL``; prints one JSON document with what the client saw. A process
of its own because ``import feldera`` replaces ``sys.stderr`` and ``sys.excepthook``.
"""

import json
import sys

from feldera import FelderaClient, PipelineBuilder

# The second example of Feldera's datagen page (docs/connectors/sources/datagen.md), unchanged.
STOCKS = """
CREATE TABLE Stocks (
    symbol VARCHAR NOT NULL,
    price_time BIGINT NOT NULL,  -- UNIX timestamp
    price DOUBLE NOT NULL
) with (
  'connectors' = '[{
    "transport": {
      "name": "datagen",
      "config": {
        "plan": [{
            "limit": 5,
            "rate": 1,
            "fields": {
                "symbol": { "values": ["AAPL", "GOOGL", "SPY", "NVDA"] },
                "price": { "strategy": "uniform", "range": [100, 10000] }
            }
        }]
      }
    }
  }]'
);
"""

PAUSED = """
CREATE TABLE t (id INT NOT NULL) WITH ('connectors' = '[{"name": "gen", "paused": true,
  "transport": {"name": "datagen", "config": {"plan": [{"limit": 3}]}}}]');
"""


def main(url: str) -> None:
    out: dict = {}
    client = FelderaClient(url)
    p = PipelineBuilder(client, "dg_stocks", STOCKS).create_or_replace()
    p.start()
    p.wait_for_completion(timeout_s=60)
    out["stocks"] = list(p.query("SELECT * FROM stocks ORDER BY price_time"))
    st = p.stats()
    out["stocks_complete"] = st.global_metrics.pipeline_complete
    out["stocks_inputs"] = [(i.endpoint_name, i.metrics.end_of_input, i.metrics.total_records) for i in st.inputs]
    p.stop(force=True)

    q = PipelineBuilder(client, "dg_paused", PAUSED).create_or_replace()
    q.start()
    stats = client.input_connector_stats("dg_paused", "t", "gen")
    out["paused_before"] = {"paused": stats["paused"], "eoi": stats["metrics"]["end_of_input"],
                            "complete": q.stats().global_metrics.pipeline_complete}
    client.start_input_connector("dg_paused", "t", "gen")
    q.wait_for_completion(timeout_s=60)
    out["paused_rows"] = sorted(r["id"] for r in q.query("SELECT id FROM t"))
    out["paused_after"] = client.input_connector_stats("dg_paused", "t", "gen")["paused"]
    q.stop(force=True)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
