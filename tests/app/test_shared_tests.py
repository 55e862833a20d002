"""Copies of one run share their test measurements: measured once, the same numbers for every copy."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.shared_tests import SharedTests
from dendcore import Diagnostics, ModelSpec, Trainer, load_mnist
from dendcore.evaluation import TestResult


def result(err: float, n: int = 10) -> TestResult:
    return TestResult(err, n, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros((n, 10)), 0.5)


def in_threads(n, fn):
    out = [None] * n
    threads = [threading.Thread(target=lambda k=k: out.__setitem__(k, fn(k))) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    return out


def test_copies_asking_at_once_get_one_measurement():
    shared = SharedTests()
    calls, release = [], threading.Event()

    def compute():
        calls.append(1)
        assert release.wait(30)
        return result(12.5)

    threading.Timer(0.5, release.set).start()    # all eight ask while the first still measures
    got = in_threads(8, lambda k: shared.measure("k", compute, lambda: False))
    assert len(calls) == 1
    assert [r.error_pct for r in got] == [12.5] * 8
    assert (shared.measured, shared.shared) == (1, 7)
    later = shared.measure("k", compute, lambda: False)        # a copy further behind
    assert later.error_pct == 12.5 and len(calls) == 1


def test_different_keys_are_measured_apart():
    shared = SharedTests()
    got = [shared.measure(k, lambda k=k: result(float(len(k))), lambda: False).error_pct for k in ("a", "bb", "a")]
    assert got == [1.0, 2.0, 1.0] and shared.measured == 2


@pytest.mark.parametrize("ending", ["closed", "failed"])
def test_a_waiting_copy_measures_itself_when_the_first_gives_up(ending):
    shared = SharedTests()
    started, go_on = threading.Event(), threading.Event()

    def first():
        started.set()
        assert go_on.wait(30)
        if ending == "failed":
            raise RuntimeError("boom")
        return None                                            # its session closed mid-test

    def leader():
        try:
            return shared.measure("k", first, lambda: False)
        except RuntimeError:
            return "raised"

    t = threading.Thread(target=lambda: box.append(leader()))
    box = []
    t.start()
    assert started.wait(30)
    waiter = []
    w = threading.Thread(target=lambda: waiter.append(shared.measure("k", lambda: result(3.0), lambda: False)))
    w.start()
    time.sleep(0.3)
    go_on.set()
    t.join(30)
    w.join(30)
    assert box == ["raised" if ending == "failed" else None]
    assert waiter[0].error_pct == 3.0


def test_a_waiting_copy_whose_session_closes_stops_waiting():
    shared = SharedTests()
    release = threading.Event()
    t = threading.Thread(target=lambda: shared.measure("k", lambda: (release.wait(30), result(1.0))[1], lambda: False))
    t.start()
    closed = threading.Event()
    threading.Timer(0.3, closed.set).start()
    t0 = time.monotonic()
    assert shared.measure("k", lambda: pytest.fail("measured twice"), closed.is_set) is None
    assert time.monotonic() - t0 < 10
    release.set()
    t.join(30)


def test_only_the_newest_results_are_kept_and_without_their_per_image_arrays():
    shared = SharedTests(kept=3)
    for k in range(5):
        shared.measure(str(k), lambda k=k: result(float(k)), lambda: False)
    calls = []
    shared.measure("0", lambda: calls.append(1) or result(0.0), lambda: False)    # dropped: measured again
    assert calls == [1]
    kept = shared.measure("4", lambda: pytest.fail("kept"), lambda: False)
    assert (kept.error_pct, kept.n_images, kept.wall_s) == (4.0, 10, 0.5)
    assert kept.scores.size == kept.predictions.size == kept.labels.size == 0


def frozen_at(examples, seed=5, **spec_changes):
    spec = ModelSpec(hidden=(20,), **spec_changes)
    tr = Trainer(spec, load_mnist(), seed=seed, diagnostics=Diagnostics.none())
    tr.train_examples(examples)
    return tr


def test_the_key_is_equal_exactly_for_copies_of_one_run_at_one_example_count():
    idx = np.arange(40)
    a, b = frozen_at(30), frozen_at(30)
    key = a.frozen().key_of_test(idx)
    assert b.frozen().key_of_test(idx) == key
    np.testing.assert_array_equal(a.frozen().test(idx).scores, b.frozen().test(idx).scores)
    assert a.frozen().key_of_test(np.arange(41)) != key
    assert frozen_at(30, seed=6).frozen().key_of_test(idx) != key
    assert frozen_at(31).frozen().key_of_test(idx) != key
    b.set_live(g_a=0.2)                      # a live change moves the test, not yet the weights
    assert b.frozen().key_of_test(idx) != key
    assert frozen_at(30, precision="float32").frozen().key_of_test(idx) != key
    other = frozen_at(30)
    other.data = load_mnist().validation_split()           # another test set under the same seed
    assert other.frozen().key_of_test(idx) != key
