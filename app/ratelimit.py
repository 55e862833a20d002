"""Per-client budgets of event-loop time for page builds (pure logic, no server imports).

Building one dashboard page holds the server's only event loop for 1–2 s on the 2-core
reference machine, and for 4 s and more when the machine is busy, so a client that keeps
asking for pages starves every other page, websocket and health check of the process.  A
budget counted in pages would let a flood through in proportion to the page count however
long each page takes; this one is counted in *seconds of loop time*:

* each client has up to ``burst_s`` seconds, refilled at ``share`` seconds per second
  (its sustained share of the loop);
* a page is let through when the client has at least what a page costs now (a moving
  average of measured builds), which is reserved; when the build ends the reservation is
  corrected to what it really cost;
* otherwise the answer is a refusal with the time after which the page would be let through;
* a page that a browser really opened (its websocket came and it reported itself drawn) gives
  its building time back, for up to ``open_pages`` open pages per client at once.  A flood of
  page requests opens nothing and gets nothing back; a class behind one NAT address, which
  shares one budget, gets its time back as fast as its pages open.  While pages let through
  are still opening, a refused browser is told to come back in a few seconds, not when the
  share would have refilled the budget.

On an idle server (pages of ~0.7 s) the defaults let a client open about 4 pages that never
show at once and then one every 7 s; on a loaded one (4 s pages) a flood gets one page, then one
per 40 s.  Pages that open in a browser do not count, up to 40 open at once per address.  (With
6 s instead of 3 s, a flood of 4 loops got 7 pages built and /liveness p95 was 0.9-1.1 s; with
3 s, 5 pages and 0.18 s: benchmarks/README.md, *A flood of page requests*.)
"""
from __future__ import annotations

import math
import os
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

DEFAULT_BURST_S = 3.0       # seconds of page building one client may use at once
DEFAULT_SHARE = 0.1         # ... refilled at 10 % of the loop
FIRST_ESTIMATE_S = 1.0      # what a page is assumed to cost before one was measured
MAX_CLIENTS = 10_000        # addresses remembered at most; the least recently seen go first
DEFAULT_OPEN_PAGES = 40     # open pages per client whose building time is given back (a class behind one NAT)
OPENING_S = 20.0            # a page let through is expected to open in a browser within this time ...
COME_BACK_S = (2.0, 5.0)    # ... and meanwhile a refused browser comes back after 2-5 s (spread: not all at once)


@dataclass
class PageTicket:
    """One page let through, carried by its request to the session (app/page.py gives it back when opened)."""
    key: str
    reserved_s: float
    started: float                  # perf_counter when the build began
    cost_s: float | None = None     # measured when the response was finished
    opened: bool = False
    client: str = ""                # the client's address, when ``key`` is one browser's budget at it


@dataclass
class Verdict:
    allowed: bool
    retry_after_s: float    # 0 when allowed; otherwise when the page would be let through
    reserved_s: float = 0.0     # what was reserved for the page (give it back to :meth:`LoopBudgets.settle`)


class _Levels:
    """A level per client key, refilled at ``rate`` per second up to ``full``; the keys are bounded in
    number, the least recently seen forgotten first (a forgotten client starts full again: forgetting
    only ever errs towards letting it through)."""

    def __init__(self, full: float, rate: float, max_clients: int, clock: Callable[[], float]):
        self._full, self._rate, self.max_clients = float(full), float(rate), int(max_clients)
        self._clock = clock
        self._budgets: OrderedDict[str, tuple[float, float]] = OrderedDict()   # key -> (level, at)

    def _level(self, key: str, now: float) -> float:
        level, at = self._budgets.get(key, (self._full, now))
        return min(self._full, level + (now - at) * self._rate)

    def _store(self, key: str, level: float, now: float) -> None:
        self._budgets[key] = (level, now)
        self._budgets.move_to_end(key)
        while len(self._budgets) > self.max_clients:
            gone, _ = self._budgets.popitem(last=False)
            self._forgotten(gone)

    def _forgotten(self, key: str) -> None:
        """A key dropped to bound their number."""

    def __len__(self) -> int:
        return len(self._budgets)


class LoopBudgets(_Levels):
    """One budget of loop seconds per client key, bounded in number of keys."""

    def __init__(self, burst_s: float = DEFAULT_BURST_S, share: float = DEFAULT_SHARE,
                 max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic,
                 open_pages: int = DEFAULT_OPEN_PAGES):
        if burst_s <= 0 or not 0 < share <= 1 or max_clients < 1 or open_pages < 0:
            raise ValueError("burst_s must be > 0, share in (0, 1], max_clients >= 1 and open_pages >= 0")
        super().__init__(burst_s, share, max_clients, clock)
        self.burst_s = float(burst_s)
        self.share = float(share)
        self.open_pages = int(open_pages)
        self.estimate_s = FIRST_ESTIMATE_S
        self._open: dict[str, int] = {}                     # key -> pages open now whose time was given back
        self._opening: dict[str, list[float]] = {}          # key -> when its pages still opening were let through
        self.refused = 0

    def admit(self, key: str) -> Verdict:
        """Let a page of ``key`` through if its budget covers what a page costs now (reserved)."""
        now = self._clock()
        level = self._level(key, now)
        # never ask for more than a full budget, or a client could be locked out for good
        need = min(self.estimate_s, self.burst_s)
        opening = [t for t in self._opening.get(key, ()) if now - t < OPENING_S]
        if level >= need:
            self._store(key, level - need, now)
            if self._open.get(key, 0) + len(opening) < self.open_pages:
                self._opening[key] = opening + [now]
            return Verdict(True, 0.0, need)
        self._store(key, level, now)
        if opening:
            self._opening[key] = opening
        else:
            self._opening.pop(key, None)
        self.refused += 1
        wait = (need - level) / self.share
        if opening:
            # time comes back as those pages open: try again soon, spread out
            wait = min(wait, random.uniform(*COME_BACK_S))
        return Verdict(False, wait)

    def opened(self, key: str, cost_s: float) -> bool:
        """A page of ``key`` opened in a browser: its building time ``cost_s`` is given back (up to the
        burst), unless the client has ``open_pages`` open already.  True when given back: call
        :meth:`closed` when that page closes."""
        opening = self._opening.get(key)
        if opening:
            opening.pop(0)
        if not math.isfinite(cost_s) or cost_s < 0 or self._open.get(key, 0) >= self.open_pages:
            return False
        self._open[key] = self._open.get(key, 0) + 1
        now = self._clock()
        self._store(key, min(self.burst_s, self._level(key, now) + cost_s), now)
        return True

    def closed(self, key: str) -> None:
        """A page given back by :meth:`opened` closed."""
        n = self._open.get(key, 0) - 1
        if n > 0:
            self._open[key] = n
        else:
            self._open.pop(key, None)

    def settle(self, key: str, reserved_s: float, cost_s: float) -> None:
        """A page admitted for ``key`` took ``cost_s`` seconds: correct its reservation, learn the cost."""
        if not math.isfinite(cost_s) or cost_s < 0:
            return
        now = self._clock()
        self._store(key, self._level(key, now) - (cost_s - reserved_s), now)
        self.estimate_s = 0.7 * self.estimate_s + 0.3 * cost_s

    def _forgotten(self, key: str) -> None:
        self._opening.pop(key, None)


class CountBuckets(_Levels):
    """At most ``burst`` actions per client key at once, one more every ``every_s`` seconds: for actions
    that leave something behind for everyone (a class experiment in every page's Sweeps list), so that
    one client cannot make thousands of them. The keys are bounded in number as in :class:`LoopBudgets`."""

    def __init__(self, burst: int, every_s: float, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic):
        if burst < 1 or not every_s > 0 or max_clients < 1:
            raise ValueError("burst must be >= 1, every_s > 0 and max_clients >= 1")
        super().__init__(burst, 1.0 / every_s, max_clients, clock)
        self.burst, self.every_s = int(burst), float(every_s)

    def take(self, key: str) -> float:
        """0.0 when ``key`` may act now (one action is spent); else the seconds until it may."""
        now = self._clock()
        left = self._level(key, now)
        if left < 1.0:
            self._store(key, left, now)
            return (1.0 - left) * self.every_s
        self._store(key, left - 1.0, now)
        return 0.0

    def give_back(self, key: str) -> None:
        """The action ``take`` allowed did not happen (it was refused for another reason)."""
        if key in self._budgets:
            now = self._clock()
            self._store(key, min(float(self.burst), self._level(key, now) + 1.0), now)


def _env_number(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if len(raw) > 20:
        raise ValueError(f"{name} is too long to be a number")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not (math.isfinite(value) and low < value <= high):
        raise ValueError(f"{name}={raw!r} must be a number above {low:g} and at most {high:g}")
    return value


def page_budgets_from_env() -> LoopBudgets:
    """The page limit as configured by ``DENDRITE_PAGE_BURST_S``, ``DENDRITE_PAGE_SHARE`` and
    ``DENDRITE_OPEN_PAGES`` (open pages per client whose time is given back)."""
    return LoopBudgets(burst_s=_env_number("DENDRITE_PAGE_BURST_S", DEFAULT_BURST_S, 0, 3600),
                       share=_env_number("DENDRITE_PAGE_SHARE", DEFAULT_SHARE, 0, 1),
                       open_pages=int(_env_number("DENDRITE_OPEN_PAGES", DEFAULT_OPEN_PAGES, -1, 10_000)))


_budgets: LoopBudgets | None = None


def page_budgets() -> LoopBudgets:
    """This process's page limit (made from the environment on first use)."""
    global _budgets
    if _budgets is None:
        _budgets = page_budgets_from_env()
    return _budgets
