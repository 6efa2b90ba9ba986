"""Keeping the engine process's memory small: no pandas, and Arrow's buffers from the C heap.

pyarrow asks whether pandas is importable each time it builds an array from Python values (its
array-like check), and importing pandas adds about 43 MiB to the worker's memory (measured with
psutil on this machine), a third of what DuckDB itself needs for a million-row table. The engine
never uses pandas (only the Python client does, in the caller's process), so the engine process
answers "not installed" for it, which pyarrow and DuckDB both handle as such.

Arrow allocates from its own pool (mimalloc), which keeps freed pages for reuse: after a bulk load
of 10^6 orders (issue 19's W1, ``by_city`` alone) the worker held 216-218 MiB with that pool even
after releasing its unused memory, 197-202 MiB with the C heap, at the same load time (two runs
each, alternating). On the C heap, ``engine/heap.py``'s trim after bulk work covers Arrow's
buffers too.
"""

from __future__ import annotations

import sys

import pyarrow as pa


class _NotInEngine:
    """A meta path finder that refuses pandas (and its submodules)."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is not loaded in the engine process (see webapp/server/footprint.py)",
                                      name=name)
        return None


def keep_pandas_out() -> None:
    """Install the finder once, before anything in this process has imported pandas."""
    if "pandas" in sys.modules:
        raise RuntimeError("pandas is already loaded in this process")
    if not any(isinstance(f, _NotInEngine) for f in sys.meta_path):
        sys.meta_path.insert(0, _NotInEngine())


def arrow_on_the_c_heap() -> None:
    pa.set_memory_pool(pa.system_memory_pool())


__all__ = ["arrow_on_the_c_heap", "keep_pandas_out"]
