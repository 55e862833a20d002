"""The class's training places: how many sessions of this server process train at the same time.

A session that finds no free place watches (its page says why, and says so again when a
place frees up); the ghost run of a session takes a place of its own while it plays.
Step needs no place, so the Steps of all sessions share one budget (:class:`StepBudget`).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from .compute import CORES, env_number

CLASS_FULL = ("The class is full — you can watch: {n} training on this server right now, the most it runs at "
              "once. Meanwhile the error plot shows the whole reference run where this setup has one, Step "
              "trains your network one example at a time, and ▶ Play works as soon as a place is free (this "
              "note will say so).")
STEP_BUSY = ("Step is busy: the class is stepping faster than this server can show ({rate:g} Steps a second for "
             "everyone together). Try again in a moment.")
PLACE_FREE = "A place is free now: press ▶ Play to train your network."
# one student's tabs (one browser) train at most this many networks at once: two leaves room for two
# students sharing a computer, or for comparing two settings side by side
PER_BROWSER = int(env_number("DENDRITE_TRAININGS_PER_BROWSER", 2, minimum=1, integer=True))
BROWSER_FULL = ("This browser already trains in {tabs}, the most one browser may at once on this server: pause "
                "one of them to train here. Step works meanwhile.")
REFUSED = "The class is full — ▶ Play was refused for now; see the note above."


class TrainingSlots:
    """A cap on how many sessions of this server process train at the same time, and on how many of
    them one browser's tabs hold (a class shares one address, so one student opening tabs could
    otherwise fill the class)."""

    def __init__(self, capacity: int, per_browser: int | None = None):
        self.capacity = max(1, int(capacity))
        self.per_browser = max(1, int(per_browser if per_browser is not None else PER_BROWSER))
        self._held: set[int] = set()
        self._browser: dict[int, str] = {}       # owner -> its browser's id (app/browsers.py), when known
        self._lock = threading.Lock()

    def acquire(self, owner: int, browser: str | None = None) -> bool:
        with self._lock:
            if owner in self._held:
                return True
            if len(self._held) >= self.capacity or self._browser_full(owner, browser):
                return False
            self._held.add(owner)
            if browser:
                self._browser[owner] = browser
            return True

    def release(self, owner: int) -> None:
        with self._lock:
            self._held.discard(owner)
            self._browser.pop(owner, None)

    def browser_full(self, owner: int, browser: str | None) -> bool:
        """Whether ``browser``'s other tabs already hold as many places as one browser may."""
        with self._lock:
            return self._browser_full(owner, browser)

    def _browser_full(self, owner: int, browser: str | None) -> bool:
        if not browser or owner in self._held:
            return False
        return sum(1 for b in self._browser.values() if b == browser) >= self.per_browser

    def browser_full_text(self) -> str:
        n = self.per_browser
        return BROWSER_FULL.format(tabs="another tab" if n == 1 else f"{n} other tabs")

    @property
    def in_use(self) -> int:
        return len(self._held)

    @property
    def free(self) -> int:
        return max(0, self.capacity - len(self._held))

    def full_text(self) -> str:
        n = self.capacity
        return CLASS_FULL.format(n=f"{n} network is" if n == 1 else f"{n} networks are")

    def watching_note(self, current: str) -> tuple[str, str] | None:
        """The class note a watching session should show now as (text, kind), or None to keep ``current``."""
        if self.free:
            return None if current == PLACE_FREE else (PLACE_FREE, "success")
        return (self.full_text(), "warning") if current == PLACE_FREE else None


# A whole class trains by default: the compute gate (app/compute.py) shares the cores evenly, and
# the load test trained 30 sessions on 2 cores at 43–58 examples/s each (spiking 784-500-10) with
# pages answering in 0.6 s (benchmarks/README.md, 2026-11-28).  The cap is a safety limit sized
# from the machine's measured speed (:func:`places_for`, after the warm-up): each training should
# keep about WATCHABLE_RATE examples/s, slower than which a spiking run is too slow to watch learn.
# Memory is bounded separately (app/capacity.py): a network the server cannot hold is refused.
WATCHABLE_RATE = 40.0               # examples/s of spiking 784-500-10 per training, at least
MIN_PER_CORE, MAX_PER_CORE = 2, 16


def places_for(cores: int, spiking_rate_per_core: float) -> int:
    """Training places for a server whose one core trains spiking 784-500-10 at this rate."""
    cores = max(1, int(cores))
    by_speed = int(cores * max(0.0, spiking_rate_per_core) / WATCHABLE_RATE)
    return max(MIN_PER_CORE * cores, min(MAX_PER_CORE * cores, by_speed))


_ENV_CAP = int(env_number("DENDRITE_MAX_TRAININGS", 0, minimum=1, integer=True))   # 0: unset or a typo (reported)
CAP_FROM_ENV = _ENV_CAP > 0
SLOTS = TrainingSlots(_ENV_CAP or MAX_PER_CORE * CORES)


def size_from_speed(spiking_rate_per_core: float | None, slots: TrainingSlots = SLOTS) -> int:
    """After the warm-up measured the engine: the cap it allows (unless DENDRITE_MAX_TRAININGS set one)."""
    if not CAP_FROM_ENV and spiking_rate_per_core:
        slots.capacity = places_for(CORES, spiking_rate_per_core)
    return slots.capacity


class StepBudget:
    """Steps a second for every session of this server together (a token bucket).

    A Step trains one example, but then the page redraws the latest example's panels, which
    costs the one event loop that serves every page.  Seven watching students clicking Step as
    fast as they could cut three training students' progress from about 93 to 12 examples/s
    (issue 15).  Steps beyond the budget are refused with a message; the budget refills at
    ``rate`` a second up to ``burst`` waiting Steps.
    """

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self._clock = clock
        self._tokens = self.burst
        self._t = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One Step's worth, if the budget has it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
            self._t = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def busy_text(self) -> str:
        return STEP_BUSY.format(rate=self.rate)


# a few Steps a second per core: each costs the event loop a redraw of the latest example's panels
STEPS = StepBudget(env_number("DENDRITE_STEPS_PER_S", 3.0 * CORES, minimum=0.1),
                   burst=env_number("DENDRITE_STEP_BURST", 10, minimum=1))
