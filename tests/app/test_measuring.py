"""The spiking test queue: every scheduled test is measured, in order, whatever the thread timing."""
from __future__ import annotations

import queue
import threading
import time
import uuid
from types import SimpleNamespace

import numpy as np
import pytest

from app.events import TestMeasured
from app.measuring import Measurements
from dendcore.evaluation import TestResult


class FakeEngine:
    def __init__(self):
        self._cond = threading.Condition()
        self._stop = False
        self._config = None
        self._name = "fake"
        self.foreground = False      # (a presented run's engine: its tests keep its priority)
        self.out: queue.Queue = queue.Queue()

    def _post(self, event):
        self.out.put(event)


def spiking_trainer(examples_seen: int):
    run = uuid.uuid4().hex      # a run of its own: shares no test with another fake's
    frozen = SimpleNamespace(
        examples_seen=examples_seen, epoch=0.0, wall_s=0.0, spec=SimpleNamespace(mode="spiking", sizes=(784, 500, 10)),
        test=lambda idx: TestResult(float(examples_seen % 97), len(idx), np.zeros(len(idx)), np.zeros(len(idx)),
                                    np.zeros((len(idx), 10)), 0.0),
        key_of_test=lambda idx: f"{run}-{examples_seen}-{len(idx)}")
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


def test_a_spiking_test_in_slices_gives_exactly_the_one_piece_result_and_frees_the_core_between(monkeypatch):
    """Slices sized by time (here forced to single images): the same predictions and scores as one piece,
    because each image's spikes come from its own index; and a compute turn per slice."""
    import app.measuring as measuring
    frozen = small_frozen("spiking")
    indices = np.arange(37)
    whole = frozen.test(indices)
    turns = count_turns(monkeypatch)
    monkeypatch.setattr(measuring, "scaled_to", lambda count, sizes: 5)   # a first slice of 5 images
    monkeypatch.setattr(measuring, "TEST_SLICE_S", 1e-9)                  # every later slice: one image
    sliced = measuring.test_in_slices(frozen, indices, lambda: False)
    assert len(turns) == 1 + (37 - 5)
    assert sliced.n_images == 37 and sliced.error_pct == whole.error_pct
    for field in ("predictions", "scores", "labels"):
        np.testing.assert_array_equal(getattr(sliced, field), getattr(whole, field))


def test_rate_test_slices_do_not_depend_on_the_clock(monkeypatch):
    """A rate matrix product rounds a row differently with the batch size: rate slices have a size fixed
    by the network, so two sessions measure bit-identical scores, equal to the CLI's for 784-500-10."""
    import app.measuring as measuring
    from dendcore.evaluation import RATE_TEST_BATCH
    frozen = small_frozen("rate", hidden=(500,))
    indices = np.arange(2 * RATE_TEST_BATCH + 300)
    whole = frozen.test(indices)
    turns = count_turns(monkeypatch)
    monkeypatch.setattr(measuring, "TEST_SLICE_S", 1e-9)      # would be one image per slice if timed
    sliced = measuring.test_in_slices(frozen, indices, lambda: False)
    assert len(turns) == 3                                     # 2000, 2000, 300
    np.testing.assert_array_equal(sliced.scores, whole.scores)
    big = measuring.scaled_to(measuring.FIRST_SLICE["rate"], (784, 2000, 2000, 2000, 10))
    assert 1 <= big < RATE_TEST_BATCH


def small_frozen(mode, hidden=(20,)):
    from dendcore import Diagnostics, ModelSpec, Trainer, load_mnist
    tr = Trainer(ModelSpec(hidden=hidden, mode=mode), load_mnist(), seed=3, diagnostics=Diagnostics.none())
    tr.train_examples(60)
    return tr.frozen()


def count_turns(monkeypatch):
    import app.measuring as measuring
    turns = []
    real_acquire = measuring.COMPUTE.acquire

    def counting_acquire(stopped):
        turns.append(1)
        return real_acquire(stopped)
    monkeypatch.setattr(measuring.COMPUTE, "acquire", counting_acquire)
    return turns


def test_a_large_networks_first_test_slice_is_a_few_images():
    from app.measuring import FIRST_SLICE
    from app.pacing import scaled_to
    assert scaled_to(FIRST_SLICE["spiking"], (784, 500, 10)) == FIRST_SLICE["spiking"]
    assert scaled_to(FIRST_SLICE["spiking"], (784, 2000, 2000, 2000, 10)) <= 5


def test_a_stopped_session_s_test_ends_between_slices(monkeypatch):
    """Closing a session stops its test at the next slice, even when the compute gate is free."""
    import app.measuring as measuring
    frozen = small_frozen("spiking")
    turns = count_turns(monkeypatch)
    monkeypatch.setattr(measuring, "scaled_to", lambda count, sizes: 2)
    monkeypatch.setattr(measuring, "TEST_SLICE_S", 1e-9)
    stop_after = iter([False, False, True])
    assert measuring.test_in_slices(frozen, np.arange(30), lambda: next(stop_after, True)) is None
    assert len(turns) == 2
