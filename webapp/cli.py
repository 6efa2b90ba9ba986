"""The ``sluice`` command: ``engine`` (pipeline server), ``dashboard`` (browser UI), ``up`` (both, and a demo)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from . import __version__
from ._serving import port_problem

def _env_int(var: str, fallback: int) -> dict:
    """``type`` and ``default`` of an integer option whose default comes from ``$var``: argparse converts a
    string default only for the command it parses, so a bad value stops just that command, with an
    error naming the variable, rather than every command with a traceback while the parser is built."""
    def convert(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (if you did not give this "
                                             f"option, it came from ${var})") from None
    return {"type": convert, "default": os.environ.get(var, str(fallback))}


def _engine_flags(p: argparse.ArgumentParser, port_flag: str = "--port") -> None:
    """The flags of every engine setting (``webapp/engine/settings.py``); ``up`` spells ``--port`` otherwise."""
    from .engine.settings import SETTINGS
    from .settings import add_flags
    add_flags(p, SETTINGS, rename={"--port": port_flag})


def _resolve(a, command: str, names: list[str] | None = None) -> str | None:
    """Fill the engine settings left off the command line from ``SLUICE_*`` variables, else defaults; the
    message for a variable that holds no valid value, or None."""
    from .engine.settings import BY_NAME, SETTINGS
    from .settings import SettingError, resolve
    try:
        resolve(a, SETTINGS if names is None else [BY_NAME[n] for n in names], os.environ)
    except SettingError as e:
        return f"sluice {command}: {e}"
    return None


def api_keys(a) -> list[str]:
    keys = [os.environ["SLUICE_API_KEY"].strip()] if os.environ.get("SLUICE_API_KEY", "").strip() else []
    if getattr(a, "api_key_file", None):
        keys += [line.strip() for line in Path(a.api_key_file).read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    return keys


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _server_config(a, extra_origins=()) -> dict:
    keys = api_keys(a)
    if a.host not in LOOPBACK and not keys and not a.insecure:
        raise SystemExit(f"sluice: refusing to listen on {a.host} without an API key: anyone who can reach it could "
                         "read and write every table. Set SLUICE_API_KEY or --api-key-file, or pass --insecure.")
    return {"CORS_ORIGINS": list(a.cors_origin) + list(extra_origins),
            "ALLOWED_HOSTS": list(a.allowed_host) or None,
            "MAX_CONTENT_LENGTH": int(a.max_body_mb * (1 << 20)),
            "API_KEYS": keys}


def _busy_port(command: str, host: str, *ports: tuple[int, str]) -> bool:
    """Say why the first of ``ports`` (port, its flag) that cannot be listened on cannot be, if any."""
    for port, flag in ports:
        if (problem := port_problem(host, port, flag)) is not None:
            print(f"sluice {command}: {problem}", file=sys.stderr)
            return True
    return False


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _cmd_engine(a) -> int:
    from .engine.engine import DataDirLocked
    from .engine.logbuf import ConsoleFormatter
    for handler in logging.getLogger().handlers:  # main()'s: its lines now say which pipeline they are about
        handler.setFormatter(ConsoleFormatter(LOG_FORMAT))
    from .engine.settings import engine_settings
    from .server.run import serve
    if (problem := _resolve(a, "engine")) is not None:
        print(problem, file=sys.stderr)
        return 2
    bootstrap = None
    if a.program or a.pipeline:
        if not (a.program and a.pipeline):
            print("sluice engine: --program and --pipeline go together", file=sys.stderr)
            return 2
        code = Path(a.program).read_text()
        name = a.pipeline

        def bootstrap(engine):
            log = logging.getLogger("sluice.engine")
            try:
                p = engine.pipelines.get(name)
                if p is None or p.program_code != code:
                    if p is not None and p.status != "Stopped":
                        p.stop_now()
                        p.status = p.desired = "Stopped"  # fully stopped: a program edit needs both
                    engine.put(name, {"program_code": code})
                p = engine.get(name)
                if p.program is None:
                    # the engine serves on, so the program can be fixed without a restart: say how
                    from .client.errors import CompilationError
                    text = CompilationError.from_program_error(name, p.program_status, p.program_error).message
                    log.error("program %s has errors: %s\nThe engine keeps running; pipeline %r stays stopped in "
                              "%s until its program is fixed: correct %s and run this command again, or send the "
                              "corrected program (PATCH /v0/pipelines/%s with program_code, or the dashboard's "
                              "program editor).", a.program, text, name, p.program_status, a.program, name)
                elif p.status == "Stopped":
                    p.start("running")
            except Exception:
                log.exception("could not create pipeline %s", name)
    if _busy_port("engine", a.host, (a.engine_port, "--port")):
        return 2
    try:
        serve(a.data_dir, engine_settings(a), a.host, a.engine_port, a.threads, bootstrap=bootstrap,
              server_config=_server_config(a))
    except DataDirLocked as e:
        print(f"sluice engine: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_up(a) -> int:
    """The engine and the dashboard, each its own gunicorn process, watched over by this one."""
    from .dashboard.launcher import run_up
    if (problem := _resolve(a, "up")) is not None:
        print(problem, file=sys.stderr)
        return 2
    # Both ports before anything starts: a busy dashboard port found later would leave the engine and
    # the demo running behind a dashboard that keeps failing.
    if _busy_port("up", a.host, (a.engine_port, "--engine-port"), (a.port, "--port")):
        return 2
    return run_up(a, _engine_argv(a))


def _engine_argv(a) -> list[str]:
    """``sluice engine`` flags that reproduce ``up``'s (resolved) engine settings."""
    from .engine.settings import SETTINGS
    argv: list[str] = []
    for s in SETTINGS:
        v = getattr(a, s.dest)
        if s.switch:
            argv += [s.flag] if v else []
        elif s.repeat:
            for item in v:
                argv += [s.flag, str(item)]
        elif v is not None:
            # The engine child may run elsewhere in the tree; a relative key file must still name the same file.
            argv += [s.flag, str(Path(v).resolve()) if s.name == "API_KEY_FILE" else str(v)]
    return argv


def _cmd_dashboard(a) -> int:
    from .dashboard.serve import serve
    config = {"UPSTREAM": a.upstream}
    if a.api_key_file:
        config["API_KEY_FILE"] = a.api_key_file
    if a.allowed_host:
        config["ALLOWED_HOSTS"] = list(a.allowed_host)
    if a.allowed_origin:
        config["ALLOWED_ORIGINS"] = list(a.allowed_origin)
    if a.demo_data:
        config["DEMO_DATA"] = True
    if a.users_file:
        config["USERS_FILE"] = str(Path(a.users_file).resolve())
        if not Path(a.users_file).exists():
            raise SystemExit(f"sluice dashboard: no users file {a.users_file}: make one with "
                             f"'sluice user add NAME --role editor --users-file {a.users_file}'")
        from .dashboard.users import UsersFileError, read_users
        try:
            read_users(a.users_file)
        except UsersFileError as e:
            raise SystemExit(f"sluice dashboard: {e}. {_FIX_USERS_FILE}") from None
    if a.proxy_fix:
        config["PROXY_FIX"] = True
    if a.state_dir:
        config["STATE_DIR"] = str(Path(a.state_dir).resolve())
    if a.host not in LOOPBACK and not a.insecure and not a.users_file:
        raise SystemExit(f"sluice dashboard: refusing to listen on {a.host} without sign-in: anyone who can reach "
                         "it could read every view and start or stop pipelines. Pass --users-file (see "
                         "'sluice user add'), or put an authenticating proxy in front and pass --insecure.")
    if a.host not in ("0.0.0.0", "::", "") and a.host not in LOOPBACK:
        config["ALLOWED_HOSTS"] = list(config.get("ALLOWED_HOSTS") or []) + [a.host]
    if _busy_port("dashboard", a.host, (a.port, "--port")):
        return 2
    serve(a.host, a.port, config, worker_class=a.worker_class, threads=a.threads)
    return 0


def _read_password() -> str:
    """From the terminal (asked twice), or the first line of stdin when it is not a terminal."""
    import getpass
    if sys.stdin.isatty():
        pw = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != pw:
            raise SystemExit("sluice user: the passwords differ")
        return pw
    return sys.stdin.readline().rstrip("\r\n")


_FIX_USERS_FILE = "Correct it by hand (or put back a copy of it), then run this again"


def _cmd_user(a) -> int:
    from .dashboard import users
    if not a.users_file:
        print("sluice user: pass --users-file FILE (or set SLUICE_USERS_FILE)", file=sys.stderr)
        return 2
    try:
        users.read_users(a.users_file)  # before asking for a password that could not be saved
        return _user_action(a, users)
    except users.UsersFileError as e:
        print(f"sluice user: {e}. {_FIX_USERS_FILE}", file=sys.stderr)
        return 1


def _user_action(a, users) -> int:
    if a.user_cmd == "add":
        try:
            if a.api_key:
                key = users.add_key_user(a.users_file, a.name, a.role)
            else:
                users.add_user(a.users_file, a.name, a.role, _read_password())
        except ValueError as e:
            print(f"sluice user: {e}", file=sys.stderr)
            return 2
        if a.api_key:
            print(f"user {a.name} ({a.role}) saved in {a.users_file}; its API key, shown only now:\n{key}")
        else:
            print(f"user {a.name} ({a.role}) saved in {a.users_file}")
    elif a.user_cmd == "remove":
        if not users.remove_user(a.users_file, a.name):
            print(f"sluice user: no user {a.name} in {a.users_file}", file=sys.stderr)
            return 1
        print(f"user {a.name} removed from {a.users_file}")
    else:
        for name, rec in sorted(users.read_users(a.users_file).items()):
            ways = [w for w, k in (("password", "scrypt"), ("api-key", "api_key")) if rec.get(k)]
            print(f"{name}\t{rec.get('role')}\t{','.join(ways)}")
    return 0


def _cmd_wal(a) -> int:
    import json
    if (problem := _resolve(a, "wal", ["DATA_DIR"])) is not None:
        print(problem, file=sys.stderr)
        return 2
    from .engine.engine import DataDirLocked, lock_data_dir
    from .engine.wal import WalCorruption, scan, truncate_to_clean_prefix
    data = Path(a.data_dir)
    wal_dir = data / "wal"
    if not wal_dir.exists():
        print(f"no write-ahead log under {data}")
        return 0
    try:
        fd = lock_data_dir(data)
    except DataDirLocked as e:
        print(f"sluice wal: {e}; stop that engine first", file=sys.stderr)
        return 1
    try:
        if a.action == "check":
            try:
                res = scan(wal_dir)
            except WalCorruption as e:
                print(str(e))
                return 1
            print(json.dumps({"records": len(res.entries), "last_seq": res.last_seq,
                              "torn_tail": None if res.torn is None else {"file": str(res.torn[0]),
                                                                          "offset": res.torn[1]}}, indent=2))
            return 0
        report = truncate_to_clean_prefix(wal_dir)
        print(json.dumps(report, indent=2))
        if report["cut_at"] is None:
            print("the log is clean: nothing was cut")
        else:
            print(f"kept records up to #{report['kept_last_seq']}; cut {report['dropped_bytes']} bytes holding "
                  f"{report['dropped_records_found']} intact records after the damage")
        return 0
    finally:
        os.close(fd)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sluice", description="Sluice: push rows into streaming SQL pipelines over "
                                "HTTP and watch the views change.")
    p.add_argument("--version", action="version", version=f"sluice {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    e = sub.add_parser("engine", help="run the pipeline server (Feldera's /v0 REST API)",
                       description="Run the pipeline server: Feldera's /v0 REST API over an embedded DuckDB engine.")
    _engine_flags(e)
    e.add_argument("--program", metavar="FILE.sql", help="create (or update) a pipeline from this SQL file and start it")
    e.add_argument("--pipeline", metavar="NAME", help="the name of the pipeline --program creates")
    e.set_defaults(func=_cmd_engine)
    u = sub.add_parser("up", help="run the engine and the dashboard, with a demo pipeline and moving data",
                       description="Run the engine with a demo pipeline (created and started on first run) and the "
                                   "browser dashboard, with a generator feeding the demo at a modest rate.")
    _engine_flags(u, "--engine-port")
    u.add_argument("--port", **_env_int("SLUICE_PORT", 5000),
                   help="dashboard port; 0 picks a free one and prints it (default 5000, or $SLUICE_PORT)")
    u.add_argument("--no-demo-data", action="store_true",
                   help="do not feed the demo pipeline (it can still be switched on from its page)")
    u.add_argument("--max-restarts", metavar="N", **_env_int("SLUICE_UP_MAX_RESTARTS", 5),
                   help="how many times in a row the engine or the dashboard, dying within 60 s of its start, is "
                        "started again before sluice up stops everything (default 5, or $SLUICE_UP_MAX_RESTARTS)")
    u.add_argument("--users-file", metavar="FILE", default=os.environ.get("SLUICE_USERS_FILE"),
                   help="the dashboard requires sign-in: users from FILE ('sluice user add') (default "
                        "$SLUICE_USERS_FILE; without one the dashboard is open, for local use)")
    u.add_argument("--proxy-fix", action="store_true", help="the dashboard is behind a TLS proxy (X-Forwarded-*)")
    u.set_defaults(func=_cmd_up)
    d = sub.add_parser("dashboard", help="run the browser dashboard against a pipeline server",
                       description="Run the browser dashboard (gunicorn) against any Feldera-compatible server: "
                                   "the embedded engine or a real Feldera. Settings: docs/dashboard.md.")
    d.add_argument("--host", default=os.environ.get("SLUICE_HOST", "127.0.0.1"),
                   help="address to listen on (default 127.0.0.1, this machine only, or $SLUICE_HOST)")
    d.add_argument("--port", **_env_int("SLUICE_PORT", 5000),
                   help="port; 0 picks a free one and prints it (default 5000, or $SLUICE_PORT)")
    d.add_argument("--upstream", default=os.environ.get("SLUICE_UPSTREAM", "http://127.0.0.1:8080"),
                   help="URL of the pipeline server (default $SLUICE_UPSTREAM, else http://127.0.0.1:8080)")
    d.add_argument("--api-key-file", metavar="FILE", default=os.environ.get("SLUICE_API_KEY_FILE"),
                   help="file whose first line is the upstream API key (default $SLUICE_API_KEY_FILE; "
                        "or set SLUICE_API_KEY to the key)")
    d.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name to accept besides loopback names ('*' accepts any); repeatable")
    d.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN",
                   help="another browser origin allowed to open the WebSocket or change state; repeatable")
    d.add_argument("--demo-data", action="store_true", help="feed the demo pipeline with moving data")
    d.add_argument("--users-file", metavar="FILE", default=os.environ.get("SLUICE_USERS_FILE"),
                   help="require sign-in: users and roles from FILE, made by 'sluice user add' "
                        "(default $SLUICE_USERS_FILE; without one the dashboard is open, for local use)")
    d.add_argument("--state-dir", metavar="DIR", default=os.environ.get("SLUICE_STATE_DIR"),
                   help="keep the statistics history and health events in DIR, across restarts "
                        "(default $SLUICE_STATE_DIR; without one they are kept in memory)")
    d.add_argument("--proxy-fix", action="store_true", default=None,
                   help="behind a TLS proxy: trust its X-Forwarded-For/-Proto/-Host (one proxy)")
    d.add_argument("--insecure", action="store_true",
                   help="allow listening on a non-loopback address without --users-file")
    d.add_argument("--worker-class", default="gevent", choices=["gevent", "gthread"],
                   help="gunicorn worker (default gevent; see docs/dashboard.md)")
    d.add_argument("--threads", type=int, default=64, help="threads of a gthread worker (default %(default)s)")
    d.set_defaults(func=_cmd_dashboard)
    us = sub.add_parser("user", help="manage the dashboard's users file (sign-in and roles)",
                        description="Add, remove or list the users of the dashboard's users file (scrypt "
                                    "password hashes; see docs/security.md).")
    us_sub = us.add_subparsers(dest="user_cmd", required=True, metavar="ACTION")
    ua = us_sub.add_parser("add", help="add a user, or replace one's password (or API key) and role")
    ua.add_argument("name", help="the user's name (1 to 64 characters, no spaces); an existing user gets the "
                                 "new password (or API key) and role")
    ua.add_argument("--api-key", action="store_true",
                    help="make a new API key to sign in with (printed once; the file keeps its SHA-256) "
                         "instead of reading a password")
    ua.add_argument("--role", choices=["viewer", "editor"], required=True,
                    help="viewer: watch, read-only queries, export; editor: also change data and pipelines")
    ur = us_sub.add_parser("remove", help="remove a user")
    ur.add_argument("name", help="the user to remove")
    ul = us_sub.add_parser("list", help="list the users and their roles")
    for x in (ua, ur, ul):
        x.add_argument("--users-file", metavar="FILE", default=os.environ.get("SLUICE_USERS_FILE"),
                       help="the users file (default $SLUICE_USERS_FILE)")
    us.set_defaults(func=_cmd_user)
    w = sub.add_parser("wal", help="check or repair a data directory's write-ahead log",
                       description="Check the write-ahead log of a stopped engine's data directory, or cut it "
                                   "back to its clean prefix after damage (see webapp/engine/WAL.md).")
    w.add_argument("action", choices=["check", "recover"],
                   help="check: report records and damage; recover: truncate at the first damaged record")
    w.add_argument("--data-dir", metavar="DIR", help="the engine's data directory (default sluice-data, or $SLUICE_DATA_DIR)")
    w.set_defaults(func=_cmd_wal)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # One line per upstream HTTP call drowns what matters; errors still show.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
