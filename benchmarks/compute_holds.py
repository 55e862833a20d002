"""How long one session holds a compute place at once: training chunks and test measurements.

    python -m benchmarks.compute_holds                       # 784-500-10 and 2000-2000-2000, spiking and rate
    python -m benchmarks.compute_holds --hidden 2000-2000-2000 --mode spiking --seconds 30

A session's engine trains at full speed with a test of ``--test-images`` images every ``--test-every``
examples; every acquire/release of the process's compute gate (app.compute.COMPUTE) is timed, by the
thread that held it (rate mode tests in the training thread, so its test slices count as training
holds). While one thread holds a place, every other session waiting for it stalls, so
the longest hold is what a class feels when one student builds the largest network (issue 15 asks
for about 0.5 s at most).
"""
from __future__ import annotations

import argparse
import queue
import threading
import time

import numpy as np

from app import compute
from app.engine import Engine, RunConfig
from app.events import Ready, Stopped, TestMeasured
from dendcore import ModelSpec
from dendcore.spec import paper_learning_rates


def instrument(gate) -> list[tuple[str, float]]:
    """Time every hold of ``gate``, with the holding thread's name (patches this process's gate once)."""
    holds: list[tuple[str, float]] = []
    started = threading.local()
    acquire, release = gate.acquire, gate.release

    def timed_acquire(cancelled=lambda: False):
        ok = acquire(cancelled)
        if ok:
            started.t = time.perf_counter()
        return ok

    def timed_release():
        t0 = getattr(started, "t", None)
        if t0 is not None:
            holds.append((threading.current_thread().name, time.perf_counter() - t0))
            started.t = None
        release()
    gate.acquire, gate.release = timed_acquire, timed_release
    return holds


HOLDS = instrument(compute.COMPUTE)


def run(hidden: tuple[int, ...], mode: str, seconds: float, test_every: int, test_images: int) -> dict:
    spec = ModelSpec(hidden=hidden, mode=mode, lr=paper_learning_rates(len(hidden)))
    name = f"holds-{'-'.join(map(str, hidden))}-{mode}"
    engine = Engine(name=name)
    engine.set_pacing(test_every=test_every, test_images=test_images)
    engine.configure(RunConfig(spec, 0, "mnist", 1))
    tests, t_play = 0, None
    deadline = time.perf_counter() + 600
    try:
        while time.perf_counter() < deadline:
            try:
                ev = engine.out.get(timeout=0.1)
            except queue.Empty:
                ev = None
            if isinstance(ev, Ready):
                engine.play()
                t_play = time.perf_counter()
                deadline = t_play + seconds
            elif isinstance(ev, TestMeasured):
                tests += 1
            elif isinstance(ev, Stopped):
                raise RuntimeError(ev.text)
    finally:
        seen = engine.examples_seen
        engine.close(timeout=30.0)      # its test thread too: a later run must not count its holds
    out = {"network": "-".join(map(str, (784, *hidden, 10))), "mode": mode, "examples": seen, "tests": tests}
    mine = [(thread, dt) for thread, dt in HOLDS if thread in (name, name + "-test")]
    for kind in ("train", "test"):
        x = [dt for thread, dt in mine if thread.endswith("-test") == (kind == "test")]
        out[kind] = (len(x), float(np.percentile(x, 95)) if x else 0.0, max(x, default=0.0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", nargs="+", default=["500", "2000-2000-2000"])
    ap.add_argument("--mode", choices=("spiking", "rate", "both"), default="both")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--test-every", type=int, default=500)
    ap.add_argument("--test-images", type=int, default=500)
    opts = ap.parse_args()
    modes = ("spiking", "rate") if opts.mode == "both" else (opts.mode,)
    print("| network | mode | examples | tests | training holds: n, p95, max s | test holds: n, p95, max s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for h in opts.hidden:
        hidden = tuple(int(x) for x in h.split("-"))
        for mode in modes:
            r = run(hidden, mode, opts.seconds, opts.test_every, opts.test_images)
            cells = [f"{n}, {p95:.3f}, {mx:.3f}" for n, p95, mx in (r["train"], r["test"])]
            print(f"| {r['network']} | {mode} | {r['examples']} | {r['tests']} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
