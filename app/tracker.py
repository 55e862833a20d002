"""The page's record of one run, fed by its engine's events: the main run and the ghost alike.

A :class:`RunTracker` accepts only the events of the run it expects (a network that
has since been replaced still has news in the queue), keeps the latest snapshot,
test and speed, and a bounded history for export.  Each drain gathers a poll's news
into a :class:`RunNews` for the plots.  Stops (the run-length limit, a divergence, a
failure) are handed back to the owner, which decides what they mean for its
training place and its notices.
"""
from __future__ import annotations

import dataclasses
import math
import queue
from dataclasses import dataclass, field

import numpy as np

from dendcore import SCHEMA_VERSION, ModelSpec, Snapshot
from dendcore.sweep import json_safe

from .events import Event, LiveApplied, Progress, Ready, SnapshotTaken, Stopped, TestMeasured

HISTORY_LIMIT = 4000             # snapshots kept for export (thinned by half when reached)


@dataclass
class RunNews:
    """What one poll brought from one run; the page turns it into stream events."""
    run_id: int
    new_run: bool = False                       # a network was (re)built (or removed): clear the plots
    spec: ModelSpec | None = None               # with new_run: the new network's spec (None: no run any more)
    label: str = ""                             # the legend name of a ghost, e.g. "backprop"
    snapshots: list[Snapshot] = field(default_factory=list)
    progress: list[Snapshot] = field(default_factory=list)   # the latest example between two snapshots
    rates: list[float] = field(default_factory=list)
    tests: list[tuple[int, float, int]] = field(default_factory=list)   # (examples_seen, error %, images)
    live: list[LiveApplied] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)   # (kind, text)

    @property
    def empty(self) -> bool:
        return not (self.new_run or self.snapshots or self.progress or self.tests or self.live or self.messages)


def merge_news(updates: list, update_type):
    """Several polls' news for the plots as one, from the last rebuild on: a follower may read a few at
    once, and a page whose plots waited for their turn shows what it held in one go.

    Carries what the plots draw (curve points, the latest example, tests, live changes, the t-SNE map
    and the ghost's news); a ghost's news are a plain :class:`RunNews`, without a map.
    """
    start = max((i for i, u in enumerate(updates) if u.new_run), default=0)
    updates = updates[start:]
    out = update_type(run_id=updates[-1].run_id, new_run=updates[0].new_run, spec=updates[0].spec,
                      label=updates[-1].label)
    for u in updates:
        out.snapshots += u.snapshots
        out.progress += u.progress
        out.tests += u.tests
        out.live += u.live
        if getattr(u, "tsne", None) is not None:
            out.tsne = u.tsne
    ghosts = [g for g in (getattr(u, "ghost", None) for u in updates) if g is not None]
    if ghosts:
        out.ghost = merge_news(ghosts, RunNews)
    return out


class History:
    """Snapshot records for export, bounded by thinning (every other one) when full.

    Test measurements are always kept, in order of examples seen.
    """

    def __init__(self, limit: int = HISTORY_LIMIT):
        self.limit = limit
        self.rows: list[dict] = []
        self.stride = 1
        self._skip = 0

    def add_snapshot(self, snap: Snapshot) -> None:
        if self._skip:
            self._skip -= 1
            return
        self._skip = self.stride - 1
        self.rows.append(_record(snap))
        self._bound()

    def add_test(self, ev: TestMeasured) -> None:
        # a snapshot that summarises no training examples
        row = Snapshot(version=SCHEMA_VERSION, examples_seen=ev.examples_seen, epoch=ev.epoch, wall_s=ev.wall_s,
                       examples=0, loss_output=None, loss_hidden=None, train_error_pct=None,
                       test_error_pct=ev.error_pct, test_images=ev.n_images)
        row = _record(row)
        k = len(self.rows)
        while k and self.rows[k - 1]["examples_seen"] > ev.examples_seen:
            k -= 1
        self.rows.insert(k, row)
        self._bound()

    def _bound(self) -> None:
        if len(self.rows) >= self.limit:
            self.rows = [h for i, h in enumerate(self.rows) if i % 2 == 0 or h.get("test_error_pct") is not None]
            self.stride *= 2


def _record(snap: Snapshot) -> dict:
    """A snapshot as an export row: no voltage traces or probe activity (large, and per example)."""
    d = dataclasses.replace(snap, traces=None, probe_activity=None).to_dict()
    d.pop("traces", None)
    d.pop("probe_activity", None)
    return d


class RunTracker:
    """Events of one run in, its latest numbers and a poll's news out."""

    def __init__(self, keep_history: bool = True):
        self.keep_history = keep_history
        self.run_id = 0
        self.expect(0)

    def expect(self, run_id: int) -> None:
        """From now on, take the events of this run only (it is being built)."""
        self.run_id = run_id
        self.spec: ModelSpec | None = None
        self.ready = False
        self.probe_indices = np.zeros(0, dtype=np.int64)
        self.last: Snapshot | None = None         # the latest snapshot (a row of the history)
        self.latest: Snapshot | None = None       # the latest snapshot or progress report
        self.last_test: tuple[float, int, int] | None = None    # (error %, images, at examples)
        self.rate = math.nan
        self.history = History()
        self.start_spec: ModelSpec | None = None  # as built, before any live change
        self.changes: list[dict] = []             # live changes as applied: {"examples_seen": N, "set": {...}}

    def drain(self, source: queue.Queue, news: RunNews, limit: int = 256) -> list[Stopped]:
        """Take up to ``limit`` events off the queue (never blocking); returns the stops among them."""
        stops = []
        for _ in range(limit):
            try:
                event = source.get_nowait()
            except queue.Empty:
                break
            stop = self.take(event, news)
            if stop is not None:
                stops.append(stop)
        return stops

    def take(self, ev: Event, news: RunNews) -> Stopped | None:
        if ev.run_id != self.run_id and ev.run_id != -1:
            return None        # from a network that has since been replaced
        if isinstance(ev, Ready):
            self.expect(ev.run_id)
            self.spec = self.start_spec = ev.spec
            self.probe_indices = ev.probe_indices
            self.ready = True
            news.new_run, news.spec = True, ev.spec
            news.snapshots.clear()
            news.progress.clear()
            news.rates.clear()
            news.tests.clear()
        elif isinstance(ev, Progress):
            self.latest, self.rate = ev.snapshot, ev.rate
            news.progress.append(ev.snapshot)
        elif isinstance(ev, SnapshotTaken):
            self.last = self.latest = ev.snapshot
            self.rate = ev.rate
            if self.keep_history:
                self.history.add_snapshot(ev.snapshot)
            news.snapshots.append(ev.snapshot)
            news.rates.append(ev.rate)
        elif isinstance(ev, TestMeasured):
            self.last_test = (ev.error_pct, ev.n_images, ev.examples_seen)
            if self.keep_history:
                self.history.add_test(ev)
            news.tests.append((ev.examples_seen, ev.error_pct, ev.n_images))
        elif isinstance(ev, LiveApplied):
            self.spec = ev.spec
            if self.keep_history:     # with the example count it took effect at, so the run replays
                self.changes.append({"examples_seen": ev.examples_seen, "set": json_safe(ev.changes)})
            news.live.append(ev)
        elif isinstance(ev, Stopped):
            return ev
        return None

    def observe(self, news: RunNews) -> None:
        """Follow news gathered elsewhere (a presenter's, for a follower): the latest numbers only."""
        if news.new_run:
            self.expect(news.run_id)
            self.spec, self.ready = news.spec, news.spec is not None
        if news.snapshots:
            self.last = news.snapshots[-1]
        shown = list(news.snapshots) + list(news.progress)
        if shown:
            self.latest = max(shown, key=lambda s: s.examples_seen)
        if news.tests:
            at, err, n = news.tests[-1]
            self.last_test = (err, n, at)

    @property
    def examples_seen(self) -> int:
        return self.latest.examples_seen if self.latest is not None else 0

    def test_text(self) -> str | None:
        if self.last_test is None:
            return None
        err, n, at = self.last_test
        return f"{err:.1f} % ({n} images, at {at} examples)"
