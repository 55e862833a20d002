"""The timer that drains a page's engine into its plots: its pace among all pages of the process,
and dozing while a page has nothing to show.

One thread serves all pages, websockets and drains of a process.  Thirty sessions draining five
times a second left no time for new pages (the load test measured page loads of several
seconds), so the period is chosen such that all drains together take about ``DRAIN_BUDGET`` of
the loop, from their measured costs: a lone session keeps 5 updates a second, a full class gets
fewer but larger ones (the plots show every snapshot either way).

An unused page's poll still costs the loop about 0.7 ms (Bokeh's document lock, Panel's callback
wrapper, the poll itself): 40 open pages nobody used took 0.03 of a core.  A page whose last
polls found nothing, and whose controller expects nothing, dozes (one poll in 5 s) and leaves
the budget to the others; the process's tab watch (app/page.py) wakes it when news comes.
"""
from __future__ import annotations

import weakref
from typing import Callable

from panel.io.callbacks import PeriodicCallback
from panel.io.state import set_curdoc

from .compute import COMPUTE

POLL_PERIOD_MS = 200            # the drain runs 5 times a second (when the server is not crowded)
MAX_POLL_PERIOD_MS = 2000       # ... and at least every 2 s however many sessions share the server
DRAIN_BUDGET = 0.3              # share of the server's event loop the drains of all sessions may take ...
# ... and while trainings wait for CPU (the compute gate oversubscribed), where every cycle of the loop is
# taken from them: 30 trainings on two servers got 55-58 % of the bare engine with 0.3 (the loops took 0.31-0.34
# of a core), 65 % with 0.1 (0.19); benchmarks/README.md, 12-03.  Once a message went out in one socket
# write (12-07) a drain cost less, and with 0.1 the pages moved every 1.1 s for the same share of the loop
CROWDED_DRAIN_BUDGET = 0.05
DOZE_AFTER_TICKS = 10           # a page whose last 10 polls found nothing and expect nothing dozes ...
DOZE_PERIOD_MS = 5000           # ... polling every 5 s
REPACE_EVERY = 10               # ticks between two looks at the whole process's load

_DRAINS: "weakref.WeakSet[Drain]" = weakref.WeakSet()


class Drain:
    """One page's periodic drain (the timer exists once the page shows in a browser)."""

    def __init__(self):
        self.timer = None               # Panel's PeriodicCallback, or a stand-in with a ``period``
        self.cost_s: float | None = None    # what one drain takes (moving average)
        self.ticks = 0
        self.empty_ticks = 0            # drains in a row that found nothing and expected nothing
        # a presenter's page keeps its own pace however crowded the server: its engine waits when its
        # queue is full, and at one poll in 2 s (30 followers) it waited a fifth of the time; the
        # followers' drains slow down for it instead, its cost being in the process's load
        self.priority = False
        # a page still opening (settings, figures or their groups to show) polls at the fast pace: each
        # stage waits for its turn (app/opening.py), and a page that missed a turn waited a whole paced
        # period (2 s in a class) for the next, so the two event loops idled half of a class's opening
        self.opening = False
        _DRAINS.add(self)

    def start(self, fn: Callable[[], None]) -> None:
        # background: Panel would otherwise flag the server "busy" around every drain, which sets the
        # busy indicator of every open page in the process (quadratic in sessions; 16 % of the event
        # loop with 30 sessions in the load test)
        self.timer = PeriodicCallback(callback=fn, period=POLL_PERIOD_MS, background=True)
        self.timer.start()

    def stop(self) -> None:
        timer, self.timer = self.timer, None
        if timer is not None:
            try:
                timer.stop()
            except Exception:
                pass

    @property
    def dozing(self) -> bool:
        return self.empty_ticks >= DOZE_AFTER_TICKS

    def found(self, anything: bool) -> None:
        """What the last drain brought: ``False`` only when it found nothing and nothing is expected."""
        self.empty_ticks = 0 if anything else self.empty_ticks + 1

    def pace(self, cost_s: float) -> None:
        """A drain took ``cost_s``: set this timer's period (see the module docstring).

        Polls that built a run's figures (0.3-1 s, once per network) count too: while a class opens
        they hold every drain back for the pages still being built.  Leaving them out made 30 pages
        opened at once come later (served p50 16.6 -> 19.1 s, two alternated pairs, 12-02).
        """
        self.cost_s = cost_s if self.cost_s is None else 0.9 * self.cost_s + 0.1 * cost_s
        self.ticks += 1
        timer = self.timer
        if timer is None:
            return
        if self.dozing:
            if timer.period != DOZE_PERIOD_MS:
                timer.period = DOZE_PERIOD_MS
            return
        if self.priority or self.opening:
            if timer.period != POLL_PERIOD_MS:
                timer.period = POLL_PERIOD_MS
        elif self.ticks % REPACE_EVERY == 0 or timer.period == DOZE_PERIOD_MS:
            timer.period = paced_period(timer.period)

    def wake(self, doc) -> None:
        """News for a dozing page (Play, Step, a build, a result): back to the paced period."""
        self.empty_ticks = 0
        if self.timer is not None:
            # a new period restarts Panel's timer on pn.state.curdoc, which a plain Bokeh callback
            # does not set: without this the drain would move to another session's document and
            # change this one's plots without its lock
            with set_curdoc(doc):
                self.timer.period = paced_period(POLL_PERIOD_MS)


def paced_period(current: int) -> int:
    """The period that keeps all awake drains of the process within ``DRAIN_BUDGET`` of the loop, or
    ``CROWDED_DRAIN_BUDGET`` while trainings wait for CPU (``current`` kept when within 20 %, so timers
    are not restarted for noise)."""
    load = sum(d.cost_s or 0.0 for d in list(_DRAINS) if d.timer is not None and not d.dozing)
    budget = CROWDED_DRAIN_BUDGET if COMPUTE.oversubscribed else DRAIN_BUDGET
    period = int(min(MAX_POLL_PERIOD_MS, max(POLL_PERIOD_MS, 1000.0 * load / budget)))
    return period if abs(period - current) > 0.2 * current else current
