"""Test-error measurements of one engine: on a frozen copy of the network, never skipped.

Rate mode tests in milliseconds, in the training thread.  A spiking test takes seconds, so
frozen copies queue for a helper thread (one per engine) that tests them in order while
training goes on; beyond ``MAX_PENDING_TESTS`` waiting, training waits too.

Either way a test takes the compute places one slice of images at a time (about
``TEST_SLICE_S``): 500 spiking images of a 2000-2000-2000 network take about 90 s, which in one
piece would stall every other student for as long.  Each image's spikes are drawn from its own
index, so the slices add up to exactly the result of one piece.  Rate mode's matrix products
round a row differently with the batch size, so its slices have a fixed size (from the network's
size, a multiple of the engine's batch where it is that large), never one taken from the clock.

Spiking tests and a class experiment's final test go through :data:`app.shared_tests.SHARED_TESTS`:
the copies of one run in this process (a class on one link) measure each of their tests once.
"""
from __future__ import annotations

import queue
import threading
from collections import deque

import numpy as np

from dendcore import Trainer
from dendcore.evaluation import RATE_TEST_BATCH, TestResult
from dendcore.trainer import FrozenNetwork

from .compute import COMPUTE, lower_priority, name_os_thread
from .events import Event, Stopped, TestMeasured
from .pacing import scaled_to
from .shared_tests import SHARED_TESTS

MAX_PENDING_TESTS = 3      # spiking tests waiting for the test thread; training waits beyond this
TEST_SLICE_S = 0.25        # a test holds a compute place about this long at once
FIRST_SLICE = {"spiking": 25, "rate": 2000}    # images in a first slice of 784-500-10 (spiking: then by time)


def test_in_slices(frozen: FrozenNetwork, indices: np.ndarray, stopped) -> TestResult | None:
    """``frozen.test(indices)``, a compute turn per slice of images; None when ``stopped()`` ends the wait."""
    timed = frozen.spec.mode != "rate"
    n = scaled_to(FIRST_SLICE.get(frozen.spec.mode, 100), frozen.spec.sizes)
    if not timed and n >= RATE_TEST_BATCH:
        n -= n % RATE_TEST_BATCH
    parts: list[TestResult] = []
    start = 0
    while start < indices.size:
        part = indices[start:start + n]
        # (a free gate grants a turn without asking ``stopped``: a closed session's test must end here)
        if stopped() or not COMPUTE.acquire(stopped):
            return None
        try:
            res = frozen.test(part)
        finally:
            COMPUTE.release()
        parts.append(res)
        start += part.size
        if timed and res.wall_s > 0:
            n = max(1, int(TEST_SLICE_S * part.size / res.wall_s))
    if len(parts) == 1:
        return parts[0]
    pred = np.concatenate([r.predictions for r in parts])
    labels = np.concatenate([r.labels for r in parts])
    err = float(100.0 * np.mean(pred != labels)) if labels.size else float("nan")
    return TestResult(err, int(labels.size), pred, labels, np.concatenate([r.scores for r in parts]),
                      sum(r.wall_s for r in parts))


class Measurements:
    """The test queue and thread of one :class:`app.engine.Engine`."""

    def __init__(self, engine):
        self.engine = engine
        self._queue: deque[tuple[int, FrozenNetwork, np.ndarray]] = deque()
        self._thread: threading.Thread | None = None
        self._serving = False       # under engine._cond: a test thread will look at the queue again

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def clear(self) -> None:
        with self.engine._cond:
            self._queue.clear()

    def start(self, tr: Trainer, run_id: int, n_images: int) -> bool:
        """Measure the test error of the network as it is now, without stopping the training.

        Rate mode tests in a few milliseconds, here.  A spiking test takes seconds, so it
        runs on a frozen copy of the network in a helper thread on one core while training
        goes on; the result is posted with the example count at which the copy was taken.
        Every scheduled test runs (their results must not depend on the machine's speed):
        while ``MAX_PENDING_TESTS`` wait, training waits too.
        """
        total = min(int(n_images), len(tr.data.test_labels))
        if total <= 0:
            return False
        indices = np.arange(total)
        frozen = tr.frozen()
        if tr.spec.mode == "rate":
            res = test_in_slices(frozen, indices, lambda: self.engine._stop)
            if res is not None:
                self.engine._post(_measured(run_id, frozen, res))
            return res is not None
        with self.engine._cond:
            while len(self._queue) >= MAX_PENDING_TESTS and not self.engine._stop and self.engine._config is None:
                self.engine._cond.wait(0.1)
            if self.engine._stop or self.engine._config is not None:
                return False
            self._queue.append((run_id, frozen, indices))
            self.engine._cond.notify_all()
            # Decided under the lock the thread exits under: a thread that has just found the queue
            # empty is still alive for a moment, and would otherwise leave this test waiting forever.
            spawn = not self._serving
            self._serving = True
        if spawn:
            self._thread = threading.Thread(target=self._run_queue, name=f"{self.engine._name}-test", daemon=True)
            self._thread.start()
        return True

    def _run_queue(self) -> None:
        """The test thread: the queued spiking tests, oldest first; it ends when none are left."""
        try:
            self._serve()
        finally:
            with self.engine._cond:     # however it ends, the next queued test starts a thread of its own
                self._serving = False

    def _serve(self) -> None:
        # a presented run's tests keep its priority: below its training they fell behind it while
        # followers' pages opened, and the training then waited for them (MAX_PENDING_TESTS)
        if self.engine.foreground:
            name_os_thread("test")
        else:
            lower_priority("test")
        try:
            import numba
            numba.set_num_threads(1)      # this thread only: leave the other core to training
        except Exception:
            pass
        while True:
            with self.engine._cond:
                if self.engine._stop or not self._queue:
                    self._queue.clear()
                    self._serving = False
                    return
                item = self._queue[0]
            event = self._test_once(*item)
            with self.engine._cond:
                if self._queue and self._queue[0] is item:    # (a new network may have cleared the queue)
                    self._queue.popleft()
                self.engine._cond.notify_all()
            if event is not None and not self.engine._stop:
                try:
                    self.engine.out.put(event, timeout=5.0)
                except queue.Full:
                    pass

    def _test_once(self, run_id: int, frozen: FrozenNetwork, indices: np.ndarray) -> Event | None:
        try:
            res = self._shared(frozen, indices)
            return _measured(run_id, frozen, res) if res is not None else None
        except Exception as exc:   # report, never kill the session
            return Stopped(run_id, "failed", f"The test-error measurement failed: {exc}", frozen.examples_seen)

    def final(self, tr: Trainer, run_id: int, n_images: int) -> None:
        """A class experiment's budget is spent: the test that makes its result, in the training
        thread (so it always happens, before the run says it stopped)."""
        n = min(int(n_images), len(tr.data.test_labels))
        if n <= 0:
            return
        frozen = tr.frozen()
        res = self._shared(frozen, np.arange(n))
        if res is not None:
            self.engine._post(_measured(run_id, frozen, res))

    def _shared(self, frozen: FrozenNetwork, indices: np.ndarray) -> TestResult | None:
        """The test of ``indices``, measured once for every copy of this run in the process (app.shared_tests)."""
        stopped = lambda: self.engine._stop        # noqa: E731
        return SHARED_TESTS.measure(frozen.key_of_test(indices),
                                    lambda: test_in_slices(frozen, indices, stopped), stopped)


def _measured(run_id: int, frozen: FrozenNetwork, res) -> TestMeasured:
    return TestMeasured(run_id, frozen.examples_seen, frozen.epoch, frozen.wall_s, res.error_pct, res.n_images,
                        res.wall_s)
