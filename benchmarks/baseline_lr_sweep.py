"""Learning rates for the baselines: a small sweep per rule on a validation split, then a fair comparison.

    python -m benchmarks.baseline_lr_sweep [--only tune|spiking|compare ...] [--spiking-epoch]
                                           [--out DIR] [--workers K | --scheduler ADDRESS] [--quick]

Backprop and feedback alignment used to run with the dendritic rule's learning
rates (0.21 / 0.21 in 784-500-10), but their hidden-layer error has another
scale than the difference of plateau potentials, so comparing the curves
compared a tuned rule with two untuned ones.  Three stages, each made of
ordinary ``dendcore.sweep`` runs on Dask (a rerun resumes and only redoes
what is missing):

* ``tune``: 784-500-10 in rate mode, every rule on a log grid of hidden x
  output learning rates (a factor 3 apart, around 0.21), 2 seeds, 20,000
  examples from the 50,000 training images of ``mnist-validation``; scored on the
  10,000 held-out training images, never on the test set.  Each baseline's
  point with the lowest mean validation error is *chosen*; the dendritic rule
  keeps its preset rates (the paper's) as the reference, and only the points
  next to them are tried, for information.
* ``spiking``: does the choice carry over to the spiking network?  The chosen
  point, its neighbours on the hidden axis and the old rates, 10,000 examples,
  1 seed, 2,000 validation images (a spiking run is some 50 times slower).
* ``compare``: the fair comparison on the test set, every rule at its own
  rates (and the baselines at the dendritic rates, as before): rate mode after
  1,000, 10,000 and 60,000 examples (3 seeds, all 10,000 test images); spiking
  after 1,000 and 10,000 (2 seeds, the first 2,000 test images; ``--spiking-epoch``
  adds 60,000).

Results go to ``dendcore/data/sweeps/baseline_lr_sweep.csv`` (validation
error per grid point, the chosen rates marked) and
``dendcore/data/sweeps/baseline_comparison.csv`` (test error per rule, rates
and budget); the presets ``glr17-1hl-backprop`` and ``glr17-1hl-fa`` ship the
chosen rates, and the dashboard's comparison texts quote the comparison file
(tests/app/test_baseline_claims.py holds them to it).  Needs
``dask[distributed]``.  A shared 2-core machine took about 45 minutes for all three.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import math
import sys
import time
from pathlib import Path

from dendcore.spec import SpecError
from dendcore.sweep import run_sweep

HERE = Path(__file__).resolve().parent
SHIPPED = HERE.parent / "dendcore" / "data" / "sweeps"
SWEEP_CSV = SHIPPED / "baseline_lr_sweep.csv"
COMPARE_CSV = SHIPPED / "baseline_comparison.csv"

RULES = ("backprop", "feedback_alignment", "dendrites")
PRESET_RATES = (0.21, 0.21)           # the paper's rates for 784-500-10, the dendritic rule's own
HIDDEN = (0.07, 0.21, 0.63, 1.9, 5.7, 17, 51)
OUTPUT = (0.0077, 0.023, 0.07, 0.21, 0.63)
VALIDATION = "mnist-validation"

STAGES = {
    "tune": dict(preset="glr17-1hl-rate", seeds=2, examples=20_000, test_images=10_000),
    "spiking": dict(preset="glr17-1hl", seeds=1, examples=10_000, test_images=2_000),
    "compare_rate": dict(preset="glr17-1hl-rate", seeds=3, budgets=(1_000, 10_000, 60_000), test_images=10_000),
    "compare_spiking": dict(preset="glr17-1hl", seeds=2, budgets=(1_000, 10_000), test_images=2_000),
}
QUICK = {"tune": dict(examples=2_000, test_images=1_000, seeds=1),
         "spiking": dict(examples=200, test_images=200, seeds=1),
         "compare_rate": dict(budgets=(200, 1_000), test_images=500, seeds=1),
         "compare_spiking": dict(budgets=(200,), test_images=200, seeds=1)}

SWEEP_FIELDS = ("mode", "rule", "lr_hidden", "lr_output", "examples", "seeds", "validation_images",
                "val_error_mean", "val_error_sd", "val_errors", "failed", "choice")
COMPARE_FIELDS = ("mode", "rule", "rates", "lr_hidden", "lr_output", "examples", "seeds", "test_images",
                  "test_error_mean", "test_error_sd", "test_errors", "failed")


def _fmt(x) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.2f}"


def _sweep(client, out: Path, rule: str, cfg: dict, points, examples: int, dataset: str):
    """One dendcore sweep: ``rule`` at each (hidden, output) learning-rate pair of ``points``."""
    grid = {"lr": [tuple(p) for p in points]}
    summary = run_sweep(cfg["preset"], grid, cfg["seeds"], examples, out, scheduler=client,
                        test_images=cfg["test_images"], sets=[f"rule={rule}"], progress=False, dataset=dataset,
                        force=True)   # a grown grid keeps the runs it already has
    print(f"  {out.name}: {summary.n_ok} run(s) now, {summary.n_skipped} already done, "
          f"{summary.n_failed} failed ({summary.wall_s:.0f} s)", file=sys.stderr, flush=True)
    rows = []
    for p in summary.points:
        h, o = p["grid"]["lr"]
        rows.append(dict(lr_hidden=h, lr_output=o, mean=p["test_error_mean"], sd=p["test_error_sd"],
                         errors=p["test_errors"], failed=p["n_failed"], ok=p["n_ok"], seeds=p["n_seeds"]))
    return rows


def _best(rows: list[dict]) -> dict:
    """The point with the lowest mean validation error among those where every seed finished."""
    good = [r for r in rows if r["ok"] == r["seeds"] and r["mean"] is not None]
    if not good:
        raise SystemExit("no grid point finished on every seed; nothing to choose")
    return min(good, key=lambda r: r["mean"])


def _sweep_row(mode, rule, r, examples, seeds, images, choice) -> dict:
    return dict(mode=mode, rule=rule, lr_hidden=f"{r['lr_hidden']:g}", lr_output=f"{r['lr_output']:g}",
                examples=examples, seeds=seeds, validation_images=images, val_error_mean=_fmt(r["mean"]),
                val_error_sd=_fmt(r["sd"]), val_errors=" ".join(_fmt(e) for e in r["errors"]),
                failed=r["failed"], choice=choice)


def _write(path: Path, header, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def read_chosen(path: Path = SWEEP_CSV) -> dict[str, tuple[float, float]]:
    """The chosen (hidden, output) rates per rule, from a sweep file this script wrote."""
    out = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            if r["mode"] == "rate" and r["choice"] in ("chosen", "preset"):
                out[r["rule"]] = (float(r["lr_hidden"]), float(r["lr_output"]))
    return out


def stage_tune(client, out: Path, cfg: dict) -> tuple[list[dict], dict]:
    rows, chosen = [], {}
    points = [(h, o) for h in HIDDEN for o in OUTPUT]
    for rule in RULES:
        # the reference keeps its rates: only its neighbours are tried, to see how far from its best it sits
        pts = _neighbours(*PRESET_RATES) if rule == "dendrites" else points
        res = _sweep(client, out / f"tune-{rule}", rule, cfg, pts, cfg["examples"], VALIDATION)
        best = _best(res)
        if rule == "dendrites":
            pick = next(r for r in res if (r["lr_hidden"], r["lr_output"]) == PRESET_RATES)
            label = "preset"
        else:
            pick, label = best, "chosen"
        chosen[rule] = (pick["lr_hidden"], pick["lr_output"])
        for r in res:
            choice = label if r is pick else ("best" if r is best else "")
            rows.append(_sweep_row("rate", rule, r, cfg["examples"], cfg["seeds"], cfg["test_images"], choice))
    return rows, chosen


def _neighbours(h: float, o: float, both: bool = True) -> list[tuple[float, float]]:
    """The grid point and the ones next to it, a factor 3 either way on the hidden axis (and the output
    axis unless not ``both``), and the old rates."""
    def around(v, axis):
        i = axis.index(v)
        return [axis[j] for j in (i - 1, i + 1) if 0 <= j < len(axis)]
    pts = [(h, o)] + [(x, o) for x in around(h, HIDDEN)] + ([(h, x) for x in around(o, OUTPUT)] if both else [])
    if PRESET_RATES not in pts:
        pts.append(PRESET_RATES)
    return pts


def stage_spiking(client, out: Path, cfg: dict, chosen: dict) -> list[dict]:
    rows = []
    for rule in RULES:
        h, o = chosen[rule]
        pts = [(h, o)] if rule == "dendrites" else _neighbours(h, o, both=False)
        res = _sweep(client, out / f"spiking-{rule}", rule, cfg, pts, cfg["examples"], VALIDATION)
        best = _best(res)
        for r in res:
            here = (r["lr_hidden"], r["lr_output"])
            choice = ("preset" if rule == "dendrites" else "chosen") if here == (h, o) else \
                ("best" if r is best else "")
            rows.append(_sweep_row("spiking", rule, r, cfg["examples"], cfg["seeds"], cfg["test_images"], choice))
    return rows


def stage_compare(client, out: Path, mode: str, cfg: dict, chosen: dict) -> list[dict]:
    rows = []
    configs = [(rule, "own", chosen[rule]) for rule in RULES]
    configs += [(rule, "dendritic", PRESET_RATES) for rule in RULES if rule != "dendrites"
                and chosen[rule] != PRESET_RATES]
    for budget in cfg["budgets"]:
        for rule, rates, lr in configs:
            name = f"compare-{mode}-{rule}-{rates}-{budget}"
            (r,) = _sweep(client, out / name, rule, cfg, [lr], budget, "mnist")
            rows.append(dict(mode=mode, rule=rule, rates=rates, lr_hidden=f"{lr[0]:g}", lr_output=f"{lr[1]:g}",
                             examples=budget, seeds=cfg["seeds"], test_images=cfg["test_images"],
                             test_error_mean=_fmt(r["mean"]), test_error_sd=_fmt(r["sd"]),
                             test_errors=" ".join(_fmt(e) for e in r["errors"]), failed=r["failed"]))
    return rows


def _table(rows: list[dict], keys, value: str) -> str:
    head = list(keys) + [value]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cell = r[value + "_mean"] + (f" ± {r[value + '_sd']}" if r[value + "_sd"] else "")
        if r["failed"] not in (0, "0"):
            cell += f" ({r['failed']} diverged)"
        lines.append("| " + " | ".join(str(r[k]) for k in keys) + f" | {cell} |")
    return "\n".join(lines)


def _merge(path: Path, header, fresh: list[dict], replace) -> list[dict]:
    """Rows of ``path`` that ``replace`` does not cover, followed by the fresh ones."""
    old = list(csv.DictReader(path.open())) if path.is_file() else []
    return [r for r in old if not replace(r)] + fresh


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.baseline_lr_sweep", description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", choices=("tune", "spiking", "compare"), default=None)
    ap.add_argument("--spiking-epoch", action="store_true", help="also compare spiking runs after 60,000 examples")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "baseline_lr", help="sweep directories go here")
    ap.add_argument("--workers", type=int, default=1, help="local Dask workers (default 1: the machine is shared)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler instead of a local cluster")
    ap.add_argument("--quick", action="store_true", help="tiny budgets, results under --out only (a smoke test)")
    args = ap.parse_args(argv)
    stages = set(args.only or ("tune", "spiking", "compare"))
    cfgs = {k: dict(v) for k, v in STAGES.items()}
    sweep_csv, compare_csv = SWEEP_CSV, COMPARE_CSV
    if args.quick:
        for k, v in QUICK.items():
            cfgs[k].update(v)
        sweep_csv, compare_csv = args.out / "quick" / SWEEP_CSV.name, args.out / "quick" / COMPARE_CSV.name
        args.out = args.out / "quick"
    if args.spiking_epoch:
        cfgs["compare_spiking"]["budgets"] = (*cfgs["compare_spiking"]["budgets"], 60_000)

    import distributed
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.scheduler:
            client = stack.enter_context(distributed.Client(args.scheduler, timeout="20s"))
        else:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}))
            client = stack.enter_context(distributed.Client(cluster))
        try:
            if "tune" in stages:
                print("tune: rate mode, validation split", file=sys.stderr)
                rows, chosen = stage_tune(client, args.out, cfgs["tune"])
                _write(sweep_csv, SWEEP_FIELDS, _merge(sweep_csv, SWEEP_FIELDS, rows, lambda r: r["mode"] == "rate"))
            chosen = read_chosen(sweep_csv)
            if "compare" in stages:
                print("compare: test set, every rule at its own rates", file=sys.stderr)
                rows = stage_compare(client, args.out, "rate", cfgs["compare_rate"], chosen)
                _write(compare_csv, COMPARE_FIELDS, rows)
                rows += stage_compare(client, args.out, "spiking", cfgs["compare_spiking"], chosen)
                _write(compare_csv, COMPARE_FIELDS, rows)
            if "spiking" in stages:
                print("spiking: do the chosen rates carry over?", file=sys.stderr)
                rows = stage_spiking(client, args.out, cfgs["spiking"], chosen)
                _write(sweep_csv, SWEEP_FIELDS, _merge(sweep_csv, SWEEP_FIELDS, rows,
                                                       lambda r: r["mode"] == "spiking"))
        except SpecError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if sweep_csv.is_file():
        rows = list(csv.DictReader(sweep_csv.open()))
        print(f"## Validation error ({sweep_csv.name})\n")
        print(_table(rows, ("mode", "rule", "lr_hidden", "lr_output", "examples", "choice"), "val_error"))
        print(f"\nchosen (rate, 20,000 examples): {read_chosen(sweep_csv)}\n")
    if compare_csv.is_file():
        rows = list(csv.DictReader(compare_csv.open()))
        print(f"## Test error ({compare_csv.name})\n")
        print(_table(rows, ("mode", "rule", "rates", "lr_hidden", "lr_output", "examples"), "test_error"))
    print(f"\n{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
