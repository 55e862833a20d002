"""float32 against float64: learning over seeds, speed on one core, and the 60-epoch estimate.

    python -m benchmarks.precision_check [--examples 10000] [--seeds 0 1 2 3] [--test-images 2000]
                                         [--presets glr17-1hl glr17-2hl] [--json]

For each preset and seed the two precisions train the same network from the same initial
weights and random streams, one after the other on one core, then test the same images on
one core.  The two differ by rounding only, until a rounding flips a spike; from there on
they are two equally likely runs, so the differences are to be read against the spread
over seeds.  Rate mode is not measured: it runs in float64 whatever the precision (tested
bit for bit in tests/dendcore/test_precision.py).  The 60-epoch estimate is 60 times
(60,000 training examples at the measured training rate + 10,000 test images at the
measured one-core test rate), the reproduction's budget (benchmarks.reproduce).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numba
import numpy as np

from dendcore import Diagnostics, Trainer, load_mnist
from dendcore.presets import get_preset
from dendcore.spec import PRECISIONS


def one_run(preset: str, precision: str, seed: int, examples: int, test_images: int, data) -> dict:
    tr = Trainer(get_preset(preset).spec.replace(precision=precision), data, seed=seed,
                 diagnostics=Diagnostics.none())
    t0 = time.perf_counter()
    tr.train_examples(examples)
    train_s = time.perf_counter() - t0
    res = tr.test(test_images)
    return {"preset": preset, "precision": precision, "seed": seed, "test_error_pct": res.error_pct,
            "train_ex_s": examples / train_s, "test_img_s_1core": res.images_per_s}


def sixty_epoch_minutes(train_ex_s: float, test_img_s: float) -> float:
    return 60 * (60_000 / train_ex_s + 10_000 / test_img_s) / 60.0


def summary_rows(runs: list[dict]) -> list[str]:
    rows = ["| preset | precision | test error per seed (%) | mean ± sd | train ex/s (1 core, median) | "
            "test img/s (1 core, median) | 60 epochs, estimated min |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for preset in dict.fromkeys(r["preset"] for r in runs):
        for precision in PRECISIONS:
            mine = [r for r in runs if r["preset"] == preset and r["precision"] == precision]
            errs = [r["test_error_pct"] for r in mine]
            tr_rate = statistics.median(r["train_ex_s"] for r in mine)
            te_rate = statistics.median(r["test_img_s_1core"] for r in mine)
            sd = statistics.stdev(errs) if len(errs) > 1 else float("nan")
            rows.append(f"| {preset} | {precision} | {', '.join(f'{e:.2f}' for e in errs)} | "
                        f"{statistics.mean(errs):.2f} ± {sd:.2f} | {tr_rate:.0f} | {te_rate:.0f} | "
                        f"{sixty_epoch_minutes(tr_rate, te_rate):.0f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["glr17-1hl"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--test-images", type=int, default=2_000)
    ap.add_argument("--json", action="store_true", help="also print every run as one JSON line")
    opts = ap.parse_args()
    numba.set_num_threads(1)
    data = load_mnist()
    for precision in PRECISIONS:       # compile / load both precisions before anything is timed
        Trainer(get_preset(opts.presets[0]).spec.replace(precision=precision), data, seed=0,
                diagnostics=Diagnostics.none()).train_examples(2)
    runs = []
    for preset in opts.presets:
        for seed in opts.seeds:
            for precision in PRECISIONS:
                r = one_run(preset, precision, seed, opts.examples, opts.test_images, data)
                runs.append(r)
                print(f"{preset} seed {seed} {precision}: test error {r['test_error_pct']:.2f} % on "
                      f"{opts.test_images} images, {r['train_ex_s']:.0f} ex/s, {r['test_img_s_1core']:.0f} img/s",
                      flush=True)
    print()
    print("\n".join(summary_rows(runs)))
    diffs = [b["test_error_pct"] - a["test_error_pct"] for a, b in zip(runs[::2], runs[1::2])]
    print(f"\nfloat32 - float64 per seed (points): {', '.join(f'{d:+.2f}' for d in diffs)}; "
          f"mean {np.mean(diffs):+.2f}")
    if opts.json:
        for r in runs:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
