"""Small pieces of the server's fairness rules, pure logic so they can be tested without a server.

* :class:`TabWatch` -- when a page's websocket has been gone for a grace period, its run is
  paused and its training place freed.  Bokeh keeps a session whose tab closed for the whole
  unused-session lifetime (60 s under deploy/serve.sh) in case the tab reconnects; training on
  for nobody kept a place of the class for that long.
* :class:`ChunkSizer` -- how many examples the next chunk of training may take so that one
  chunk holds a core for about ``target_s`` at most, from the measured time per example: a
  fixed count of examples made the largest network hold a compute slot for tens of seconds.
"""
from __future__ import annotations

import math

TAB_GRACE_S = 1.0       # Bokeh does not reconnect a closed websocket to the same session; a reload is a new session
CHUNK_TARGET_S = 0.5


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


class ChunkSizer:
    """Examples per chunk such that a chunk takes about ``target_s`` (never fewer than one)."""

    def __init__(self, target_s: float = CHUNK_TARGET_S, first: int = 10, largest: int = 1000):
        if target_s <= 0 or first < 1 or largest < 1:
            raise ValueError("target_s must be > 0, first and largest >= 1")
        self.target_s = target_s
        self.largest = largest
        self._first = min(first, largest)
        self._per_example: float | None = None      # seconds, moving average

    def next_size(self) -> int:
        if self._per_example is None:
            return self._first
        return max(1, min(self.largest, int(self.target_s / self._per_example)))

    def record(self, examples: int, seconds: float) -> None:
        """A chunk of ``examples`` took ``seconds``."""
        if examples < 1 or not math.isfinite(seconds) or seconds < 0:
            return
        per = seconds / examples
        # a slow chunk counts at once (it is the one that starves the others), a fast one gradually
        if self._per_example is None or per > self._per_example:
            self._per_example = per
        else:
            self._per_example = 0.7 * self._per_example + 0.3 * per
