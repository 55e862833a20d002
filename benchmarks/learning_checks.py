"""The engine issue's learning checks, through the CLI, every seed reported.

    python -m benchmarks.learning_checks [--quick] [--only NAME ...]

Prints one line per run and a summary table (markdown) at the end.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHECKS = {
    # name: (cli args, seeds)
    "rate-1hl-epoch": (["--preset", "glr17-1hl-rate", "--epochs", "1"], [0, 1, 2]),
    "rate-1hl-epoch-head": (["--preset", "glr17-1hl-rate", "--epochs", "1", "--set", "init=head"], [0, 1, 2]),
    "spiking-1hl-10k": (["--preset", "glr17-1hl", "--examples", "10000", "--test-images", "2000"], [0, 1]),
    "spiking-1hl-10k-head": (["--preset", "glr17-1hl", "--examples", "10000", "--test-images", "2000",
                              "--set", "init=head"], [0, 1]),
    "spiking-2hl-10k": (["--preset", "glr17-2hl", "--examples", "10000", "--test-images", "2000"], [0, 1]),
    "spiking-2hl-10k-head": (["--preset", "glr17-2hl", "--examples", "10000", "--test-images", "2000",
                              "--set", "init=head"], [0, 1]),
    "spiking-0hl-epoch": (["--preset", "glr17-0hl", "--epochs", "1"], [0]),
    "spiking-1hl-epoch": (["--preset", "glr17-1hl", "--epochs", "1"], [0]),
    "spiking-2hl-epoch": (["--preset", "glr17-2hl", "--epochs", "1"], [0]),
}


def run(args, seed):
    cmd = [sys.executable, "-m", "dendcore", "train", *args, "--seed", str(seed), "--json", "--no-progress"]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["total_s"] = time.time() - t0
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="names of checks to run (default: all)")
    opts = ap.parse_args()
    rows = []
    for name, (args, seeds) in CHECKS.items():
        if opts.only and name not in opts.only:
            continue
        errs = []
        for seed in seeds:
            r = run(args, seed)
            errs.append(r["test_error_pct"])
            print(f"{name} seed {seed}: test error {r['test_error_pct']:.2f} % on {r['test_images']} images, "
                  f"{r['train_examples_per_s']:.0f} ex/s, {r['total_s']:.0f} s", flush=True)
        rows.append((name, " ".join(str(a) for a in args), errs))
    print("\n| check | command args | test error per seed (%) | mean |\n| --- | --- | --- | --- |")
    for name, args, errs in rows:
        print(f"| {name} | `{args}` | {', '.join(f'{e:.2f}' for e in errs)} | {statistics.mean(errs):.2f} |")


if __name__ == "__main__":
    main()
