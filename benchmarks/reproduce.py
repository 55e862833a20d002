"""The long reproduction: paper settings, a full test after every epoch.

    python -m benchmarks.reproduce --preset glr17-1hl --epochs 60 --run runs/repro-1hl
    python -m benchmarks.reproduce --preset glr17-1hl --precision float32 --run runs/f32 --csv f32.csv

Resumable: rerunning the same command continues from the saved run.  After
every epoch a row is appended to ``dendcore/data/curves/<preset>.csv`` (the
dashboard's "paper vs yours" overlay reads it) unless ``--csv`` says otherwise.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numba

from dendcore import Diagnostics, Trainer, get_preset, load_mnist, load_run, save_run
from dendcore.spec import PRECISIONS

CURVES = Path(__file__).resolve().parents[1] / "dendcore" / "data" / "curves"
FIELDS = ["examples_seen", "epoch", "test_error_pct", "train_error_pct", "train_wall_s", "test_wall_s",
          "angle_to_backprop_deg", "when"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", required=True)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", type=Path, required=True, help="run directory (resumed if it exists)")
    ap.add_argument("--csv", type=Path, help="curve file (default: dendcore/data/curves/<preset>.csv)")
    ap.add_argument("--threads", type=int, default=1, help="Numba threads for testing")
    ap.add_argument("--precision", choices=PRECISIONS, default="float64",
                    help="the simulation's floating-point type (a float32 curve is compared with the float64 one)")
    opts = ap.parse_args()
    if opts.csv is None and opts.precision != "float64":
        ap.error("a float32 curve is not a shipped reference curve: say where it goes with --csv")
    numba.set_num_threads(opts.threads)
    data = load_mnist()
    diag = Diagnostics(eigen=False, alignment=False, plateaus=False)
    csv_path = opts.csv or CURVES / f"{opts.preset}.csv"
    if (opts.run / "state.npz").is_file():
        tr = load_run(opts.run, data=data, diagnostics=diag)
        if tr.spec.precision != opts.precision:     # else a float32 run resumed without the flag would extend a shipped curve
            ap.error(f"the run in {opts.run} is {tr.spec.precision}: resume it with --precision {tr.spec.precision}")
        print(f"resuming {opts.run} at epoch {tr.epoch:g}", flush=True)
    else:
        spec = get_preset(opts.preset).spec.replace(precision=opts.precision)
        tr = Trainer(spec, data, seed=opts.seed, diagnostics=diag)
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as f:
            csv.writer(f).writerow(FIELDS)
    while tr.epoch < opts.epochs:
        wrong = 0
        angles = []
        for snap in tr.run(examples=tr.n_train, snapshot_every=10_000, test_at_end=False):
            wrong += snap.train_error_pct * snap.examples / 100.0
            if snap.angle_to_backprop_deg:
                angles.append(snap.angle_to_backprop_deg[0])
        t0 = time.perf_counter()
        test = tr.test()
        row = [tr.examples_seen, round(tr.epoch, 3), test.error_pct, round(100.0 * wrong / tr.n_train, 3),
               round(tr.wall_s, 1), round(time.perf_counter() - t0, 1),
               round(angles[-1], 2) if angles else "", time.strftime("%Y-%m-%d %H:%M:%S")]
        with open(csv_path, "a", newline="") as f:
            csv.writer(f).writerow(row)
        save_run(tr, opts.run)
        print(f"{opts.preset} epoch {tr.epoch:g}: test error {test.error_pct:.2f} %, "
              f"train wall {tr.wall_s:.0f} s", flush=True)


if __name__ == "__main__":
    main()
