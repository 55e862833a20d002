"""What a presenter's broadcast keeps after a long run: objects, memory and a full collection's time.

    python -m benchmarks.presenter_memory                 # 4,000 snapshots (400,000 spiking examples)
    python -m benchmarks.presenter_memory --snapshots 1000 --json

A presenting page publishes every poll into its :class:`app.presenting.Broadcast`, which keeps the
run's curve for followers that open late and the last updates for followers that fall behind.  This
trains a spiking 784-500-10 network as a served engine does (snapshots every 100 examples with the
voltage traces of the latest example), then publishes fresh copies of those snapshots, one per
update, as a presenter's page would over a long run, and reports what the broadcast holds: objects
the garbage collector tracks, the memory they take (tracemalloc) and how long one full collection
takes with them.  Run it with another checkout first on ``PYTHONPATH`` to compare versions.
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import sys
import time
import tracemalloc


def measure(n_snapshots: int, trained: int = 20) -> dict:
    from dendcore import get_preset, load_dataset, Trainer
    from app.controller import Update
    from app.engine import Engine
    from app.presenting import Broadcast

    tr = Trainer(get_preset("glr17-1hl").spec, data=load_dataset("mnist"), seed=0,
                 diagnostics=Engine.TRAINER_DIAGNOSTICS)
    snaps = [tr.snapshot(tr.train_examples(100, record_last=True)) for _ in range(trained)]

    class Presenter:
        pass

    gc.collect()
    base_collect = _collect_s()
    owner = Presenter()
    b = Broadcast("MEMORY", owner)
    tracked0 = len(gc.get_objects())
    tracemalloc.start()
    for k in range(n_snapshots):
        s = copy.deepcopy(snaps[k % trained])       # each snapshot is a new object, as the trainer makes it
        s.examples_seen = 100 * (k + 1)
        b.publish(Update(run_id=1, new_run=k == 0, snapshots=[s], progress=[]), run=None, status="",
                  ghost_status="", in_force="", settings={})
    gc.collect()
    held_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    tracked = len(gc.get_objects()) - tracked0
    with_collect = _collect_s()
    return {"snapshots": n_snapshots, "tracked_objects_held": tracked, "held_mb": held_mb,
            "full_collection_s": {"before": base_collect, "after": with_collect},
            "traces_type": type(snaps[-1].traces.V).__name__}


def _collect_s(rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        gc.collect()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snapshots", type=int, default=4000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = measure(a.snapshots)
    if a.json:
        print(json.dumps(r))
        return
    print(f"broadcast after {r['snapshots']:,} snapshots (traces as {r['traces_type']}):")
    print(f"  objects tracked by the garbage collector  {r['tracked_objects_held']:>12,}")
    print(f"  memory held (tracemalloc)                 {r['held_mb']:>12.1f} MB")
    print(f"  one full collection, before / after      {r['full_collection_s']['before']:>8.3f} / "
          f"{r['full_collection_s']['after']:.3f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
