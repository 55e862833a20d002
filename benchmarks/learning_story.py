"""Angles and layer losses over the first epochs: the measurements the Learning and Alignment texts quote.

    python -m benchmarks.learning_story           # rate: 2 epochs, spiking: 1 epoch; seeds 0-2 (about 10 min)
    python -m benchmarks.learning_story --mode spiking --spiking-examples 5000 --seeds 0

784-500-10 with the paper's settings (``glr17-1hl``) and with symmetric feedback (``glr17-1hl-symmetric``),
or the presets given with ``--presets``. Every ``--every`` examples (default
1,000) one row of ``dendcore/data/story/learning-<mode>.csv``: the training error, the mean output and
hidden losses over those examples, the correlation of the two losses over the last 1,000 examples, the
angle of the hidden update to backprop's (mean over the last 100 examples) and the angle between the
feedback weights Y and the transposed output weights. tests/app/test_claims.py recomputes every number
the dashboard's texts take from these files.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from dendcore import Diagnostics, Trainer, get_preset, load_mnist

STORY = Path(__file__).resolve().parents[1] / "dendcore" / "data" / "story"
FIELDS = ["mode", "preset", "seed", "examples_seen", "train_error_pct", "loss_output", "loss_hidden",
          "loss_correlation", "angle_to_backprop_deg", "weight_angle_deg", "train_wall_s"]
DIAGNOSTICS = Diagnostics(losses=True, plateaus=False, angles=True, alignment=True, eigen=False)


def first(values) -> float | str:
    return round(float(values[0]), 5) if values else ""


def run(mode: str, preset: str, seed: int, examples: int, every: int, writer, f) -> None:
    spec = get_preset(preset).spec.replace(mode=mode)
    tr = Trainer(spec, load_mnist(), seed=seed, diagnostics=DIAGNOSTICS, chunk=50)
    t0 = time.perf_counter()
    for snap in tr.run(examples=examples, snapshot_every=every, test_at_end=False):
        row = {"mode": mode, "preset": preset, "seed": seed, "examples_seen": snap.examples_seen,
               "train_error_pct": round(snap.train_error_pct, 3), "loss_output": round(snap.loss_output, 6),
               "loss_hidden": first(snap.loss_hidden), "loss_correlation": first(snap.loss_correlation),
               "angle_to_backprop_deg": first(snap.angle_to_backprop_deg),
               "weight_angle_deg": first(snap.weight_angle_deg), "train_wall_s": round(tr.wall_s, 1)}
        writer.writerow(row)
        f.flush()
        if snap.examples_seen % (10 * every) == 0:
            print(f"{preset} {mode} seed {seed} {snap.examples_seen:>7}: error {row['train_error_pct']} %, angle "
                  f"{row['angle_to_backprop_deg']}°, Y-W {row['weight_angle_deg']}°, r {row['loss_correlation']} "
                  f"[{time.perf_counter() - t0:.0f} s]", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("rate", "spiking", "both"), default="both")
    ap.add_argument("--presets", nargs="+", default=["glr17-1hl", "glr17-1hl-symmetric"])
    ap.add_argument("--rate-epochs", type=int, default=2)
    ap.add_argument("--spiking-examples", type=int, default=60_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=STORY, help="directory of learning-<mode>.csv")
    opts = ap.parse_args()
    modes = ("rate", "spiking") if opts.mode == "both" else (opts.mode,)
    n_train = len(load_mnist().train_labels)
    opts.out.mkdir(parents=True, exist_ok=True)
    for mode in modes:
        examples = opts.rate_epochs * n_train if mode == "rate" else opts.spiking_examples
        with open(opts.out / f"learning-{mode}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            for preset in opts.presets:
                for seed in opts.seeds:
                    run(mode, preset, seed, examples, opts.every, writer, f)


if __name__ == "__main__":
    main()
