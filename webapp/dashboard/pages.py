"""The server-rendered pages; each passes its data once, as JSON, to the page's script module.

    /                                   pipelines, status and throughput
    /pipelines/<p>                      tables, views, lifecycle buttons, live statistics
    /pipelines/<p>/views/<v>            the live table of one view
    /pipelines/<p>/live?views=a,b       several views side by side (mode and filters in the URL too)
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from webapp.client import NotFoundError, SluiceError, TransportError

from .api import summary
from .upstream import relations, resolve

bp = Blueprint("pages", __name__)


def _upstream():
    return current_app.extensions["sluice_upstream"]


def _base() -> dict:
    return {"upstream": current_app.config["UPSTREAM"],
            "demo_pipeline": current_app.config.get("DEMO_PIPELINE") or None}


@bp.get("/")
def index():
    data = _base() | {"pipelines": [], "error": None}
    try:
        data["pipelines"] = [summary(st) for st in _upstream().pipelines()]
    except TransportError:
        data["error"] = f"the pipeline server at {data['upstream']} is not answering"
    except SluiceError as e:
        data["error"] = e.message
    return render_template("index.html", data=data)


def _pipeline_data(name: str) -> tuple[dict, int]:
    """The pipeline's page data and status: 404 (``missing``) when the server has no such pipeline;
    ``unreachable`` (with the transport's text in ``error_details``) when the server does not answer."""
    data = _base() | {"pipeline": name, "status": None, "relations": [], "error": None, "missing": False,
                      "unreachable": False}
    try:
        st = _upstream().status(name, "all")  # a hung server: "not answering" after STATUS_TIMEOUT, not 90 s
        data["status"] = summary(st)
        data["relations"] = [r.describe() for r in relations(st.get("program_info"))]
        data["program_code"] = st.get("program_code") or ""
    except NotFoundError:
        data["missing"] = True
        data["error"] = f"no pipeline named '{name}'"
        return data, 404
    except TransportError as e:
        data["unreachable"] = True
        data["error"] = f"the pipeline server at {data['upstream']} is not answering"
        data["error_details"] = e.message
    except SluiceError as e:
        data["error"] = e.message
    return data, 200


@bp.get("/pipelines/<name>")
def pipeline(name):
    data, status = _pipeline_data(name)
    return render_template("pipeline.html", data=data), status


def _live(name: str, views: list[str]) -> tuple[dict, int]:
    data, status = _pipeline_data(name)
    data["views"] = views
    data.pop("program_code", None)
    return data, status


@bp.get("/pipelines/<name>/views/<view>")
def view(name, view):
    data, status = _live(name, [view])
    known = [r["name"] for r in data["relations"]]
    if status == 200 and known and resolve(known, view) is None:  # none known: still compiling, perhaps
        # The server has no such view: a 404, whose panel says so and links the views it has (and keeps
        # asking, since a new program may add the view).
        status = 404
    return render_template("live.html", data=data), status


@bp.get("/pipelines/<name>/live")
def live(name):
    data, status = _live(name, [v for v in request.args.get("views", "").split(",") if v])
    return render_template("live.html", data=data), status


__all__ = ["bp"]
