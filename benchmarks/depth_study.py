"""Why does 784-500-100-10 lead 784-500-10 early in the paper but trail it with the 2017 code's last commit?

    python -m benchmarks.depth_study [--seeds 0 1] [--examples 10000]

Spiking mode, a fixed budget of examples, the same seeds for every setting.
The initialisation is split into its two halves (forward spread, feedback
construction) and the learning rates are varied, so each factor is seen alone.
"""
from __future__ import annotations

import argparse
import statistics

from .learning_checks import run

SETTINGS = [
    ("784-500-10, paper init", ["--preset", "glr17-1hl"]),
    ("784-500-10, head init", ["--preset", "glr17-1hl", "--set", "init=head"]),
    ("784-500-100-10, paper init", ["--preset", "glr17-2hl"]),
    ("784-500-100-10, head init", ["--preset", "glr17-2hl", "--set", "init=head"]),
    ("784-500-100-10, head forward spread only", ["--preset", "glr17-2hl", "--set", "init=head-forward"]),
    ("784-500-100-10, head feedback only", ["--preset", "glr17-2hl", "--set", "init=head-feedback"]),
    ("784-500-100-10, paper init, lr 0.21 everywhere", ["--preset", "glr17-2hl", "--set", "lr=0.21,0.21,0.21"]),
    ("784-500-100-10, head init, lr 0.21 everywhere", ["--preset", "glr17-2hl", "--set", "init=head",
                                                      "--set", "lr=0.21,0.21,0.21"]),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--examples", type=int, default=10000)
    ap.add_argument("--test-images", type=int, default=2000)
    ap.add_argument("--only", type=int, nargs="*", help="indices of settings to run")
    opts = ap.parse_args()
    rows = []
    for k, (name, args) in enumerate(SETTINGS):
        if opts.only is not None and k not in opts.only:
            continue
        errs = []
        for seed in opts.seeds:
            r = run([*args, "--examples", str(opts.examples), "--test-images", str(opts.test_images)], seed)
            errs.append(r["test_error_pct"])
            print(f"{name}, seed {seed}: {r['test_error_pct']:.2f} %", flush=True)
        rows.append((name, errs))
    print(f"\n| setting ({opts.examples} examples, {opts.test_images} test images) | per seed (%) | mean |")
    print("| --- | --- | --- |")
    for name, errs in rows:
        print(f"| {name} | {', '.join(f'{e:.2f}' for e in errs)} | {statistics.mean(errs):.2f} |")


if __name__ == "__main__":
    main()
