"""Where a class's CPU goes: the bare engine against 30 of the server's engines, part by part.

    python -m benchmarks.class_efficiency                  # 30 engines, 40 s per variant
    python -m benchmarks.class_efficiency --sessions 10 --seconds 20 --json

No server and no pages: each variant runs N of the dashboard's engines (``app.engine.Engine``,
with its compute gate, chunk pacing, snapshots and tests) training spiking 784-500-10 in this
process, their queues emptied by one thread as a page's drain would, and sums their examples
per second over a window.  Each engine has a seed of its own (as in a class experiment), except
in "same_link", where all train the one run a class gets from one link (and share its tests,
app/shared_tests.py).  The other variants take one part away at a time, so the differences are
what each part costs; the bare engine (one Trainer per core, nothing else) is measured first and
last, and the table is set against their mean.  What the server adds on top (pages, plot
updates, the t-SNE worker) is in ``benchmarks/load_test.py``, which reports the class's total
against the same bare engine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time

VARIANTS = (
    ("served", "as served: snapshots with every diagnostic, tests at 500, 1,000, 2,000, … examples"),
    ("same_link", "as served, one seed for all: the class opened the same link"),
    ("no_tests", "no test measurements (Test every 0)"),
    ("bare_snapshots", "no tests, snapshots without diagnostics"),
)


def bare_engine(seconds: float, threads: int | None = None) -> float:
    """Examples per second of the bare engine on this machine's cores: one spiking 784-500-10
    Trainer per core, each in its own thread (the kernels release the GIL), chunks sized as the
    server sizes them, no snapshots, tests, probes or pages."""
    from dendcore import Diagnostics, Trainer, get_preset, load_dataset
    from app.pacing import MAX_CHUNK, ChunkPacer, Pacing

    threads = threads or os.cpu_count() or 1
    data = load_dataset("mnist")
    spec = get_preset("glr17-1hl").spec
    trainers = [Trainer(spec, data=data, seed=k, diagnostics=Diagnostics.none()) for k in range(threads)]
    for tr in trainers:
        tr.train_examples(10)                       # kernels loaded from the cache, memory touched
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    end = [math.inf]

    def work(k: int) -> None:
        tr, pacer, full_speed = trainers[k], ChunkPacer(spec.mode, spec.sizes), Pacing()
        start.wait()
        while time.perf_counter() < end[0]:
            n = pacer.size(full_speed, stepping=False, room=MAX_CHUNK)
            t = time.perf_counter()
            tr.train_examples(n)
            pacer.done(n, t, time.perf_counter() - t, full_speed)
            counts[k] += n

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for th in pool:
        th.start()
    t0 = time.perf_counter()
    end[0] = t0 + seconds
    start.wait()
    for th in pool:
        th.join()
    return sum(counts) / (time.perf_counter() - t0)


def engines(n: int, seconds: float, variant: str, settle: float = 3.0) -> dict:
    """Sum of examples per second of ``n`` dashboard engines over ``seconds``, after ``settle``."""
    from dendcore import Diagnostics, get_preset
    from app.engine import Engine, RunConfig

    class Plain(Engine):
        TRAINER_DIAGNOSTICS = Diagnostics.none()

    cls = Plain if variant == "bare_snapshots" else Engine
    spec = get_preset("glr17-1hl").spec
    pool = [cls(name=f"bench-{k}") for k in range(n)]
    stop = threading.Event()

    def drain() -> None:        # what the pages' drains do with the queues: take everything, often
        while not stop.is_set():
            for e in pool:
                while True:
                    try:
                        e.out.get_nowait()
                    except Exception:
                        break
            time.sleep(0.05)

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        for k, e in enumerate(pool):
            if variant in ("no_tests", "bare_snapshots"):
                e.set_pacing(test_every=0)
            e.configure(RunConfig(spec, seed=0 if variant == "same_link" else k, dataset="mnist", run_id=1))
            e.play()
        time.sleep(settle)
        s0, t0, c0 = sum(e.examples_seen for e in pool), time.perf_counter(), time.process_time()
        time.sleep(seconds)
        s1, t1, c1 = sum(e.examples_seen for e in pool), time.perf_counter(), time.process_time()
    finally:
        stop.set()
        for e in pool:
            e.close()
        drainer.join()
    return {"rate": (s1 - s0) / (t1 - t0), "cpu_cores": (c1 - c0) / (t1 - t0),
            "examples": [e.examples_seen for e in pool]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    bare = [bare_engine(15.0)]
    rows = {}
    for name, _ in VARIANTS:
        rows[name] = engines(a.sessions, a.seconds, name)
    bare.append(bare_engine(15.0))
    ref = sum(bare) / len(bare)
    print(f"bare engine, {os.cpu_count()} cores: {bare[0]:.0f} before, {bare[1]:.0f} after (examples/s)")
    print(f"{a.sessions} engines, {a.seconds:.0f} s each, spiking 784-500-10:")
    for name, text in VARIANTS:
        r = rows[name]
        print(f"  {text:<78} {r['rate']:7.0f} ex/s  {100 * r['rate'] / ref:5.1f} %  "
              f"(examples at the end: {min(r['examples'])}-{max(r['examples'])})")
    if a.json:
        print(json.dumps({"bare": bare, "variants": {k: {"rate": v["rate"], "share": v["rate"] / ref}
                                                      for k, v in rows.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
