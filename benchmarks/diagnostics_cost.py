"""What each diagnostic costs: ``python -m benchmarks.diagnostics_cost [--mode spiking|rate]``.

Trains the same examples with every diagnostic off, then with one switched on
at a time (snapshots every 1,000 examples, as the CLI does), interleaving the
runs so that machine noise hits them alike; prints the overhead of each.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numba

from dendcore import Diagnostics, Trainer, get_preset, load_mnist

OFF = Diagnostics.none()
ONE_AT_A_TIME = {
    "losses": dataclasses.replace(OFF, losses=True),
    "plateaus": dataclasses.replace(OFF, plateaus=True),
    "angles": dataclasses.replace(OFF, angles=True),
    "alignment": dataclasses.replace(OFF, alignment=True),
    "eigen": dataclasses.replace(OFF, eigen=True),
    "traces": dataclasses.replace(OFF, traces=True),
    "probe (t-SNE set)": dataclasses.replace(OFF, probe=True),
    "all (defaults + traces + probe)": Diagnostics(traces=True, probe=True),
}


def timed(preset, diag, n, every, data):
    tr = Trainer(get_preset(preset).spec, data, seed=0, diagnostics=diag)
    list(tr.run(examples=20, snapshot_every=20, test_at_end=False))  # warm-up
    t0 = time.perf_counter()
    list(tr.run(examples=n, snapshot_every=every, test_at_end=False))
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="glr17-2hl")
    ap.add_argument("--examples", type=int, default=3000)
    ap.add_argument("--snapshot-every", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    opts = ap.parse_args()
    numba.set_num_threads(1)
    data = load_mnist()
    best = {name: float("inf") for name in ["off", *ONE_AT_A_TIME]}
    for _ in range(opts.repeats):
        best["off"] = min(best["off"], timed(opts.preset, OFF, opts.examples, opts.snapshot_every, data))
        for name, diag in ONE_AT_A_TIME.items():
            best[name] = min(best[name], timed(opts.preset, diag, opts.examples, opts.snapshot_every, data))
    base = best["off"]
    print(f"{opts.preset}, {opts.examples} examples, a snapshot every {opts.snapshot_every}: "
          f"{opts.examples / base:.0f} examples/s with every diagnostic off")
    for name in ONE_AT_A_TIME:
        print(f"  {name:<34} +{100 * (best[name] / base - 1):5.1f} %")


if __name__ == "__main__":
    main()
