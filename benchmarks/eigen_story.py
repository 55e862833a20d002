"""The Theorem-1 eigenvalue over a long run, measured every 100 examples, summarised per block.

    python -m benchmarks.eigen_story          # rate: seed 0 60 epochs, seeds 1-2 10; spiking: 30,000 examples
    python -m benchmarks.eigen_story --mode rate --epochs 10 --seeds 0

Every ``--every`` examples (default 100, the diagnostics window, so the samples do not overlap) the
largest eigenvalue of (I - J_b J_g)^T (I - J_b J_g) of the top hidden layer is read in four versions:

* ``paper``      the mean over the last 100 examples of each example's product J_b J_g, with
                 J_g = s'(Y phi_max s(V_out)) Y: the 2017 code's computation (the paper's figure);
* ``means``      the product of the 100-example means of J_b and of J_g = s'(V_a) Y (the dashboard's
                 eigenvalue before issue 14);
* ``weights``    weights only, every sigmoid slope at 1/4: (phi_max/16) k_d W_out Y;
* ``weights2017`` the 2017 code's weight-only matrix k_d W_out Y (for comparison only).

Rows of ``dendcore/data/eigen/eigen-<mode>.csv`` summarise one block of training (an epoch in rate mode,
5,000 examples in spiking mode) of one seed: how many samples, their minimum, median, maximum, the
percentage below 1, and the example count of the first sample below 1 in the block (empty if none).
The dashboard's explanation quotes these files; tests/app/test_claims.py checks every number it quotes.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from dendcore import Diagnostics, Trainer, get_preset, load_mnist
from dendcore.diagnostics import largest_eigenvalue_theorem1

EIGEN = Path(__file__).resolve().parents[1] / "dendcore" / "data" / "eigen"
VERSIONS = ("paper", "means", "weights", "weights2017")
STATS = ("min", "median", "max", "below1_pct", "first_below1")
FIELDS = ["mode", "preset", "seed", "block_start", "block_end", "samples"] + [
    f"{v}_{s}" for v in VERSIONS for s in STATS] + ["train_wall_s"]
DIAGNOSTICS = Diagnostics(losses=False, plateaus=False, angles=False, alignment=False, eigen=True)


def weights_2017(tr: Trainer) -> float:
    """The 2017 code's weight-only eigenvalue: U = k_d W_out Y (no phi_max, no slopes)."""
    net, spec = tr.net, tr.spec
    L = net.n_layers
    return largest_eigenvalue_theorem1(spec.k_d * net.W(L) @ (spec.feedback_scale * net.Y(L - 1)))


def summarise(samples: list[tuple[int, dict[str, float]]]) -> dict[str, object]:
    row: dict[str, object] = {"samples": len(samples)}
    for v in VERSIONS:
        x = np.array([s[1][v] for s in samples])
        below = [k for k, s in samples if s[v] < 1.0]
        row.update({f"{v}_min": round(float(x.min()), 5), f"{v}_median": round(float(np.median(x)), 5),
                    f"{v}_max": round(float(x.max()), 5),
                    f"{v}_below1_pct": round(100.0 * float(np.mean(x < 1.0)), 2),
                    f"{v}_first_below1": below[0] if below else ""})
    return row


def run(mode: str, preset: str, seed: int, examples: int, block: int, every: int, writer, f) -> None:
    spec = get_preset(preset).spec.replace(mode=mode)
    tr = Trainer(spec, load_mnist(), seed=seed, diagnostics=DIAGNOSTICS, chunk=50)
    samples: list[tuple[int, dict[str, float]]] = []
    t0 = time.perf_counter()
    for snap in tr.run(examples=examples, snapshot_every=every, test_at_end=False):
        samples.append((snap.examples_seen, {"paper": snap.eig_jacobian_paper, "means": snap.eig_jacobian,
                                             "weights": snap.eig_weights, "weights2017": weights_2017(tr)}))
        if snap.examples_seen % block == 0:
            row = {"mode": mode, "preset": preset, "seed": seed, "block_start": snap.examples_seen - block,
                   "block_end": snap.examples_seen, **summarise(samples), "train_wall_s": round(tr.wall_s, 1)}
            writer.writerow(row)
            f.flush()
            print(f"{mode} seed {seed} {snap.examples_seen:>8}: paper {row['paper_min']:.3f}-{row['paper_max']:.3f} "
                  f"({row['paper_below1_pct']} % < 1), means {row['means_min']:.3f}-{row['means_max']:.3f} "
                  f"[{time.perf_counter() - t0:.0f} s]", flush=True)
            samples = []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("rate", "spiking", "both"), default="both")
    ap.add_argument("--preset", default="glr17-1hl")
    ap.add_argument("--epochs", type=int, nargs="+", default=[60, 10, 10],
                    help="rate mode: epochs of 60,000 examples, one number for every seed or one per seed")
    ap.add_argument("--spiking-examples", type=int, default=30_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--every", type=int, default=100, help="examples between samples (the window is 100)")
    ap.add_argument("--out", type=Path, default=EIGEN, help="directory of eigen-<mode>.csv")
    opts = ap.parse_args()
    modes = ("rate", "spiking") if opts.mode == "both" else (opts.mode,)
    n_train = len(load_mnist().train_labels)
    opts.out.mkdir(parents=True, exist_ok=True)
    for mode in modes:
        examples, block = (0, n_train) if mode == "rate" else (opts.spiking_examples, 5_000)
        with open(opts.out / f"eigen-{mode}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            for k, seed in enumerate(opts.seeds):
                if mode == "rate":
                    examples = opts.epochs[min(k, len(opts.epochs) - 1)] * n_train
                run(mode, opts.preset, seed, examples, block, opts.every, writer, f)


if __name__ == "__main__":
    main()
