"""Every call the dashboard makes to the pipeline server, through ``webapp.client``.

The dashboard never imports the engine: it speaks Feldera's documented ``/v0`` API, so it works
against ``sluice engine`` and a real Feldera alike. ``Relation`` reads what the schema says about a
table or view; the key and maintenance strategy come from ``program_info.sluice`` when the server is
Sluice's engine, and are absent on Feldera (the browser then lets the user choose a key).

``open_egress`` reads raw chunk lines through ``Pipeline.egress``, not ``Pipeline.listen``: the hub
chooses backpressure per view and needs the keepalives, whose sequence numbers show gaps, and
``listen`` always asks for ``backpressure=true`` and hides them. ``time_series`` uses
``Pipeline.time_series``. Everything goes through the public ``webapp.client`` API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import quote

import httpx

from webapp.client import ApiError, Client, NotFoundError, Pipeline, SchemaError, WaitTimeout
from webapp.client.output import EgressStream

# "stop" is Feldera's graceful stop (it checkpoints first where the server can), "kill" its force stop;
# Sluice's engine does the same for both: it processes what was acknowledged, then checkpoints.
# "clear" deletes the stored data of a stopped pipeline.
ACTIONS = ("start", "start_paused", "pause", "resume", "stop", "kill", "clear")


@dataclass
class Relation:
    """What the dashboard needs to know about one table or view."""

    name: str
    segment: str  # how the name goes into a URL path (quoted when case-sensitive)
    fields: list[dict]
    is_table: bool
    materialized: bool
    strategy: str | None = None
    unique_keys: list[list[str]] = field(default_factory=list)
    primary_key: list[str] | None = None

    def columns(self) -> list[dict]:
        return [{"name": _col(f), "type": _type_text(f.get("columntype") or {})} for f in self.fields]

    @property
    def sql_name(self) -> str:
        """The name to quote in SQL: as declared when case-sensitive (quoted in URLs), else folded."""
        return self.name if self.segment.startswith('"') else self.name.lower()

    def key(self) -> list[str] | None:
        """The columns that identify a row, if the server says (primary key or a unique key)."""
        if self.primary_key:
            return [k.lower() for k in self.primary_key]
        if self.unique_keys:
            return list(self.unique_keys[0])
        return None

    def lateness(self) -> list[dict]:
        """The columns declared with ``LATENESS`` (Feldera's schema ``fields[].lateness``, its SQL text): rows
        that far behind the largest value an earlier step took are dropped."""
        return [{"column": _col(f), "lateness": f["lateness"]} for f in self.fields
                if isinstance(f.get("lateness"), str)]

    def describe(self) -> dict:
        return {"name": self.name, "kind": "table" if self.is_table else "view", "columns": self.columns(),
                "materialized": self.materialized, "strategy": self.strategy, "key": self.key(),
                "unique_keys": self.unique_keys, "lateness": self.lateness()}


def _col(f: dict) -> str:
    return f["name"] if f.get("case_sensitive") else f["name"].lower()


def _type_text(ct: dict) -> str:
    kind = str(ct.get("type", "?"))
    if kind == "DECIMAL" and ct.get("precision") is not None:
        kind += f"({ct.get('precision')}, {ct.get('scale', 0)})"
    elif kind in ("VARCHAR", "CHAR") and (ct.get("precision") or -1) > 0:
        kind += f"({ct['precision']})"
    elif kind == "ARRAY" and ct.get("component"):
        kind = _type_text(ct["component"]) + " ARRAY"
    if ct.get("nullable") is False:
        kind += " NOT NULL"
    return kind


def relations(program_info: dict | None) -> list[Relation]:
    """Every table and view in ``program_info``, tables first."""
    info = program_info or {}
    schema = info.get("schema") or {}
    extra = ((info.get("sluice") or {}).get("views")) or {}
    out = []
    for rel in schema.get("inputs") or []:
        out.append(Relation(rel["name"], _segment(rel), rel.get("fields") or [], True,
                            bool(rel.get("materialized")), None, [], rel.get("primary_key") or None))
    for rel in schema.get("outputs") or []:
        x = extra.get(rel["name"]) or {}
        out.append(Relation(rel["name"], _segment(rel), rel.get("fields") or [], False,
                            bool(x.get("materialized", rel.get("materialized"))), x.get("strategy"),
                            [list(k) for k in x.get("unique_keys") or []], rel.get("primary_key") or None))
    return out


def resolve(names: list[str], name: str) -> str | None:
    """Which of the declared ``names`` the name in a dashboard URL picks: the declared name itself (the
    dashboard's own links write it so), else what the pipeline server picks for a name in a ``/v0`` URL,
    Feldera's rule (``canonical_identifier``; Sluice's engine applies it too): ``"Quoted"`` exactly, any
    other name folded to lower case, so ``Orders`` finds ``orders`` but not a case-sensitive ``"Orders"``."""
    if name in names:
        return name
    canonical = name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name.lower()
    return canonical if canonical in names else None


def _segment(rel: dict) -> str:
    return f'"{rel["name"]}"' if rel.get("case_sensitive") else rel["name"]


class Upstream:
    """The pipeline server at ``url``, through one thread-safe ``webapp.client.Client``."""

    def __init__(self, url: str, api_key: str | None = None, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = 30.0, status_timeout: float = 5.0):
        self.url = url
        self.client = Client(url, api_key=api_key, timeout=timeout, transport=transport, retries=2, backoff=0.25,
                             wait_timeout=30.0)
        # The reads pages poll (status, statistics, the list): a hung server (a stopped process still accepts
        # connections) must show as not answering within STATUS_TIMEOUT, not after 30 s times three tries;
        # not retried, since the page asks again anyway.
        self.quick = Client(url, api_key=api_key, timeout=status_timeout, transport=transport, retries=0,
                            wait_timeout=30.0)
        self._api_key, self._transport, self._raw = api_key, transport, None

    def close(self) -> None:
        self.client.close()
        self.quick.close()
        if self._raw is not None:
            self._raw.close()

    def pipeline(self, name: str) -> Pipeline:
        return Pipeline(self.client, name)

    def pipelines(self) -> list[dict]:
        """The status JSON of every pipeline (``selector=status``)."""
        out = []
        for p in self.quick.pipelines():
            try:
                out.append(p.describe("status"))
            except NotFoundError:
                pass  # deleted meanwhile
        return sorted(out, key=lambda d: d.get("name", ""))

    def catalog(self) -> list[dict]:
        """Every pipeline's name and status with the names and kinds of its tables and views, by name."""
        out = []
        for p in self.client.pipelines():
            try:
                st = p.describe("all")
            except NotFoundError:
                continue  # deleted meanwhile
            out.append({"name": st.get("name", p.name), "status": st.get("deployment_status"),
                        "relations": [{"name": r.name, "kind": "table" if r.is_table else "view"}
                                      for r in relations(st.get("program_info"))]})
        return sorted(out, key=lambda d: d["name"])

    def describe(self, name: str) -> dict:
        return self.pipeline(name).describe("all")

    def status(self, name: str, selector: str = "status") -> dict:
        """``describe`` for a page's status poll: ``TransportError`` after ``status_timeout`` s of silence."""
        return Pipeline(self.quick, name).describe(selector)

    def deployment_status(self, name: str) -> str | None:
        """``deployment_status`` alone (``selector=status``: no program, cheap enough for every upload part)."""
        return self.pipeline(name).describe("status").get("deployment_status")

    def relation(self, pipeline: str, name: str) -> Relation:
        """The table or view ``name``; raises ``NotFoundError`` / ``SchemaError`` when there is none, and
        ``ApiError`` (409 ``ProgramNotCompiled``) while the program has not compiled (its relations are not known: not "no such view")."""
        st = self.pipeline(pipeline).describe("all")
        info = st.get("program_info")
        if info is None:
            raise ApiError(f"pipeline {pipeline!r} has no compiled program (program status "
                           f"{st.get('program_status')}): its tables and views are known once it compiles",
                           error_code="ProgramNotCompiled", status=409,
                           details={"program_status": st.get("program_status")})
        rels = relations(info)
        found = resolve([r.name for r in rels], name)
        for r in rels:
            if r.name == found:
                return r
        raise SchemaError(f"pipeline {pipeline!r} has no table or view named {name!r}",
                          details={"known": [r.name for r in rels]})

    def stats(self, name: str) -> dict:
        return Pipeline(self.quick, name).stats()

    def time_series(self, name: str) -> dict | None:
        """``GET /time_series`` (Sluice and recent Feldera); None where the server has no such endpoint."""
        try:
            return Pipeline(self.quick, name).time_series()
        except NotFoundError:
            return None

    def action(self, name: str, action: str) -> None:
        """Ask for a lifecycle change; returns without waiting for the new state."""
        p = self.pipeline(name)
        if action == "start":
            p.start(wait=False)
        elif action == "start_paused":
            p.start_paused(wait=False)
        elif action == "pause":
            p.pause(wait=False)
        elif action == "resume":
            p.resume(wait=False)
        elif action == "stop":
            p.stop(force=False, wait=False)
        elif action == "kill":
            p.stop(force=True, wait=False)
        elif action == "clear":
            p.clear_storage(wait=False)
        else:
            raise ValueError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")

    def delete(self, name: str) -> bool:
        """Delete a stopped pipeline with its stored data; True when its storage had to be cleared first.

        The server deletes only a pipeline whose storage is cleared (Feldera's rule), so a stopped one's is
        cleared first, and the caller tells the user so. A pipeline that is not stopped is not touched: the
        delete's own refusal (400 ``DeleteRestrictedToFullyStopped``) is raised."""
        p = self.pipeline(name)
        st = p.describe("status")
        clear = st.get("deployment_status") == "Stopped" and st.get("storage_status") != "Cleared"
        if clear:
            p.clear_storage()
        p.delete()
        return clear

    def query(self, pipeline: str, sql: str, fmt: str) -> httpx.Response:
        """``GET /query`` answered and unread (``ApiError`` before the first row); close it when done."""
        return self.pipeline(pipeline).query_raw(sql, fmt)

    def query_rows(self, pipeline: str, sql: str) -> list[dict]:
        """The rows of a small ad-hoc query (``format=json``), read whole; ``ApiError`` when refused."""
        return list(self.pipeline(pipeline).query(sql))

    def save_program(self, name: str, code: str, description: str) -> None:
        """Create ``name`` or replace its program (stored data kept where the server keeps it); waits until
        compiled. Raises ``CompilationError`` (its ``messages`` have line and column) when the SQL is wrong."""
        self.client.create_pipeline(name, code, description=description, clear_storage=False, wait=True)

    def push(self, pipeline: str, segment: str, events: list[dict], *, force: bool = False) -> str:
        """Send ``{"insert": row}`` / ``{"delete": row}`` events to a table as one JSON array (all or
        nothing on the engine); returns the completion token without waiting for it. Raises
        ``PipelineStateError`` (``PipelinePaused``) when paused and not ``force``, ``BadRequestError``
        (``ParseErrors``, with ``event_number`` per bad event) when the engine refuses records."""
        return self.pipeline(pipeline).input_json(segment, events, update_format="insert_delete", force=force,
                                                  wait=False)

    def completion(self, pipeline: str, token: str, wait: float = 0.0) -> dict:
        """``completion_status`` of ``token``: ``{"status": "complete", ...}`` once processed (waiting up
        to ``wait`` seconds for it), else ``{"status": "inprogress"}``."""
        try:
            return self.pipeline(pipeline).wait_for_token(token, timeout_s=wait)
        except WaitTimeout:
            return {"status": "inprogress"}

    def open_egress(self, pipeline: str, segment: str, *, backpressure: bool, snapshot: bool,
                    read_timeout: float) -> Egress:
        """``POST /egress/{segment}?format=json``, answered and unread; close it when done."""
        stream = self.pipeline(pipeline).egress(segment, backpressure=backpressure, send_snapshot=snapshot,
                                                read_timeout=read_timeout)
        return Egress(stream)

    def _raw_client(self) -> httpx.Client:
        if self._raw is None:  # made on first use: in the serving worker, after gunicorn forks
            auth = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._raw = httpx.Client(base_url=self.url.rstrip("/") + "/v0", headers=auth, transport=self._transport,
                                     timeout=httpx.Timeout(30.0, read=600.0))
        return self._raw

    def ingress_stream(self, pipeline: str, segment: str, params: dict, body: Iterator[bytes],
                       headers: dict | None = None) -> tuple[int, dict]:
        """``POST /ingress/{segment}`` with ``body`` sent as it is produced (never held whole): the server's
        status and JSON answer, whatever the status. ``webapp.client`` sends ingress bodies as bytes, so
        this uses a plain httpx client (same URL and key). Without a Content-Length in ``headers`` the body goes
        chunked, and an exception from ``body`` then aborts it unfinished, so the server stores nothing of it.
        Transport errors raise ``httpx.HTTPError``."""
        path = f"/pipelines/{quote(pipeline, safe='')}/ingress/{quote(segment, safe='')}"
        return _answer(self._raw_client().post(path, params=params, content=body, headers=headers))

    def logs(self, pipeline: str, cursor: str | None, read_timeout: float) -> httpx.Response:
        """``GET /logs`` answered and unread (close it when done): the retained lines, then each new one,
        with the position headers (``feldera-logs-epoch``, ``-seq``, ``-gap``). ``webapp.client`` has no
        streaming logs call, so this uses the plain httpx client; silence longer than ``read_timeout``
        raises ``httpx.ReadTimeout`` from the read."""
        path = f"/pipelines/{quote(pipeline, safe='')}/logs"
        raw = self._raw_client()
        req = raw.build_request("GET", path, params={"cursor": cursor} if cursor else None,
                                timeout=httpx.Timeout(30.0, read=read_timeout))
        return raw.send(req, stream=True)

    @staticmethod
    def lines(resp: Egress) -> Iterator[bytes]:
        """The stream's raw chunk lines (keepalives included), partial lines buffered across reads."""
        return resp.stream.lines()


def _answer(resp: httpx.Response) -> tuple[int, dict]:
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, {"message": f"the pipeline server answered {resp.status_code}: {resp.text[:200]}",
                                  "error_code": "InvalidResponse", "details": None}


class Egress:
    """An open upstream egress stream as the feed holds it: ``close()``, plus the HTTP response's
    ``extensions`` (the feed shuts the socket down through them to wake its blocked reader)."""

    def __init__(self, stream: EgressStream):
        self.stream = stream

    @property
    def extensions(self) -> dict:
        return self.stream.response.extensions

    def close(self) -> None:
        self.stream.close()

__all__ = ["Upstream", "Egress", "Relation", "relations", "ACTIONS"]
