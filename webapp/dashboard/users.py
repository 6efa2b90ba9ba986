"""The dashboard's users file: who may sign in, with which role, and their credentials.

- The users file is JSON, ``{"users": {name: {"role": ..., "scrypt": {n, r, p, salt, hash}}}}``: scrypt
  hashes with a random salt and their parameters, never a password. It is re-read when it changes, so
  removing a user or changing a role takes effect on that user's next request; a version that cannot be
  read leaves the last good one in force (``Users``), and ``sluice dashboard`` refuses to start on one.
- A user may sign in with an API key instead (``sluice user add NAME --api-key``): the key is 256 random
  bits made by Sluice and printed once; the file keeps its SHA-256 (``"api_key": {"sha256": ...}``), which
  is enough for a key that cannot be guessed (scrypt is for passwords people choose).

Sign-in itself, sessions and roles are ``auth.py``'s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path

ROLES = ("viewer", "editor")
SCRYPT = {"n": 2 ** 15, "r": 8, "p": 1}
MIN_PASSWORD = 8
API_KEY_PREFIX = "sluice-"

log = logging.getLogger("sluice.dashboard.auth")


def hash_password(password: str, params: dict | None = None) -> dict:
    params = dict(params or SCRYPT)
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, params)
    return params | {"salt": base64.b64encode(salt).decode(), "hash": base64.b64encode(digest).decode()}


def _scrypt(password: str, salt: bytes, params: dict) -> bytes:
    n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=128 * r * n * 2 + (1 << 20))


def check_password(record: dict, password: str) -> bool:
    h = record.get("scrypt") or {}
    try:
        digest = _scrypt(password, base64.b64decode(h["salt"]), h)
        return hmac.compare_digest(digest, base64.b64decode(h["hash"]))
    except (KeyError, ValueError, TypeError):
        return False


_DUMMY = None


def dummy_check(password: str) -> None:
    """Spend the time of a real check, so an unknown name answers as slowly as a wrong password."""
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = {"scrypt": hash_password(secrets.token_hex(8))}
    check_password(_DUMMY, password)


class UsersFileError(Exception):
    """Raised when the users file exists but cannot be used: unreadable, not JSON, or not of the shape
    ``{"users": {NAME: {...}}}``. The message names the file and, for bad JSON, the line and column;
    callers add what to do, which depends on where it is read."""


def read_users(path: str | os.PathLike) -> dict:
    """The users of the file at ``path`` (none when it does not exist); ``UsersFileError`` otherwise."""
    p = Path(path)
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8") or "{}")
    except OSError as e:
        raise UsersFileError(f"cannot read the users file {p}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise UsersFileError(f"the users file {p} is not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise UsersFileError(f"the users file {p} is not valid JSON: {e.msg} at line {e.lineno}, "
                             f"column {e.colno}") from None
    users = (data.get("users") or {}) if isinstance(data, dict) else None
    if not isinstance(users, dict) or not all(isinstance(r, dict) for r in users.values()):
        raise UsersFileError(f'the users file {p} does not hold {{"users": {{NAME: {{"role": ...}}}}}} '
                             "(as 'sluice user add' writes it)")
    return dict(users)


def write_users(path: str | os.PathLike, users: dict) -> None:
    """Atomically, mode 0600."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"version": 1, "users": users}, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)


def add_user(path, name: str, role: str, password: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or any(c.isspace() for c in name) or len(name) > 64:
        raise ValueError("a user name is 1 to 64 characters without spaces")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
    users = read_users(path)
    users[name] = dict(users.get(name) or {}) | {"role": role, "scrypt": hash_password(password)}
    write_users(path, users)


def add_key_user(path, name: str, role: str) -> str:
    """Give ``name`` a new API key for signing in (replacing any key it had); returns the key, once."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or any(c.isspace() for c in name) or len(name) > 64:
        raise ValueError("a user name is 1 to 64 characters without spaces")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    users = read_users(path)
    record = dict(users.get(name) or {})
    record.update(role=role, api_key={"sha256": _key_digest(key)})
    users[name] = record
    write_users(path, users)
    return key


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def find_key_user(users: dict, key: str) -> str | None:
    """The name of the user whose API key is ``key`` (every record compared, in constant time each)."""
    digest, found = _key_digest(key), None
    for name, record in users.items():
        stored = str(((record or {}).get("api_key") or {}).get("sha256") or "")
        if stored and hmac.compare_digest(stored, digest):
            found = name
    return found


def credential_stamp(record: dict, key: str | bytes) -> str:
    """What a session remembers of its user's credentials: it changes whenever ``sluice user add`` sets a
    password or API key (each draws a new random salt or key), even to the same password."""
    creds = json.dumps({"scrypt": record.get("scrypt"), "api_key": record.get("api_key")}, sort_keys=True)
    secret = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(secret, creds.encode("utf-8"), hashlib.sha256).hexdigest()


def remove_user(path, name: str) -> bool:
    users = read_users(path)
    if users.pop(name, None) is None:
        return False
    write_users(path, users)
    return True


def secret_key_for(users_file: str) -> str:
    """The key kept next to the users file, made (0600) on first use."""
    p = Path(str(users_file) + ".secret")
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return p.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        key = secrets.token_urlsafe(48)
        f.write(key + "\n")
    return key


class Users:
    """The users file, re-read when its mtime or size changes.

    A version that cannot be read (a hand edit gone wrong, an editor saving in pieces) does not lock
    everyone out: the last good version stays in force and one warning per change says so. With no good
    version since this process started, ``all()`` raises ``UsersFileError`` (answered 503)."""

    def __init__(self, path: str):
        self.path = path
        self._stamp: object = ()  # never a real stamp: the first call reads
        self._users: dict = {}
        self._good_at: float | None = None
        self._broken: UsersFileError | None = None
        self._lock = threading.Lock()

    def all(self) -> dict:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._users = read_users(self.path) if stamp else {}
                    self._good_at, self._broken = time.time(), None
                except UsersFileError as e:
                    self._broken = e
                    self._warn(e)
            if self._good_at is None:
                raise self._broken
            return self._users

    def _warn(self, e: UsersFileError) -> None:
        if self._good_at is None:
            log.error("%s: nobody can sign in until it is corrected (sign-in and every request answer 503)", e)
        else:
            read = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self._good_at))
            log.warning("%s: the %d users read at %s stay in force until it is corrected", e, len(self._users), read)

    def get(self, name: str) -> dict | None:
        return self.all().get(name)


__all__ = ["ROLES", "MIN_PASSWORD", "API_KEY_PREFIX", "UsersFileError", "Users", "read_users", "write_users",
           "add_user", "add_key_user", "find_key_user", "remove_user", "hash_password", "check_password",
           "dummy_check", "credential_stamp", "secret_key_for"]
