"""What a request to a pipeline that is not serving is told: its answer (503 PipelineInteractionNotDeployed,
as Feldera's) must say what is happening, not contradict the pipeline's status.

In-process with the real Engine, so that the shutdown can be held at a known point: while it checkpoints a
pipeline, the pipeline's runtime is gone but its status stays Running (the next start resumes it)."""

from __future__ import annotations

import threading

import pytest

from webapp.engine import Engine
from webapp.engine.errors import NotDeployed
from webapp.engine.testing import wait_until

PROGRAM = "CREATE TABLE t (id INT NOT NULL, v INT);\nCREATE MATERIALIZED VIEW s AS SELECT COUNT(*) AS n FROM t;\n"


def _running(eng, name: str):
    eng.put(name, {"name": name, "program_code": PROGRAM})
    p = eng.get(name)
    p.start()
    wait_until(lambda: p.status == "Running", 30, f"pipeline {name} to run")
    return p


def test_a_request_during_engine_shutdown_is_told_the_engine_is_shutting_down(tmp_path):
    eng = Engine(tmp_path / "data")
    held, release = threading.Event(), threading.Event()
    stopper = None
    try:
        p = _running(eng, "shop2")
        status, _ = p.ingest("t", b'{"id": 1, "v": 1}', {"format": "json", "update_format": "raw"}, force=False)
        assert status == 200
        checkpoint = p.checkpoint

        def held_checkpoint():
            held.set()
            assert release.wait(30), "the test never released the checkpoint"
            return checkpoint()
        p.checkpoint = held_checkpoint
        stopper = threading.Thread(target=eng.shutdown, daemon=True)
        stopper.start()
        assert held.wait(30), "the shutdown never reached the pipeline's checkpoint"

        assert p.status == "Running" and p.runtime is None  # the window the message is about
        with pytest.raises(NotDeployed) as e:
            p.running().stats()
        answer = e.value.to_dict()
        assert answer["error_code"] == "PipelineInteractionNotDeployed" and e.value.status == 503
        message = answer["message"]
        assert "shutting down" in message and "shop2" in message, message
        assert "not running" not in message and "start it first" not in message, message
        assert answer["details"]["engine_stopping"] is True and answer["details"]["status"] == "Running"
    finally:
        release.set()
        if stopper is not None:
            stopper.join(60)
        eng.shutdown()


def test_a_request_to_a_stopping_pipeline_is_told_it_is_stopping(tmp_path):
    eng = Engine(tmp_path / "data")
    release = threading.Event()
    try:
        p = _running(eng, "p")
        halt = p._halt

        def held_halt(rt):
            assert release.wait(30), "the test never released the stop"
            return halt(rt)
        p._halt = held_halt  # the stop's thread waits here, the pipeline Stopping
        p.stop()
        assert p.status == "Stopping"
        with pytest.raises(NotDeployed) as e:
            p.running()
        assert e.value.message == "Pipeline 'p' is stopping: start it again once it is Stopped"
        assert e.value.error_code == "PipelineInteractionNotDeployed"
        release.set()
        wait_until(lambda: p.status == "Stopped", 30, "the pipeline to stop")
        with pytest.raises(NotDeployed) as e:
            p.running()
        assert e.value.message == "Pipeline 'p' is not running (status Stopped): start it first"
    finally:
        release.set()
        eng.shutdown()
