"""The fan-out hub: one upstream stream per (pipeline, view) per process, shared by every browser.

    hub = Hub(upstream, settings)
    session = hub.open_session()                 # one per WebSocket or NDJSON request
    session.handle('{"op":"subscribe","pipeline":"demo","view":"city_totals","since":null}')
    frames = session.next_frames(timeout=15)      # JSON texts to send, whole steps only
    session.close()                               # always, in a finally

A session never receives pushed data: it pulls. Each subscription remembers the cursor
``{epoch, seq}`` it has sent up to; ``next_frames`` turns what the feed has gained since then into at
most one frame per subscription and round (so a busy view cannot starve a quiet one), from the feed's
replay ring, or as a snapshot of the feed's state when the cursor's epoch is gone or the ring no longer
reaches back to it. So a slow browser only ever delays itself, and its memory cost is a cursor.
The message shapes are in ``docs/websocket.md``.
"""

from __future__ import annotations

import logging
import threading
import time

from .feed import ViewFeed
from .session import Session
from .upstream import Upstream

log = logging.getLogger("sluice.dashboard.hub")


class Hub:
    """Owns the feeds of one process; create it once per app (``create_app`` does)."""

    def __init__(self, upstream: Upstream, settings: dict):
        self.upstream = upstream
        self.settings = settings
        self._lock = threading.Lock()
        self._feeds: dict[tuple[str, str], ViewFeed] = {}
        self._sessions: set[Session] = set()
        self._held: dict[str, int] = {}  # subscriptions held per owner (user or address)
        self._janitor: threading.Thread | None = None
        self._closed = threading.Event()
        self.sessions_opened = 0

    # -- feeds ---------------------------------------------------------------------------------
    def acquire(self, pipeline: str, view: str) -> ViewFeed:
        """The feed of (pipeline, view), started if needed; pair with ``release``."""
        with self._lock:
            feed = self._feeds.get((pipeline, view))
            if feed is None:
                feed = ViewFeed(self, pipeline, view)
                self._feeds[(pipeline, view)] = feed
                feed.start()
                self._start_janitor()
            feed.subscribers += 1
            feed.idle_since = None
            return feed

    def release(self, feed: ViewFeed) -> None:
        with self._lock:
            feed.subscribers -= 1
            if feed.subscribers <= 0:
                feed.subscribers = 0
                feed.idle_since = time.monotonic()

    def _start_janitor(self) -> None:
        if self._janitor is None:
            self._janitor = threading.Thread(target=self._sweep, daemon=True, name="hub-janitor")
            self._janitor.start()

    def _sweep(self) -> None:
        """Stop feeds nobody has watched for ``FEED_LINGER`` seconds (a reload reuses a lingering one)."""
        linger = float(self.settings["FEED_LINGER"])
        while not self._closed.wait(min(5.0, max(0.2, linger / 4))):
            now = time.monotonic()
            with self._lock:
                idle = [k for k, f in self._feeds.items()
                        if f.subscribers == 0 and f.idle_since is not None and now - f.idle_since >= linger]
                stopped = [self._feeds.pop(k) for k in idle]
            for f in stopped:
                f.stop()

    def feeds(self) -> list[ViewFeed]:
        with self._lock:
            return list(self._feeds.values())

    def stats(self) -> dict:
        with self._lock:
            sessions = len(self._sessions)
        return {"sessions": sessions, "sessions_opened": self.sessions_opened,
                "feeds": [f.stats() for f in self.feeds()]}

    # -- sessions ------------------------------------------------------------------------------
    def open_session(self, owner: str = "?") -> Session:
        """A session for ``owner`` (the signed-in user, else the client address)."""
        s = Session(self, owner)
        with self._lock:
            self._sessions.add(s)
            self.sessions_opened += 1
        return s

    def count_in(self, owner: str) -> bool:
        """Count one more subscription for ``owner``; False (nothing counted) at ``USER_MAX_SUBSCRIPTIONS``."""
        with self._lock:
            n = self._held.get(owner, 0)
            if n >= int(self.settings["USER_MAX_SUBSCRIPTIONS"]):
                return False
            self._held[owner] = n + 1
            return True

    def count_out(self, owner: str) -> None:
        with self._lock:
            n = self._held.pop(owner, 0) - 1
            if n > 0:
                self._held[owner] = n

    def _forget(self, s: Session) -> None:
        with self._lock:
            self._sessions.discard(s)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            feeds = list(self._feeds.values())
            self._feeds.clear()
            sessions = list(self._sessions)
        for s in sessions:
            s.close()
        for f in feeds:
            f.stop()


__all__ = ["Hub", "Session"]
