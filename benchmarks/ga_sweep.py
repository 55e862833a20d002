"""How the apical coupling g_a affects learning: a continuous g_a sweep on Dask.

    python -m benchmarks.ga_sweep [--only rate|spiking ...] [--workers K | --scheduler ADDRESS]
                                  [--out DIR] [--figure PNG] [--quick]

The paper (Guerguiev, Lillicrap & Richards 2017) compares g_a = 0.05 (strong
attenuation of the apical input at the soma: about as good as g_a = 0) with
g_a = 0.6 (weak attenuation: clearly worse).  This fills in the curve between
and beyond those two values.  Two sweeps, each an ordinary ``dendcore.sweep``
(so a rerun resumes, and only the figure is redrawn when everything is done):

* ``rate``: 784-500-100-10 in rate mode (preset glr17-2hl-rate), nine g_a
  values, 3 seeds, one epoch, the full 10,000-image test set;
* ``spiking``: the same network spiking (preset glr17-2hl), four g_a values,
  3 seeds, 10,000 examples, 2,000 test images (a short-budget check that the
  spiking model moves the same way).

A seed fixes the initial weights, the feedback weights and the example order
for every g_a, so besides mean ± sd over seeds the figure shows the paired
difference to g_a = 0 of the same seed, which removes the (large) spread
between seeds.  The figure (final test error, paired difference, and the
angle between the rule's hidden-layer error and backprop's) goes to ``benchmarks/figures/ga_sweep.png``, the numbers to
``benchmarks/figures/ga_sweep.json``, and a markdown table to stdout.
Needs ``dask[distributed]`` and matplotlib.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dendcore.spec import SpecError
from dendcore.sweep import load_sweep, run_sweep, summarise_points

HERE = Path(__file__).resolve().parent

SWEEPS = {
    # name: preset, g_a values, seeds, examples per run, test images
    "rate": dict(preset="glr17-2hl-rate", g_a=[0, 0.025, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8],
                 seeds=3, examples=60_000, test_images=10_000),
    "spiking": dict(preset="glr17-2hl", g_a=[0, 0.05, 0.2, 0.6], seeds=3, examples=10_000, test_images=2_000),
}
QUICK = {"rate": dict(examples=5_000, test_images=2_000, seeds=2),
         "spiking": dict(examples=300, test_images=100, seeds=2)}


def _label(name: str, cfg: dict) -> str:
    budget = "1 epoch" if cfg["examples"] == 60_000 else f"{cfg['examples']:,} examples"
    return (f"{name}: {cfg['preset']}, {budget}, {cfg['test_images']:,} test images, "
            f"{cfg['seeds']} seeds")


def _angles_by_layer(records: list[dict], point: str) -> list[tuple[float, float]]:
    """Mean and sd over seeds of the final angle to backprop, per hidden layer."""
    rows = [r["angle_to_backprop_deg"] for r in records
            if r["point"] == point and r["status"] == "ok" and r.get("angle_to_backprop_deg")]
    out = []
    for layer in zip(*rows):
        vals = [v for v in layer if v is not None]
        m = sum(vals) / len(vals)
        sd = (sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else 0.0
        out.append((m, sd))
    return out


def paired_deltas(records: list[dict], point: str, base: str) -> list[float]:
    """Test error at ``point`` minus that at ``base``, seed by seed (seeds finished at both)."""
    ref = {r["seed"]: r["test_error_pct"] for r in records if r["point"] == base and r["status"] == "ok"}
    return [r["test_error_pct"] - ref[r["seed"]] for r in records
            if r["point"] == point and r["status"] == "ok" and r["seed"] in ref]


def _mean_sd(vals: list[float]) -> tuple[float, float]:
    if not vals:
        return float("nan"), float("nan")
    m = sum(vals) / len(vals)
    return m, ((sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else 0.0)


def plot(results: dict[str, tuple[dict, list[dict], dict]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 3, figsize=(16, 4.4 * len(results)), squeeze=False)
    for row, (name, (definition, records, cfg)) in zip(axes, results.items()):
        points = summarise_points(definition, records)
        ga = [p["grid"]["g_a"] for p in points]
        ax = row[0]
        for p in points:
            ax.plot([p["grid"]["g_a"]] * len(p["test_errors"]), p["test_errors"], "o", ms=3.5,
                    color="0.6", zorder=1)
        ax.errorbar(ga, [p["test_error_mean"] for p in points], yerr=[p["test_error_sd"] or 0 for p in points],
                    fmt="-o", color="C0", capsize=4, lw=1.8, zorder=2, label="mean ± sd over seeds")
        for ref in (0.05, 0.6):
            ax.axvline(ref, color="C3", ls=":", lw=1)
        ax.set_xlabel("apical coupling g_a")
        ax.set_ylabel("test error (%)")
        ax.set_title(_label(name, cfg), fontsize=9.5)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)

        ax = row[1]
        base = points[0]["point"]
        deltas = [paired_deltas(records, p["point"], base) for p in points]
        for x, d in zip(ga, deltas):
            ax.plot([x] * len(d), d, "o", ms=3.5, color="0.6", zorder=1)
        ms = [_mean_sd(d) for d in deltas]
        ax.errorbar(ga, [m for m, _ in ms], yerr=[sd for _, sd in ms], fmt="-o", color="C0", capsize=4, lw=1.8,
                    zorder=2, label="mean ± sd of the per-seed differences")
        ax.axhline(0, color="k", lw=0.8)
        for ref in (0.05, 0.6):
            ax.axvline(ref, color="C3", ls=":", lw=1)
        ax.set_xlabel("apical coupling g_a")
        ax.set_ylabel(f"test error minus that at g_a = {points[0]['grid']['g_a']:g}, same seed (points)")
        ax.set_title(f"{name}: paired difference to g_a = {points[0]['grid']['g_a']:g}", fontsize=9.5)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)

        ax = row[2]
        by_point = [_angles_by_layer(records, p["point"]) for p in points]
        n_layers = max((len(a) for a in by_point), default=0)
        for j in range(n_layers):
            ax.errorbar(ga, [a[j][0] for a in by_point], yerr=[a[j][1] for a in by_point], fmt="-o",
                        capsize=4, color=f"C{j + 1}", label=f"hidden layer {j + 1}")
        for ref in (0.05, 0.6):
            ax.axvline(ref, color="C3", ls=":", lw=1)
        ax.set_xlabel("apical coupling g_a")
        ax.set_ylabel("angle to backprop's hidden error (deg)")
        ax.set_title(f"{name}: final angle to backprop (mean of last 100 examples)", fontsize=9.5)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("Segregated dendrites: effect of the apical coupling g_a (dotted: the paper's 0.05 and 0.6)",
                 fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def table(name: str, definition: dict, records: list[dict]) -> str:
    lines = [f"\n{name}: {definition['preset']}, {definition['examples']} examples, "
             f"{definition['test_images']} test images, seeds {definition['seeds']}",
             "| g_a | test error % (mean ± sd) | per seed | paired diff. to g_a = 0 (points) "
             "| angle deg, layer 1 / 2 (mean ± sd) |",
             "| --- | --- | --- | --- | --- |"]
    points = summarise_points(definition, records)
    for p in points:
        dm, dsd = _mean_sd(paired_deltas(records, p["point"], points[0]["point"]))
        ang = " / ".join(f"{m:.1f} ± {sd:.1f}" for m, sd in _angles_by_layer(records, p["point"]))
        err = "-" if p["test_error_mean"] is None else f"{p['test_error_mean']:.2f} ± {p['test_error_sd'] or 0:.2f}"
        seeds = ", ".join(f"{e:.2f}" for e in p["test_errors"])
        lines.append(f"| {p['grid']['g_a']:g} | {err} | {seeds} | {dm:+.2f} ± {dsd:.2f} | {ang} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", choices=list(SWEEPS), help="which sweeps (default: all)")
    ap.add_argument("--workers", type=int, help="local cluster size (default: one per core)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "ga_sweep", help="sweep directories go here")
    ap.add_argument("--figure", type=Path, default=HERE / "figures" / "ga_sweep.png")
    ap.add_argument("--quick", action="store_true", help="tiny budgets (a smoke test of the pipeline)")
    ap.add_argument("--no-progress", action="store_true")
    opts = ap.parse_args(argv)

    results = {}
    failed = 0
    for name, cfg in SWEEPS.items():
        if opts.only and name not in opts.only:
            continue
        cfg = dict(cfg, **(QUICK[name] if opts.quick else {}))
        out = opts.out / (name + ("-quick" if opts.quick else ""))
        t0 = time.time()
        try:
            s = run_sweep(cfg["preset"], {"g_a": cfg["g_a"]}, cfg["seeds"], cfg["examples"], out,
                          scheduler=opts.scheduler, workers=opts.workers, test_images=cfg["test_images"],
                          progress=not opts.no_progress)
        except SpecError as exc:  # e.g. --out holds a sweep with other settings
            print(f"error: {exc}", file=sys.stderr)
            return 2
        failed += s.n_failed
        print(f"{name}: {s.n_runs} runs ({s.n_ok} run now, {s.n_skipped} already done, {s.n_failed} failed) "
              f"in {time.time() - t0:.0f} s -> {out}", flush=True)
        definition, records = load_sweep(out)
        results[name] = (definition, records, cfg)
        print(table(name, definition, records), flush=True)

    if results:
        figure = opts.figure.with_name(opts.figure.stem + "-quick.png") if opts.quick else opts.figure
        plot(results, figure)
        summary = {name: {"preset": d["preset"], "examples": d["examples"], "test_images": d["test_images"],
                          "seeds": d["seeds"],
                          "points": [{k: p[k] for k in ("grid", "n_ok", "test_error_mean", "test_error_sd",
                                                        "test_errors", "angle_mean", "angle_sd")}
                                     | {"angle_by_layer": _angles_by_layer(r, p["point"]),
                                        "paired_diff_to_first": paired_deltas(r, p["point"], d["points"][0]["point"])}
                                     for p in summarise_points(d, r)]}
                   for name, (d, r, _) in results.items()}
        figure.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
        print(f"\nfigure: {figure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
