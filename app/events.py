"""What a training thread tells the page: small frozen records, one type per kind of news.

The engine thread (:mod:`app.engine`) puts these on its bounded queue; the page's
poll takes them off and hands them to a :class:`app.tracker.RunTracker`.  Every
event names the run it belongs to, so news from a network that has since been
replaced is dropped (``run_id == -1``: the thread itself failed, whatever run).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from dendcore import ModelSpec, Snapshot


def _now() -> float:
    return time.perf_counter()


@dataclass(frozen=True)
class Ready:
    """A network was built and waits at example 0."""
    run_id: int
    spec: ModelSpec
    probe_indices: np.ndarray
    t: float = field(default_factory=_now)


@dataclass(frozen=True)
class SnapshotTaken:
    """One chunk was trained; ``rate`` is the examples per second the run achieved lately, waits included."""
    run_id: int
    snapshot: Snapshot
    rate: float
    t: float = field(default_factory=_now)


@dataclass(frozen=True)
class Progress:
    """Training moved on between two snapshots (slow speeds, Step): the latest example, for display
    only; it is neither a row of the run's history nor a point of its curves."""
    run_id: int
    snapshot: Snapshot
    rate: float
    t: float = field(default_factory=_now)


@dataclass(frozen=True)
class TestMeasured:
    """The test error of the network as it was at ``examples_seen`` examples."""
    __test__ = False     # not a pytest class
    run_id: int
    examples_seen: int
    epoch: float
    wall_s: float
    error_pct: float
    n_images: int
    test_wall_s: float
    t: float = field(default_factory=_now)


@dataclass(frozen=True)
class LiveApplied:
    """Live changes reached the running network; ``requested``/``applied`` are perf_counter() times."""
    run_id: int
    changes: dict[str, Any]
    spec: ModelSpec
    requested: float | None
    applied: float
    examples_seen: int
    t: float = field(default_factory=_now)


StopReason = Literal["limit", "budget", "diverged", "failed"]


@dataclass(frozen=True)
class Stopped:
    """Training stopped by itself: the run-length limit, a class experiment's budget, a divergence, or a failure.

    ``text`` is the sentence for the page (never a traceback); ``epochs`` is set with
    the run-length limit.
    """
    run_id: int
    reason: StopReason
    text: str
    examples_seen: int = 0
    epochs: float | None = None
    t: float = field(default_factory=_now)


Event = Ready | SnapshotTaken | Progress | TestMeasured | LiveApplied | Stopped
