"""When a page's tab has closed (pure logic, so it can be tested without a server).

Bokeh keeps a session whose tab closed for the whole unused-session lifetime (60 s under
deploy/serve.sh) in case the tab reconnects; training on for nobody kept a place of the
class for that long.  :class:`TabWatch` says when a page's websocket has been gone for a
grace period, and the page then pauses its run and frees its training place; and, once the
tab is back (a phone that slept, a network that dropped), for how long it was away.
"""
from __future__ import annotations

TAB_GRACE_S = 1.0       # a reload is a new session; a dropped socket joins its session again (app/assets.py)


class TabWatch:
    """Says once when a session has had no connection for ``grace_s`` seconds."""

    def __init__(self, grace_s: float = TAB_GRACE_S):
        self.grace_s = grace_s
        self._gone_since: float | None = None
        self._reported = False
        self._back_after: float | None = None

    def gone(self, connections: int, now: float) -> bool:
        """True exactly once per disconnection that has lasted ``grace_s``."""
        if connections > 0:
            if self._reported:          # the tab joined its session again (Bokeh reconnects a dropped socket)
                self._back_after = now - self._gone_since
            self._gone_since, self._reported = None, False
            return False
        if self._gone_since is None:
            self._gone_since = now
        if not self._reported and now - self._gone_since >= self.grace_s:
            self._reported = True
            return True
        return False

    def back(self) -> float | None:
        """Once after a reported disconnection ended: how long the tab was away (s); else None."""
        away, self._back_after = self._back_after, None
        return away


# A page whose connection dropped for longer than the server keeps an unused session (60 s under
# deploy/serve.sh) joins with a token whose session has ended, and Bokeh makes a new session from the
# websocket's request. Its page is this one line, which static/page.js recognises by its class and
# answers by loading the link again: a full page then comes through app/front_door.py's page budget
# like any other (a dashboard built here would be one page more per token, outside that budget).
ENDED_NAME = "dl-session-ended"
ENDED_TEXT = "This page was away for longer than the server keeps it: it loads again from its link\u2026"


def made_by_websocket(request) -> bool:
    """Whether a session's request is a websocket's (``/app/ws``), not a page's (``/app``)."""
    path = getattr(request, "path", None)
    return isinstance(path, str) and path.rstrip("/").endswith("/ws")
