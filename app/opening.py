"""Pages on their way to the browser, so that the work of pages already open can wait for them.

A class opens the link in the same second: each page is built on the process's one event loop,
then its browser connects and its network is built.  A page that is already open would meanwhile
build its settings and plot grid (~0.15 s of the loop), its ten figures (~0.3 s) and map its
untrained network for t-SNE (~0.2 s of a core), so the last student of the class waited behind
everyone else's.  So a page opens in three stages, and each waits for the one before on every page:

1. the header (Play and the status line) and the network: built for every page first;
2. the settings and the plot grid (app/page.py, ``Dashboard.show_rest``), once no page is still
   at stage 1 (:meth:`Opening.defers` with ``headers_only``);
3. the figures and the t-SNE maps, once no page is at stage 1 or 2.

Nothing waits more than ``MAX_WAIT_S``, so a steady trickle of new pages cannot hold anyone's
page back for long.

Stages 2 and 3 are done in the pages' drains, and the event loop runs every drain that is due
before it reads its sockets again: fifteen pages completing at once held it for seconds (a
liveness probe waited 8 s).  So they also take turns (:meth:`Opening.my_turn`): one stage per pass
of the loop, which reads its sockets between two.  (A wait as long as the stage itself, tried
first, got the last page's settings out after 14 s instead of 8.)

One tracker per server process (its event loop builds the pages); read from engine threads too.
"""
from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Callable

STALE_S = 10.0      # a page built but never connected (a closed tab, a flood) stops counting after this;
                    # link previews and crawlers are not counted at all (app/link_previews.py)
GRACE_S = 0.5       # the requests of a class arrive spread over a moment: a new one is likely just behind
MAX_WAIT_S = 10.0   # a page's figures wait at most this long for the others (one server opens 30 in ~8 s)
REST_STALE_S = 60.0  # a connected page whose settings never went out (its drain stopped) stops counting after this


class Opening:
    """The pages of this process that were built and whose browser has not shown them yet."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._pending: dict[int, float] = {}  # pages not complete (stage 1 or 2), by request time
        self._headers: set[int] = set()       # ... of which the header is not shown yet (stage 1)
        self._last = -float("inf")
        self._busy_since = -float("inf")      # when the current opening began (a request found the process idle)
        self._tokens = itertools.count()
        self._turn_taken = False              # a page's stage 2 or 3 ran in this pass of the loop
        self._lock = threading.Lock()

    def requested(self) -> int:
        """A page was built for a browser; the token ends its count (:meth:`shown`)."""
        now = self._clock()
        with self._lock:
            if not self._busy(now):
                self._busy_since = now
            token = next(self._tokens)
            self._last = self._pending[token] = now
            self._headers.add(token)
            return token

    def header_shown(self, token: int | None) -> None:
        """The page's browser shows its header and network (stage 1 done)."""
        if token is not None:
            with self._lock:
                self._headers.discard(token)

    def shown(self, token: int | None) -> None:
        """The page's browser shows all of it (or the page closed before)."""
        if token is not None:
            with self._lock:
                self._pending.pop(token, None)
                self._headers.discard(token)

    def busy(self, headers_only: bool = False) -> bool:
        """Pages are opening now (or one was just asked for); ``headers_only``: pages at stage 1."""
        with self._lock:
            return self._busy(self._clock(), headers_only)

    def holds_back(self, headers_only: bool = False) -> bool:
        """Pages are opening, and have been for less than ``MAX_WAIT_S`` without a pause: pages
        requested without end (a flood, however slowed by the page budget) hold nothing back for ever."""
        now = self._clock()
        with self._lock:
            return self._busy(now, headers_only) and now - self._busy_since < MAX_WAIT_S

    def _busy(self, now: float, headers_only: bool = False) -> bool:
        for token in [k for k, t in self._pending.items()
                      if now - t > (STALE_S if k in self._headers else REST_STALE_S)]:
            del self._pending[token]
            self._headers.discard(token)
        return bool(self._headers if headers_only else self._pending) or now - self._last < GRACE_S

    def defers(self, since: float, headers_only: bool = False) -> bool:
        """Work that has waited since ``since`` (this clock) waits on: pages are opening (at stage 1
        only, with ``headers_only``), and it has not waited ``MAX_WAIT_S`` yet."""
        return self._clock() - since < MAX_WAIT_S and self.holds_back(headers_only)

    def my_turn(self, settings: bool = False) -> bool:
        """Whether a page's stage 2 (``settings``) or 3 may run now (see the module's doc).  Stage 3
        also gives way to every connected page whose settings are due: they are cheap, and a page's
        figures had the turns for half a minute before the last settings went out."""
        if self._turn_taken:
            return False
        if settings:
            return True
        with self._lock:
            self._busy(self._clock())
            return not (self._pending.keys() - self._headers)

    def took(self, call_soon: Callable | None = None) -> None:
        """A page's stage just ran: the next one waits for the loop's next pass (``call_soon``: the
        running loop's; without a running loop nothing waits)."""
        if call_soon is None:
            try:
                call_soon = asyncio.get_running_loop().call_soon
            except RuntimeError:
                return
        self._turn_taken = True
        call_soon(self._free_turn)

    def _free_turn(self) -> None:
        self._turn_taken = False

    def now(self) -> float:
        return self._clock()


OPENING = Opening()
