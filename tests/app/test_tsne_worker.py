"""The shared t-SNE worker process runs below the trainings, and on a crowded server only on CPU that
training and the page leave idle."""
import os
import sys

import pytest

from app import tsne


def _scheduling() -> dict[int, tuple[int, int]]:
    """The scheduling policy and niceness of each of the worker's threads (NumPy's BLAS threads included)."""
    import numpy as np
    np.linalg.svd(np.ones((300, 300)))       # what a map's PCA start does with the BLAS threads
    return {int(t): (os.sched_getscheduler(int(t)), os.getpriority(os.PRIO_PROCESS, int(t)))
            for t in os.listdir("/proc/self/task")}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")
def test_the_tsne_worker_runs_below_training_and_idle_once_a_class_crowds_the_server():
    import numpy as np
    activity = np.random.default_rng(0).random((60, 8))
    try:
        pool = tsne.shared_executor()
        alone = pool.submit(_scheduling).result(timeout=120)
        pool.submit(tsne.embed_timed, activity, None, False).result(timeout=120)
        still = pool.submit(_scheduling).result(timeout=120)
        xy, cpu_s = pool.submit(tsne.embed_timed, activity, None, True).result(timeout=120)
        crowded = pool.submit(_scheduling).result(timeout=120)
        pool.submit(tsne.embed_timed, activity, xy, False).result(timeout=120)
        after = pool.submit(_scheduling).result(timeout=120)
    finally:
        tsne.shutdown()
    # one run on the server: below the trainings (nice 10), every thread. OpenBLAS's, started before
    # the worker's initializer, had stayed at nice 0
    assert len(alone) >= 1 and set(alone.values()) == {(os.SCHED_OTHER, tsne.WORKER_NICENESS)}, alone
    assert set(still.values()) == {(os.SCHED_OTHER, tsne.WORKER_NICENESS)}, still
    # a class: a niceness only weights the share (the class-of-30 load test saw nice 15 take 0.3 cores),
    # so from the first crowded map on, only CPU nothing else wants, for good
    assert xy.shape == (60, 2) and cpu_s > 0
    assert {p for p, _ in crowded.values()} == {os.SCHED_IDLE}, crowded
    assert {p for p, _ in after.values()} == {os.SCHED_IDLE}, after


def test_maps_are_rationed_only_while_trainings_wait_for_cpu():
    crowded = [False]
    r = tsne.MapRation(share=0.1, crowded=lambda: crowded[0])
    # room for everyone: maps start whenever asked, several at once
    assert r.take(now=0.0) and r.take(now=0.0) and r.allows(now=0.0)
    r.done(1.0, now=2.0)
    r.done(0.5, now=2.0)
    assert r.allows(now=2.1) and r.take(now=2.1)
    r.done(0.1, now=2.2)
    # crowded: one map at a time, then a rest of 9 times its CPU (a tenth of a core)
    crowded[0] = True
    assert r.rationed and not r.allows(now=5.0) and not r.take(now=5.0)    # 2.0 + 9 * 1.0 = 11
    assert r.allows(now=11.0) and r.take(now=11.0)
    assert not r.take(now=100.0)            # one in flight
    r.done(2.0, now=12.0)
    assert not r.take(now=29.9) and r.take(now=30.0)      # 12 + 9 * 2 = 30
    r.done(0.0, now=30.0)                   # a failed map rests nothing more
    assert r.take(now=30.0)
    r.done(1.0, now=31.0)                   # rest until 40
    # a session without a map, turned away during the rest, goes before the next map of anyone else
    assert not r.allows(first=True, now=39.0)
    assert not r.take(now=40.0) and not r.allows(now=40.0)
    assert r.take(first=True, now=40.2)
    r.done(0.0, now=40.3)
    assert r.take(now=40.0 + 1.0 + tsne.FIRST_ASKS_S)     # it did not ask again: the others' turn


def test_a_rationed_map_is_labelled_and_gives_its_turn_back():
    from concurrent.futures import ThreadPoolExecutor
    import time

    import numpy as np

    rng = np.random.default_rng(1)
    x = np.repeat(rng.normal(size=(3, 10)) * 5, 40, axis=0) + rng.normal(size=(120, 10))
    crowded = [True]
    ration = tsne.MapRation(share=0.5, crowded=lambda: crowded[0])
    with ThreadPoolExecutor(max_workers=1) as pool:
        a, b = tsne.TsneMap(executor=pool, ration=ration), tsne.TsneMap(executor=pool, ration=ration)
        a.reset(1)
        b.reset(1)
        assert a.submit(x, 100, run_id=1)
        assert not b.ready and not b.submit(x, 100, run_id=1)     # the worker is taken
        t0 = time.perf_counter()
        while a.busy and time.perf_counter() - t0 < 60:
            time.sleep(0.02)
        res = a.take()
        assert res is not None and res.rationed and res.xy.shape == (120, 2)
        crowded[0] = False                  # the class paused: no rest, no ration
        assert b.ready and b.submit(x, 200, run_id=1)
        while b.busy and time.perf_counter() - t0 < 60:
            time.sleep(0.02)
        res = b.take()
        assert res is not None and not res.rationed


def test_on_a_full_server_a_first_map_starts_from_a_classmates_layout():
    from concurrent.futures import ThreadPoolExecutor
    import time

    import numpy as np

    rng = np.random.default_rng(2)
    x = np.repeat(rng.normal(size=(3, 10)) * 5, 40, axis=0) + rng.normal(size=(120, 10))
    crowded = [True]
    ration = tsne.MapRation(share=1.0, crowded=lambda: crowded[0])     # no rest: only the order matters
    layouts = tsne.Layouts()

    def one_map(m, run_id=1):
        assert m.submit(x, 100, run_id=run_id)
        t0 = time.perf_counter()
        while m.busy and time.perf_counter() - t0 < 60:
            time.sleep(0.02)
        return m.take()

    with ThreadPoolExecutor(max_workers=1) as pool:
        maps = [tsne.TsneMap(executor=pool, ration=ration, layouts=layouts) for _ in range(4)]
        for m, key in zip(maps, [("mnist",), ("mnist",), ("fashion-mnist",), ("mnist",)]):
            m.reset(1, layout_key=key)
        first = one_map(maps[0])
        assert not first.warm                          # nobody's layout yet: a PCA start
        assert layouts.get(("mnist", 120)) is first.xy
        borrowed = one_map(maps[1])
        assert borrowed.warm                            # a classmate's layout, continued
        # it starts there, and moves only a little (the same images, alike activity)
        assert np.median(np.linalg.norm(borrowed.xy - first.xy, axis=1)) < 0.5 * np.median(
            np.linalg.norm(first.xy, axis=1))
        assert not one_map(maps[2]).warm                # another data set's images: its own start
        crowded[0] = False
        assert not one_map(maps[3]).warm                # with CPU to spare, every run starts its own map
