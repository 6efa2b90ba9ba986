"""Feldera's SQL on DuckDB: the dialect, the declared types, the view translation and compile errors.

``compile_program`` reads a whole program; callers use the names below, as they did when this was one module.
"""

from .errors import SqlError, _clean_duck_message, _duck_error_offset
from .program import Program, canonical, compile_program, quote

__all__ = ["SqlError", "Program", "compile_program", "canonical", "quote"]
