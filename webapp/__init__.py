"""Sluice: push rows into streaming SQL pipelines over HTTP and watch the views change live."""

__version__ = "0.1.0"

# The Feldera release whose /v0 API Sluice's engine speaks; reported by GET /v0/config.
FELDERA_API_VERSION = "0.369.0"

__all__ = ["__version__", "FELDERA_API_VERSION"]
