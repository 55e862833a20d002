"""What a busy event loop costs a training thread in the same process, by GIL switch interval.

    python -m benchmarks.gil_contention                    # 3 rounds of 10 s per case
    python -m benchmarks.gil_contention --intervals 0.005 0.0005 --seconds 15 --json

One thread trains spiking 784-500-10 as a served page's engine does: chunks that end on the
snapshot grid (100 examples) and a snapshot with every diagnostic after each.  The kernels run
without the GIL, but each chunk's Python (snapshot, bookkeeping, NumPy calls that release and
take the GIL back) needs it.  Meanwhile the main thread is either idle or busy in pure Python,
as a server's event loop is while it completes thirty followers' pages.  A thread that wants the
GIL back waits up to ``sys.getswitchinterval()`` before the holder is asked to let go, so the
cost of the busy loop depends on that interval.  All cases alternate in rounds in one process;
each figure is the best round.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time


def _train_for(tr, seconds: float, grid: int = 100) -> float:
    t0 = time.perf_counter()
    n0 = tr.examples_seen
    while time.perf_counter() - t0 < seconds:
        stats = tr.train_examples(grid, record_last=True)
        tr.snapshot(stats)
    return (tr.examples_seen - n0) / (time.perf_counter() - t0)


def run(intervals=(0.005, 0.001, 0.0005), seconds: float = 10.0, rounds: int = 3, log=print) -> dict:
    from dendcore import Diagnostics, Trainer, get_preset, load_dataset
    data = load_dataset("mnist")
    tr = Trainer(get_preset("glr17-1hl").spec, data=data, seed=0,
                 diagnostics=Diagnostics(traces=True))
    tr.train_examples(200)          # compile and warm up
    default = sys.getswitchinterval()
    best: dict[str, float] = {}
    try:
        for r in range(rounds):
            for iv in intervals:
                sys.setswitchinterval(iv)
                for busy in (False, True):
                    out: list[float] = []
                    t = threading.Thread(target=lambda: out.append(_train_for(tr, seconds)))
                    t.start()
                    if busy:
                        _busy_until(t)
                    t.join()
                    key = f"{iv * 1000:g} ms, {'busy' if busy else 'idle'} loop"
                    best[key] = max(best.get(key, 0.0), out[0])
                    log(f"round {r + 1}: {key}: {out[0]:.0f} examples/s")
    finally:
        sys.setswitchinterval(default)
    cost = {f"{iv * 1000:g} ms": 1 - best[f"{iv * 1000:g} ms, busy loop"] / best[f"{iv * 1000:g} ms, idle loop"]
            for iv in intervals}
    return {"best_examples_s": best, "cost_of_busy_loop": cost}


def _busy_until(t: threading.Thread) -> None:
    # pure Python work with the GIL held, like building and serialising pages
    while t.is_alive():
        d = {}
        for i in range(2000):
            d[str(i)] = [i, i * 0.5, {"k": i}]
        json.dumps(d)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--intervals", type=float, nargs="+", default=[0.005, 0.001, 0.0005])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = run(tuple(a.intervals), a.seconds, a.rounds, log=lambda s: print(s, file=sys.stderr, flush=True))
    for k, v in r["cost_of_busy_loop"].items():
        print(f"switch interval {k}: idle {r['best_examples_s'][k + ', idle loop']:.0f}, "
              f"busy {r['best_examples_s'][k + ', busy loop']:.0f} examples/s, cost {100 * v:.0f} %")
    if a.json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
