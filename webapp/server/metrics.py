"""Prometheus metrics of running pipelines: every pipeline's (``GET /v0/metrics``) or one pipeline's
(``GET /v0/pipelines/{name}/metrics``), as text exposition or as JSON (``?format=json``)."""

from __future__ import annotations


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# Feldera's names (docs.feldera.com, "Pipeline Metrics") for what its statistics and Sluice's share, so that
# dashboards and alerts written for Feldera read Sluice unchanged: (name, type, help, global_metrics key).
_GLOBAL = [
    ("records_input_total", "counter", "Total amount of data received from all connectors, in records.",
     "total_input_records"),
    ("records_input_bytes_total", "counter", "Total amount of data received from all connectors, in bytes.",
     "total_input_bytes"),
    ("records_processed_total", "counter", "Total amount of input processed by the pipeline, in records.",
     "total_processed_records"),
    ("records_input_buffered", "gauge", "Total amount of data currently buffered by all endpoints, in records.",
     "buffered_input_records"),
    ("records_input_buffered_bytes", "gauge", "Total amount of data currently buffered by all endpoints, in bytes.",
     "buffered_input_bytes"),
    ("dbsp_steps_total", "counter", "Total number of steps executed.", "total_completed_steps"),
    ("pipeline_complete", "counter", "Transitions from 0 to 1 when the pipeline completes.", "pipeline_complete"),
    ("process_resident_memory_bytes", "gauge", "Resident set size of the engine process in bytes.", "rss_bytes"),
]
# Per input connector, labelled ``endpoint`` as Feldera's: (name, help, connector metrics key).
_INPUT = [
    ("input_connector_records_total", "Total number of records received by an input connector.", "total_records"),
    ("input_connector_bytes_total", "Total number of bytes received by an input connector.", "total_bytes"),
    ("input_connector_errors_parse_total",
     "Total number of errors encountered parsing records received by the input connector.", "num_parse_errors"),
    ("input_connector_errors_transport_total",
     "Total number of errors encountered by the input connector at the transport layer.", "num_transport_errors"),
]


def families(pipelines) -> list[dict]:
    """Metric families of ``pipelines`` in the shape of Feldera's ``?format=json``:
    ``{key, type, description, values: [{labels, value}]}``."""
    stats = {p.name: p.runtime.stats() for p in pipelines
             if p.runtime is not None and p.status in ("Running", "Paused")}

    def fam(name, kind, help_, samples):
        return {"key": name, "type": kind, "description": help_, "values": samples}

    out = [fam("sluice_pipeline_up", "gauge", "1 when the pipeline is running or paused.",
               [{"labels": {"pipeline": p.name}, "value": 1 if p.name in stats else 0} for p in pipelines])]
    for name, kind, help_, key in _GLOBAL:
        out.append(fam(name, kind, help_, [{"labels": {"pipeline": n}, "value": int(st["global_metrics"].get(key) or 0)}
                                           for n, st in stats.items()]))
    for name, help_, key in _INPUT:
        out.append(fam(name, "counter", help_,
                       [{"labels": {"pipeline": n, "endpoint": i["endpoint_name"]}, "value": i["metrics"].get(key) or 0}
                        for n, st in stats.items() for i in st["inputs"]]))
    lat = []
    for n, st in stats.items():
        ms = st["global_metrics"]["step_latency_msecs"]
        lat += [{"labels": {"pipeline": n, "quantile": q}, "value": round(ms[k] / 1000, 6)}
                for q, k in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99")) if ms.get(k) is not None]
    out.append(fam("sluice_step_latency_seconds", "summary", "Step latency over the last 1000 steps.", lat))
    view_time = [{"labels": {"pipeline": n, "view": v}, "value": round(msecs / 1000, 6)}
                 for n, st in stats.items() for v, msecs in st["global_metrics"].get("view_time_msecs", {}).items()]
    out.append(fam("sluice_view_time_seconds_total", "counter", "Time spent updating each view.", view_time))
    out.append(fam("sluice_egress_streams", "gauge", "Open egress streams.",
                   [{"labels": {"pipeline": n}, "value": sum(1 for o in st["outputs"] if not o.get("closed"))}
                    for n, st in stats.items()]))
    out.append(fam("sluice_egress_dropped_chunks_total", "counter",
                   "Chunks dropped for slow readers without backpressure.",
                   [{"labels": {"pipeline": n}, "value": sum(o["metrics"]["dropped_chunks"] for o in st["outputs"])}
                    for n, st in stats.items()]))
    return out


def render_text(fams: list[dict]) -> str:
    lines: list[str] = []
    for f in fams:
        lines += [f"# HELP {f['key']} {f['description']}", f"# TYPE {f['key']} {f['type']}"]
        for s in f["values"]:
            labels = ",".join(f'{k}="{_esc(str(v))}"' for k, v in s["labels"].items())
            lines.append(f"{f['key']}{{{labels}}} {s['value']}")
    return "\n".join(lines) + "\n"


def prometheus_text(engine) -> str:
    return render_text(families(engine.list()))


__all__ = ["families", "render_text", "prometheus_text"]
