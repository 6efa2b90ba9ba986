"""Checkpoint files: rewriting a checkpoint of the same position never leaves none behind."""

from __future__ import annotations

import pyarrow as pa

from webapp.engine.checkpoint import load_latest, write_checkpoint


def test_same_position_rewritten_and_a_crash_between_the_renames(tmp_path):
    tables = {"t": pa.table({"a": [1, 2]})}
    write_checkpoint(tmp_path, 5, tables, {"n": 1})
    write_checkpoint(tmp_path, 5, {"t": pa.table({"a": [1, 2, 3]})}, {"n": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000000000000000005"]
    man, got = load_latest(tmp_path)
    assert man["n"] == 2 and got["t"].column("a").to_pylist() == [1, 2, 3]
    # a crash after the old one was set aside and before the new one was renamed in
    (tmp_path / "ckpt-00000000000000000005").rename(tmp_path / "old-ckpt-00000000000000000005")
    man, got = load_latest(tmp_path)
    assert man["n"] == 2, "the set-aside checkpoint is still read"
