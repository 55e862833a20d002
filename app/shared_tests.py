"""Test measurements shared by every copy of one run in this server process.

A class that opens the same link trains the same run thirty times: same settings, seed and
examples, so the same weights at every example count, and a test of those weights reads spikes
drawn from the seed and image index alone.  Each scheduled test is therefore measured once per
process (:func:`dendcore.evaluation.key_of_test` says when two are the same) and handed to every
copy that reaches it, including copies that ask while the first is still measuring.  Before, tests
took about 45 of the 64 points that 30 engines lost against the bare engine (benchmarks/README.md,
*Load test*, fifth session).

A copy that waits for another's measurement and sees it end without a result (that session
closed, or the measurement failed) measures for itself, so a test is never lost to another
session's fate.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import numpy as np

from dendcore.evaluation import TestResult

KEPT_RESULTS = 256          # finished measurements kept for copies that are further behind
WAIT_POLL_S = 0.1           # how often a waiting copy asks whether its own session still wants the result


class SharedTests:
    """Measurements by key: computed by the first copy to ask, waited for by the others."""

    def __init__(self, kept: int = KEPT_RESULTS):
        self.kept = int(kept)
        self._lock = threading.Lock()
        self._done: OrderedDict[str, TestResult] = OrderedDict()
        self._running: dict[str, threading.Event] = {}
        self.measured = 0       # tests computed here
        self.shared = 0         # tests handed on without computing

    def measure(self, key: str, compute: Callable[[], TestResult | None],
                stopped: Callable[[], bool]) -> TestResult | None:
        """The result for ``key``: someone's earlier one, the one under way, or ``compute()``.

        None only when ``stopped()`` (this caller's session ended) or ``compute()`` gave None.
        """
        while True:
            with self._lock:
                res = self._done.get(key)
                if res is not None:
                    self._done.move_to_end(key)
                    self.shared += 1
                    return res
                under_way = self._running.get(key)
                if under_way is None:
                    mine = self._running[key] = threading.Event()
            if under_way is None:
                return self._compute(key, mine, compute)
            while not under_way.wait(WAIT_POLL_S):
                if stopped():
                    return None
            # done: the loop finds the result, or (the measuring session gave up) measures itself

    def _compute(self, key: str, mine: threading.Event, compute) -> TestResult | None:
        res = None
        try:
            res = compute()
        finally:
            with self._lock:
                del self._running[key]
                if res is not None:
                    self.measured += 1
                    self._done[key] = _kept(res)
                    while len(self._done) > self.kept:
                        self._done.popitem(last=False)
            mine.set()
        return res


def _kept(res: TestResult) -> TestResult:
    # Copies read the error, the image count and the time; the per-image arrays (up to 10,000
    # predictions, labels and scores) are what would make 256 kept results weigh.
    none = np.empty(0, dtype=np.int64)
    return TestResult(res.error_pct, res.n_images, none, none, np.empty((0, 0)), res.wall_s)


SHARED_TESTS = SharedTests()
