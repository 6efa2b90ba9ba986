"""The pipeline engine: programs, tables, views, ingress, egress and lifecycle. No HTTP here.

See ``README.md`` in this folder for its contract and threading model.
"""

from .engine import DataDirLocked, Engine, Settings
from .errors import EngineError
from .pipeline import Pipeline
from .sql import Program, SqlError, compile_program

__all__ = ["Engine", "Settings", "DataDirLocked", "EngineError", "Pipeline", "Program", "SqlError",
           "compile_program"]
