"""What a ghost run costs the main run, and whether it should get its own thread.

    python -m benchmarks.bench_ghost                    # spiking and rate glr17-1hl, ~3 minutes
    python -m benchmarks.bench_ghost --presets glr17-1hl-rate --seconds 5 --rounds 1

Three ways of training a main run, measured in alternation (so a busy machine
hurts all of them alike), each reporting the main run's examples per second:

* ``alone``        -- one trainer in one thread (no ghost);
* ``two threads``  -- main and ghost trainers in two threads, the ghost kept
                      from getting ahead (what the dashboard does);
* ``interleaved``  -- one thread training a chunk of the main run, then the
                      same chunk of the ghost (the alternative design).

``headless`` rows use bare trainers (chunks of about 50 ms); ``dashboard`` rows
use the dashboard's controller and engine threads with a poll every 200 ms, as
the page does (t-SNE off, so the comparison is about training).

Measured on the 2-core reference machine (backprop ghost, 2 rounds of 8 s, load
average 0.6 at the start), main run's examples per second:

    preset           rows       alone    two threads      interleaved
    glr17-1hl        headless   2,731    2,576 (94 %)     1,332 (49 %)
    glr17-1hl        dashboard  2,936    1,897 (65 %)     -
    glr17-1hl-rate   headless  21,811   15,577 (71 %)    10,476 (48 %)
    glr17-1hl-rate   dashboard 17,073    9,617 (56 %)     -

The ghost trains as fast as the main run in both designs (it may not get
ahead).  In the dashboard the ghost's test-error measurements (every 2,500
examples, on copies of the weights in helper threads) compete for the same two
cores, so the main run keeps less than with bare trainers; interleaving would
halve it before those tests are even counted.  Hence one thread per ghost.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHUNK = {"spiking": 20, "rate": 300}     # about 50 ms of training each on the reference machine


def _trainers(preset: str, ghost: str):
    from dendcore import Diagnostics, Trainer, get_preset, load_dataset
    from app.ghost import ghost_spec

    spec = get_preset(preset).spec
    data = load_dataset("mnist")
    main = Trainer(spec, data, seed=0, diagnostics=Diagnostics(traces=True))
    other = Trainer(ghost_spec(ghost, spec), data, seed=0, diagnostics=Diagnostics(traces=False))
    return main, other


def headless(preset: str, how: str, seconds: float, ghost: str) -> dict:
    main, other = _trainers(preset, ghost)
    n = CHUNK[main.spec.mode]
    for tr in (main, other):           # compiled and warm before the clock starts
        tr.snapshot(tr.train_examples(n, record_last=True))
    stop = threading.Event()
    counts = {"main": 0, "ghost": 0}

    def train(tr, key, leader=None):
        while not stop.is_set():
            if leader is not None and tr.examples_seen + n > leader.examples_seen:
                time.sleep(0.005)
                continue
            tr.snapshot(tr.train_examples(n, record_last=key == "main"))
            counts[key] += n

    def interleave():
        while not stop.is_set():
            main.snapshot(main.train_examples(n, record_last=True))
            counts["main"] += n
            other.snapshot(other.train_examples(n))
            counts["ghost"] += n

    if how == "alone":
        threads = [threading.Thread(target=train, args=(main, "main"))]
    elif how == "two threads":
        threads = [threading.Thread(target=train, args=(main, "main")),
                   threading.Thread(target=train, args=(other, "ghost", main))]
    else:
        threads = [threading.Thread(target=interleave)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    return {"main": counts["main"] / dt, "ghost": counts["ghost"] / dt}


def dashboard(preset: str, how: str, seconds: float, ghost: str) -> dict:
    from app.controller import Controller, TrainingSlots

    class NoTsne:
        busy = False

        def submit(self, *a):
            return True

        def reset(self, run_id):
            pass

        def close(self):
            pass

        def take(self):
            return None

    c = Controller(slots=TrainingSlots(8), tsne=NoTsne(), preset=preset,
                   ghost=ghost if how == "two threads" else "off")
    try:
        c.activate()
        c.start()
        t_end = time.perf_counter() + 60
        while (c.last_snapshot is None or c.last_snapshot.examples_seen < 200) and time.perf_counter() < t_end:
            c.poll()
            time.sleep(0.2)
        m0, g0, t0 = c.engine.examples_seen, (c.ghost_run.engine.examples_seen if c.ghost_run.engine else 0), \
            time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            c.poll()
            time.sleep(0.2)
        dt = time.perf_counter() - t0
        g1 = c.ghost_run.engine.examples_seen if c.ghost_run.engine else 0
        return {"main": (c.engine.examples_seen - m0) / dt, "ghost": (g1 - g0) / dt}
    finally:
        c.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="glr17-1hl,glr17-1hl-rate")
    ap.add_argument("--ghost", default="backprop")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from app.warmup import warm_up
    warm_up()
    results = []
    load0 = os.getloadavg()
    for preset in args.presets.split(","):
        rows: dict[tuple[str, str], list[dict]] = {}
        for _ in range(args.rounds):
            for kind, fn, hows in (("headless", headless, ("alone", "two threads", "interleaved")),
                                   ("dashboard", dashboard, ("alone", "two threads"))):
                for how in hows:
                    rows.setdefault((kind, how), []).append(fn(preset, how, args.seconds, args.ghost))
        for (kind, how), rs in rows.items():
            results.append({"preset": preset, "ghost": args.ghost, "kind": kind, "how": how,
                            "main_per_s": statistics.median(r["main"] for r in rs),
                            "ghost_per_s": statistics.median(r["ghost"] for r in rs), "rounds": len(rs)})
    out = {"cpus": os.cpu_count(), "load_avg_start": load0, "load_avg_end": os.getloadavg(),
           "seconds": args.seconds, "results": results}
    for r in results:
        alone = next(q for q in results if q["preset"] == r["preset"] and q["kind"] == r["kind"]
                     and q["how"] == "alone")["main_per_s"]
        r["main_vs_alone"] = r["main_per_s"] / alone if alone else None
        print(f"{r['preset']:16s} {r['kind']:9s} {r['how']:12s} main {r['main_per_s']:9,.0f}/s "
              f"({100 * r['main_vs_alone']:5.1f} % of alone)  ghost {r['ghost_per_s']:9,.0f}/s")
    print(f"load average {load0[0]:.2f} -> {out['load_avg_end'][0]:.2f} on {out['cpus']} cpus")
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
