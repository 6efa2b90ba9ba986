"""Connector endpoints beyond start, pause and stats (which webapp/server/api.py serves): an input
connector's completion token, and the views' connectors, of which Sluice has none."""

from __future__ import annotations

from flask import Blueprint

from ..engine import errors as E
from .helpers import current_engine, json_response

bp = Blueprint("v0_connectors", __name__, url_prefix="/v0")


@bp.get("/pipelines/<name>/tables/<path:table>/connectors/<connector>/completion_token")
def completion_token(name, table, connector):
    """A token for ``completion_status`` that completes once everything the connector has fed so far is
    processed (Feldera's meaning). It covers every input accepted until now, the connector's included."""
    p = current_engine().get(name)
    p.connector(table, connector)  # 404 for an unknown table or connector, 503 when not running
    return json_response({"token": p.running().current_token()})


@bp.route("/pipelines/<name>/views/<path:view>/connectors/<connector>/<action>", methods=["GET", "POST"])
def output_connector(name, view, connector, action):
    rt = current_engine().get(name).running()  # as Feldera: a stopped pipeline answers 503 first
    if rt.program.output(view) is None:
        raise E.UnknownOutputStream(view)
    raise E.UnknownOutputEndpoint(connector)
