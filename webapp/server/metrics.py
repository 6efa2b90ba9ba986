"""Prometheus metrics of running pipelines: every pipeline's (``GET /v0/metrics``) or one pipeline's
(``GET /v0/pipelines/{name}/metrics``), as text exposition or as JSON (``?format=json``)."""

from __future__ import annotations


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_GLOBAL = [
    ("total_input_records", "counter", "Records accepted by ingress."),
    ("total_input_bytes", "counter", "Bytes accepted by ingress."),
    ("total_processed_records", "counter", "Records applied by completed steps."),
    ("buffered_input_records", "gauge", "Records accepted but not yet processed."),
    ("total_completed_steps", "counter", "Steps completed."),
    ("rss_bytes", "gauge", "Resident memory of the engine process."),
]


def families(pipelines) -> list[dict]:
    """Metric families ``{name, type, help, samples: [{labels, value}]}`` of ``pipelines``."""
    stats = {p.name: p.runtime.stats() for p in pipelines
             if p.runtime is not None and p.status in ("Running", "Paused")}

    def fam(name, kind, help_, samples):
        return {"name": name, "type": kind, "help": help_, "samples": samples}

    out = [fam("sluice_pipeline_up", "gauge", "1 when the pipeline is running or paused.",
               [{"labels": {"pipeline": p.name}, "value": 1 if p.name in stats else 0} for p in pipelines])]
    for key, kind, help_ in _GLOBAL:
        out.append(fam(f"sluice_{key}", kind, help_,
                       [{"labels": {"pipeline": n}, "value": st["global_metrics"].get(key, 0) or 0}
                        for n, st in stats.items()]))
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
        lines += [f"# HELP {f['name']} {f['help']}", f"# TYPE {f['name']} {f['type']}"]
        for s in f["samples"]:
            labels = ",".join(f'{k}="{_esc(str(v))}"' for k, v in s["labels"].items())
            lines.append(f"{f['name']}{{{labels}}} {s['value']}")
    return "\n".join(lines) + "\n"


def prometheus_text(engine) -> str:
    return render_text(families(engine.list()))


__all__ = ["families", "render_text", "prometheus_text"]
