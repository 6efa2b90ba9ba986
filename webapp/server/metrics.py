"""Prometheus text exposition of every running pipeline's counters (``GET /v0/metrics``)."""

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


def prometheus_text(engine) -> str:
    lines: list[str] = []
    running = [(p.name, p.runtime) for p in engine.list() if p.runtime is not None and p.status in ("Running", "Paused")]
    stats = {name: rt.stats() for name, rt in running}
    lines += ["# HELP sluice_pipeline_up 1 when the pipeline is running or paused.", "# TYPE sluice_pipeline_up gauge"]
    for p in engine.list():
        lines.append(f'sluice_pipeline_up{{pipeline="{_esc(p.name)}"}} {1 if p.name in stats else 0}')
    for key, kind, help_ in _GLOBAL:
        lines += [f"# HELP sluice_{key} {help_}", f"# TYPE sluice_{key} {kind}"]
        for name, st in stats.items():
            lines.append(f'sluice_{key}{{pipeline="{_esc(name)}"}} {st["global_metrics"].get(key, 0) or 0}')
    lines += ["# HELP sluice_step_latency_seconds Step latency over the last 1000 steps.",
              "# TYPE sluice_step_latency_seconds summary"]
    for name, st in stats.items():
        lat = st["global_metrics"]["step_latency_msecs"]
        for q, k in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99")):
            if lat.get(k) is not None:
                lines.append(f'sluice_step_latency_seconds{{pipeline="{_esc(name)}",quantile="{q}"}} {lat[k] / 1000:.6f}')
    lines += ["# HELP sluice_egress_streams Open egress streams.", "# TYPE sluice_egress_streams gauge",
              "# HELP sluice_egress_dropped_chunks_total Chunks dropped for slow readers without backpressure.",
              "# TYPE sluice_egress_dropped_chunks_total counter"]
    for name, st in stats.items():
        outs = st["outputs"]
        lines.append(f'sluice_egress_streams{{pipeline="{_esc(name)}"}} {len(outs)}')
        lines.append(f'sluice_egress_dropped_chunks_total{{pipeline="{_esc(name)}"}} '
                     f'{sum(o["metrics"]["dropped_chunks"] for o in outs)}')
    return "\n".join(lines) + "\n"
