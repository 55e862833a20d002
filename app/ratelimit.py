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
* otherwise the answer is a refusal with the time after which the page would be let through.

On an idle server (pages of ~0.7 s) the defaults let a student open about 8 pages at once and
then one every 7 s; on a loaded one (4 s pages) a flood gets one or two pages, then one per 40 s.
"""
from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

DEFAULT_BURST_S = 6.0       # seconds of page building one client may use at once
DEFAULT_SHARE = 0.1         # ... refilled at 10 % of the loop
FIRST_ESTIMATE_S = 1.0      # what a page is assumed to cost before one was measured
MAX_CLIENTS = 10_000        # addresses remembered at most; the least recently seen go first


@dataclass
class Verdict:
    allowed: bool
    retry_after_s: float    # 0 when allowed; otherwise when the page would be let through
    reserved_s: float = 0.0     # what was reserved for the page (give it back to :meth:`LoopBudgets.settle`)


class LoopBudgets:
    """One budget of loop seconds per client key, bounded in number of keys."""

    def __init__(self, burst_s: float = DEFAULT_BURST_S, share: float = DEFAULT_SHARE,
                 max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic):
        if burst_s <= 0 or not 0 < share <= 1 or max_clients < 1:
            raise ValueError("burst_s must be > 0, share in (0, 1] and max_clients >= 1")
        self.burst_s = float(burst_s)
        self.share = float(share)
        self.max_clients = int(max_clients)
        self.estimate_s = FIRST_ESTIMATE_S
        self._clock = clock
        self._budgets: OrderedDict[str, tuple[float, float]] = OrderedDict()   # key -> (seconds, at)
        self.refused = 0

    def _level(self, key: str, now: float) -> float:
        level, at = self._budgets.get(key, (self.burst_s, now))
        return min(self.burst_s, level + (now - at) * self.share)

    def admit(self, key: str) -> Verdict:
        """Let a page of ``key`` through if its budget covers what a page costs now (reserved)."""
        now = self._clock()
        level = self._level(key, now)
        # never ask for more than a full budget, or a client could be locked out for good
        need = min(self.estimate_s, self.burst_s)
        if level >= need:
            self._store(key, level - need, now)
            return Verdict(True, 0.0, need)
        self._store(key, level, now)
        self.refused += 1
        return Verdict(False, (need - level) / self.share)

    def settle(self, key: str, reserved_s: float, cost_s: float) -> None:
        """A page admitted for ``key`` took ``cost_s`` seconds: correct its reservation, learn the cost."""
        if not math.isfinite(cost_s) or cost_s < 0:
            return
        now = self._clock()
        self._store(key, self._level(key, now) - (cost_s - reserved_s), now)
        self.estimate_s = 0.7 * self.estimate_s + 0.3 * cost_s

    def _store(self, key: str, level: float, now: float) -> None:
        self._budgets[key] = (level, now)
        self._budgets.move_to_end(key)
        while len(self._budgets) > self.max_clients:
            # a forgotten client starts again with a full budget: forgetting only ever
            # errs towards letting a page through
            self._budgets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._budgets)


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
    """The page limit as configured by ``DENDRITE_PAGE_BURST_S`` and ``DENDRITE_PAGE_SHARE``."""
    return LoopBudgets(burst_s=_env_number("DENDRITE_PAGE_BURST_S", DEFAULT_BURST_S, 0, 3600),
                       share=_env_number("DENDRITE_PAGE_SHARE", DEFAULT_SHARE, 0, 1))
