"""When a page's tab has closed (pure logic, so it can be tested without a server).

Bokeh keeps a session whose tab closed for the whole unused-session lifetime (60 s under
deploy/serve.sh) in case the tab reconnects; training on for nobody kept a place of the
class for that long.  :class:`TabWatch` says when a page's websocket has been gone for a
grace period, and the page then pauses its run and frees its training place.
"""
from __future__ import annotations

TAB_GRACE_S = 1.0       # Bokeh does not reconnect a closed websocket to the same session; a reload is a new session


class TabWatch:
    """Says once when a session has had no connection for ``grace_s`` seconds."""

    def __init__(self, grace_s: float = TAB_GRACE_S):
        self.grace_s = grace_s
        self._gone_since: float | None = None
        self._reported = False

    def gone(self, connections: int, now: float) -> bool:
        """True exactly once per disconnection that has lasted ``grace_s``."""
        if connections > 0:
            self._gone_since, self._reported = None, False
            return False
        if self._gone_since is None:
            self._gone_since = now
        if not self._reported and now - self._gone_since >= self.grace_s:
            self._reported = True
            return True
        return False
