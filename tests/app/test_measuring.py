"""The spiking test queue: every scheduled test is measured, in order, whatever the thread timing."""
from __future__ import annotations

import queue
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from app.events import TestMeasured
from app.measuring import Measurements


class FakeEngine:
    def __init__(self):
        self._cond = threading.Condition()
        self._stop = False
        self._config = None
        self._name = "fake"
        self.out: queue.Queue = queue.Queue()

    def _post(self, event):
        self.out.put(event)


def spiking_trainer(examples_seen: int):
    frozen = SimpleNamespace(
        examples_seen=examples_seen, epoch=0.0, wall_s=0.0,
        test=lambda idx: SimpleNamespace(error_pct=float(examples_seen % 97), n_images=len(idx), wall_s=0.0))
    return SimpleNamespace(data=SimpleNamespace(test_labels=np.zeros(50)), spec=SimpleNamespace(mode="spiking"),
                           frozen=lambda: frozen)


def results(engine, n, timeout=30.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        try:
            got.append(engine.out.get(timeout=0.1))
        except queue.Empty:
            pass
    return got


class SlowToExit(Measurements):
    """A test thread that lingers after finding the queue empty, as a descheduled thread does."""

    def _run_queue(self):
        super()._run_queue()
        self.exited_once.set()
        time.sleep(0.5)

    exited_once = threading.Event()


def test_a_test_queued_while_the_last_thread_is_exiting_is_still_measured():
    engine = FakeEngine()
    m = SlowToExit(engine)
    SlowToExit.exited_once = threading.Event()
    assert m.start(spiking_trainer(500), run_id=1, n_images=20)
    assert [e.examples_seen for e in results(engine, 1)] == [500]
    assert m.exited_once.wait(10)
    # the thread is still alive but will not look at the queue again
    assert m.start(spiking_trainer(1000), run_id=1, n_images=20)
    got = results(engine, 1, timeout=10)
    assert [e.examples_seen for e in got] == [1000], "the queued test was never measured"
    assert isinstance(got[0], TestMeasured) and got[0].n_images == 20


def test_queued_tests_are_measured_in_order():
    engine = FakeEngine()
    m = Measurements(engine)
    for k in range(1, 6):
        assert m.start(spiking_trainer(500 * k), run_id=1, n_images=10)
    assert [e.examples_seen for e in results(engine, 5)] == [500, 1000, 1500, 2000, 2500]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")   # the thread dies on purpose
def test_a_test_thread_that_dies_does_not_block_the_next_tests():
    engine = FakeEngine()
    real_put = engine.out.put
    calls = []

    def put_once_broken(event, *a, **k):
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("a broken queue")
        real_put(event, *a, **k)
    engine.out.put = put_once_broken
    m = Measurements(engine)
    assert m.start(spiking_trainer(500), run_id=1, n_images=10)
    deadline = time.monotonic() + 10
    while m.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not m.alive and calls
    assert m.start(spiking_trainer(1000), run_id=1, n_images=10)
    assert [e.examples_seen for e in results(engine, 1, timeout=10)] == [1000]
