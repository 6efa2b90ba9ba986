"""Sluice's Python client: pipelines over Feldera's ``/v0`` REST API, from a Sluice engine or a Feldera server.

    from webapp.client import Client

    client = Client("http://127.0.0.1:8080")
    sql = "CREATE TABLE users (id INT, name VARCHAR) WITH ('materialized' = 'true');"
    pipeline = client.create_pipeline("shop", sql)
    pipeline.start()
    pipeline.input_json("users", {"id": 1, "name": "Alice"})
    print(list(pipeline.query("SELECT * FROM users")))

It speaks HTTP only (httpx) and imports nothing else from Sluice, so it can ship on its own.
See ``docs/client.md`` for the whole API and how it differs from the official ``feldera`` client.
"""

from .client import Client
from .errors import (
    ApiError,
    BadRequestError,
    CompilationError,
    NotFoundError,
    PipelineStateError,
    SchemaError,
    SluiceError,
    StreamError,
    TransportError,
    UnavailableError,
    WaitTimeout,
)
from .operations import CheckpointStatus, LogStream
from .output import Chunk, ForeachHandle, OutputHandler
from .pipeline import Pipeline
from .status import PipelineStatus

__all__ = [
    "Client", "Pipeline", "PipelineStatus", "OutputHandler", "Chunk", "ForeachHandle", "LogStream", "CheckpointStatus",
    "SluiceError", "ApiError", "BadRequestError", "NotFoundError", "UnavailableError", "TransportError",
    "StreamError", "CompilationError", "PipelineStateError", "SchemaError", "WaitTimeout",
]
