"""Per-client token buckets (pure logic, no server imports) for the page rate limit.

Building one dashboard page holds the server's only event loop for 1–2 s on the 2-core
reference machine, so a client that keeps asking for pages starves every other page,
websocket and health check of the process.  Each client gets a small allowance of
pages (``burst``) that refills at one page per ``refill_s`` seconds; a request beyond it
is refused at once, which costs the loop next to nothing.
"""
from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

DEFAULT_BURST = 4           # pages one client may open at once (a student reloading a few times)
DEFAULT_REFILL_S = 5.0      # ... then one more page every 5 s
MAX_CLIENTS = 10_000        # addresses remembered at most; the least recently seen go first


@dataclass
class Verdict:
    allowed: bool
    retry_after_s: float    # 0 when allowed; otherwise when the next page will be allowed


class ClientBuckets:
    """One token bucket per client key, bounded in number of keys."""

    def __init__(self, burst: float = DEFAULT_BURST, refill_s: float = DEFAULT_REFILL_S,
                 max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic):
        if burst < 1 or refill_s <= 0 or max_clients < 1:
            raise ValueError("burst must be >= 1, refill_s > 0 and max_clients >= 1")
        self.burst = float(burst)
        self.refill_s = float(refill_s)
        self.max_clients = int(max_clients)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()   # key -> (tokens, at)
        self.refused = 0

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) / self.refill_s)

    def take(self, key: str) -> Verdict:
        """Spend one page of ``key``'s allowance if it has one."""
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return Verdict(True, 0.0)
        self._store(key, tokens, now)
        self.refused += 1
        return Verdict(False, (1.0 - tokens) * self.refill_s)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_clients:
            # a forgotten client starts again with a full allowance: forgetting only ever
            # errs towards letting a page through
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


def _env_number(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if len(raw) > 20:
        raise ValueError(f"{name} is too long to be a number")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name}={raw!r} must be a number >= {minimum:g}")
    return value


def page_buckets_from_env() -> ClientBuckets:
    """The page limit as configured by ``DENDRITE_PAGE_BURST`` and ``DENDRITE_PAGE_REFILL_S``."""
    return ClientBuckets(burst=_env_number("DENDRITE_PAGE_BURST", DEFAULT_BURST, 1),
                         refill_s=_env_number("DENDRITE_PAGE_REFILL_S", DEFAULT_REFILL_S, 0.001))
