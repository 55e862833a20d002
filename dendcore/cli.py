"""Command line: ``python -m dendcore train|test|presets``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .datasets import DatasetError, load_dataset
from .presets import PRESETS, get_preset
from .runio import RunFileError, append_snapshots, load_run, save_run
from .spec import MODES, SpecError
from .trainer import Diagnostics, DivergenceError, Trainer

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3


def _train_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a network and report its test error",
        description="Train a segregated-dendrites network online (one example at a time) and report the "
                    "test error. Example: python -m dendcore train --preset glr17-1hl --examples 10000 "
                    "--test-images 2000 --seed 0 --out runs/a",
    )
    p.add_argument("--preset", default="glr17-1hl", help="named setup, default glr17-1hl (list them with `python -m dendcore presets`)")
    p.add_argument("--mode", choices=MODES, help="override the preset's mode: spiking (the paper) or rate (fast)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--examples", type=int, help="number of training examples (default: one epoch)")
    budget.add_argument("--epochs", type=float, help="number of passes over the training set")
    p.add_argument("--test-images", type=int, default=None, metavar="M",
                   help="test on the first M test images (default: all 10,000)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, spikes and example order (default 0)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any spec field, e.g. --set g_a=0.05 --set init=head --set hidden=500,100 (repeatable)")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, or a directory of IDX files; "
                   "NAME-validation (e.g. mnist-validation) trains on all but the last 10,000 training "
                   "images and tests on those")
    p.add_argument("--out", type=Path, help="run directory: spec, state and snapshots are written there")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the run saved in DIR (its spec and seed win)")
    p.add_argument("--replay", type=Path, metavar="FILE",
                   help="the dashboard's JSON download: its starting spec, seed and dataset, and its live changes "
                        "applied at the example counts where the dashboard applied them")
    p.add_argument("--snapshot-every", type=int, default=1000, help="examples between snapshots (default 1000)")
    p.add_argument("--test-every", type=int, default=None, help="also test every N examples (default: only at the end)")
    p.add_argument("--no-diagnostics", action="store_true", help="skip angles, eigenvalues and losses (fastest)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="end with one line of JSON holding the results")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dendcore",
                                     description="Deep learning with segregated dendrites: the dendcore engine.")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    sub.add_parser("presets", help="list the named setups")
    t = sub.add_parser("test", help="test a saved run")
    t.add_argument("run", type=Path, help="run directory")
    t.add_argument("--test-images", type=int, default=None, metavar="M")
    t.add_argument("--json", action="store_true")
    from . import sweep  # the sweep command lives in its own module (needs dask)
    sweep.add_parser(sub)
    return parser


def cmd_presets(_args) -> int:
    width = max(len(n) for n in PRESETS)
    for name, p in PRESETS.items():
        print(f"{name:<{width}}  {p.summary}")
    return 0


def _fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def cmd_train(args) -> int:
    if args.examples is not None and args.examples < 0:
        raise SpecError("--examples must be >= 0")
    changes = ()
    if args.replay and (args.resume or args.sets or args.mode):
        raise SpecError("--replay takes the spec, seed and dataset from the file: drop --resume, --set and --mode")
    if args.resume:
        tr = load_run(args.resume, diagnostics=Diagnostics.none() if args.no_diagnostics else Diagnostics())
        spec = tr.spec
        out = args.out or args.resume
    elif args.replay:
        from .replay import read_replay
        replay = read_replay(args.replay)
        spec, changes = replay.spec, replay.changes
        args.seed, args.dataset, args.preset = replay.seed, replay.dataset, None
        diag = Diagnostics.none() if args.no_diagnostics else Diagnostics()
        tr = Trainer(spec, load_dataset(args.dataset), seed=args.seed, diagnostics=diag)
        out = args.out
    else:
        spec = get_preset(args.preset).spec
        if args.mode:
            spec = spec.replace(mode=args.mode)
        for assignment in args.sets:
            spec = spec.with_field_text(assignment)
        data = load_dataset(args.dataset)
        diag = Diagnostics.none() if args.no_diagnostics else Diagnostics()
        tr = Trainer(spec, data, seed=args.seed, diagnostics=diag)
        out = args.out
    if args.test_images is not None and args.test_images < 1:
        raise SpecError("--test-images must be >= 1")
    n = args.examples if args.examples is not None else int(round((args.epochs or 1.0) * tr.n_train))
    dataset_ref = args.dataset if not args.resume else None
    if out:
        save_run(tr, out, dataset_ref)

    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=n, unit="ex", desc=spec.describe(), file=sys.stderr, dynamic_ncols=True)
    start_seen = tr.examples_seen
    start_wall = tr.wall_s
    final_test = None
    try:
        for snap in tr.run(examples=n, snapshot_every=max(1, args.snapshot_every), test_every=args.test_every,
                           test_images=args.test_images, test_at_end=True, changes=changes):
            if bar:
                bar.update(snap.examples)
                bar.set_postfix(train_err=_fmt(snap.train_error_pct), test_err=_fmt(snap.test_error_pct))
            if snap.test_error_pct is not None:
                final_test = snap
            if out:
                append_snapshots(out, [snap])
                save_run(tr, out, dataset_ref)
    except DivergenceError as exc:
        if bar:
            bar.close()
        if out:
            save_run(tr, out, dataset_ref)
            print(f"error: {exc}. The last good state is saved in {out}.", file=sys.stderr)
        else:
            print(f"error: {exc}.", file=sys.stderr)
        if args.json:
            print(json.dumps({"diverged": True, "message": str(exc), "example": exc.example, "layer": exc.layer}))
        return EXIT_DIVERGED
    if bar:
        bar.close()
    trained = tr.examples_seen - start_seen
    wall = tr.wall_s - start_wall
    res = {
        "test_error_pct": final_test.test_error_pct if final_test else None,
        "test_images": final_test.test_images if final_test else 0,
        "examples": trained,
        "examples_seen": tr.examples_seen,
        "epoch": tr.epoch,
        "train_wall_s": wall,
        "train_examples_per_s": trained / wall if wall > 0 else None,
        "test_images_per_s": getattr(tr, "last_test_images_per_s", None),
        "seed": tr.seed,
        "preset": None if args.resume else args.preset,
        "changes_applied": sum(1 for at, _ in changes if at <= tr.examples_seen),
        "spec": tr.spec.to_dict(),
    }
    print(f"test error: {_fmt(res['test_error_pct'], 2)} % on {res['test_images']} test images "
          f"after {tr.examples_seen} examples ({tr.spec.describe()}, seed {tr.seed}); "
          f"training {res['train_examples_per_s'] or 0:.0f} examples/s, "
          f"testing {res['test_images_per_s'] or 0:.0f} images/s")
    if out:
        print(f"run saved in {out}")
    if args.json:
        print(json.dumps(res))
    return 0


def cmd_test(args) -> int:
    tr = load_run(args.run, diagnostics=Diagnostics.none())
    r = tr.test(args.test_images)
    print(f"test error: {r.error_pct:.2f} % on {r.n_images} test images ({r.images_per_s:.0f} images/s)")
    if args.json:
        print(json.dumps({"test_error_pct": r.error_pct, "test_images": r.n_images,
                          "test_images_per_s": r.images_per_s, "examples_seen": tr.examples_seen}))
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"train": cmd_train, "presets": cmd_presets, "test": cmd_test}
    from . import sweep
    handlers["sweep"] = sweep.cmd_sweep
    try:
        return handlers[args.command](args)
    except (SpecError, DatasetError, RunFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
