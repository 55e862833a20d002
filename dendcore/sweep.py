"""Parameter sweeps on Dask: every point of a grid of spec values, times seeds.

    python -m dendcore sweep --preset glr17-2hl-rate --grid g_a=0,0.05,0.6 \\
        --grid feedback_scale=0.5,1,2 --seeds 3 --examples 20000 --out sweeps/ga

A sweep directory holds

    sweep.json                      what the sweep is: preset, --set overrides, grid,
                                    seeds, example budget, test images (written first)
    runs/<point>-seed<S>.json       one record per run, ``"status": "ok"`` or ``"failed"``

``<point>`` names the grid values, e.g. ``g_a=0.05,feedback_scale=2`` (characters
outside ``A-Za-z0-9._=,+-`` become ``_``; very long names are shortened and
get a hash).  Records are written by the client as runs finish, each to a
temporary name and renamed, so an interrupted sweep loses only the runs that
were in flight.  Running the same command again skips every run whose record
says ``ok`` for the same spec, seed and budget, and (re)runs the others,
failed ones included.

Each run is one call of :func:`run_one` in a Dask worker process.  By default
the sweep starts a local cluster with one single-threaded worker process per
core; ``--scheduler ADDRESS`` uses a running Dask scheduler instead (its
workers need this package installed).  Dask is imported only when there is
something to run, so the rest of the engine works without it, and
:func:`load_sweep` (for plots) never needs it.

A failed run (any exception in the worker, or a worker that died) is
recorded with ``"status": "failed"`` and its error, reported, and retried on
the next invocation; the command then exits with 1 after printing the summary.
For tests, the hidden option ``--fail-on POINT`` (a point name or a run name
``<point>-seed<S>``; ``fail_on=`` in :func:`run_sweep`) makes those runs raise
on purpose inside the worker after their first snapshot.

Grid values are read like ``--set`` values.  Values are separated by commas,
or by semicolons when a value itself needs commas (``--grid "hidden=500,100;300"``);
``hidden`` also accepts ``500-100``.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import re
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .spec import ModelSpec, SpecError, parse_field_value

SWEEP_FORMAT = 1
RESULT_FORMAT = 1
CURVE_POINTS = 20          # about this many snapshots end up in each run's curve
EXIT_RUN_FAILED = 1
INSTALL_HINT = 'pip install -e ".[lab]"'

# Keys of sweep.json that define the sweep; two definitions that agree on these
# describe the same runs (the rest is informational).
DEFINING_KEYS = ("format", "preset", "sets", "dataset", "base_spec", "grid", "seeds", "examples", "test_images")

_SPEC_FIELDS = {f.name for f in fields(ModelSpec)}
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")
_MAX_ID = 100


class SweepError(SpecError):
    """A sweep that cannot start (bad grid, clashing directory, Dask missing); one line."""


class InjectedFailure(RuntimeError):
    """Raised on purpose in a worker by ``--fail-on`` (a hook for the tests)."""


# ------------------------------------------------------------------ grid values
def parse_grid_arg(text: str) -> tuple[str, list[str]]:
    """``"g_a=0,0.05,0.6"`` -> ``("g_a", ["0", "0.05", "0.6"])``."""
    if "=" not in text:
        raise SweepError(f"--grid expects FIELD=VALUE1,VALUE2,..., got {text!r}")
    name, values = (part.strip() for part in text.split("=", 1))
    sep = ";" if ";" in values else ","
    items = [v.strip() for v in values.split(sep)]
    if not name:
        raise SweepError(f"--grid {text!r}: no field name before '='")
    if not values or any(v == "" for v in items):
        raise SweepError(f"--grid {name}: empty value in {values!r}")
    return name, items


def _value_text(v: Any) -> str:
    """A short text for a grid value, as used in point names."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format(v, ".10g")
    if isinstance(v, (tuple, list)):
        return "_".join(_value_text(x) for x in v) or "none"
    return str(v)


def _cli_text(v: Any) -> str:
    """The same value as ``parse_field_value`` reads it."""
    if isinstance(v, (tuple, list)):
        return " ".join(_cli_text(x) for x in v) if v else "none"
    if isinstance(v, float):
        return repr(v)
    return _value_text(v)


def _canonical_value(name: str, value: Any) -> Any:
    """Parse (or re-parse) a grid value the way ``--set`` would; JSON-ready (tuples become lists)."""
    if name not in _SPEC_FIELDS:
        raise SweepError(f"--grid {name}: unknown spec field; known: {', '.join(sorted(_SPEC_FIELDS))}")
    text = value if isinstance(value, str) else _cli_text(value)
    try:
        parsed = parse_field_value(name, text)
    except SpecError as exc:
        raise SweepError(f"--grid {name}={text}: {exc}") from None
    return list(parsed) if isinstance(parsed, tuple) else parsed


def _json_value(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def point_id(values: Mapping[str, Any]) -> str:
    """A short, stable, filesystem-safe name for one grid point."""
    if not values:
        return "base"
    raw = ",".join(f"{k}={_value_text(v)}" for k, v in values.items())
    safe = _UNSAFE.sub("_", raw)
    if safe != raw or len(safe) > _MAX_ID:
        safe = safe[:_MAX_ID - 9] + "~" + hashlib.sha1(raw.encode()).hexdigest()[:8]
    return safe


def run_id(point: str, seed: int) -> str:
    return f"{point}-seed{seed}"


# ------------------------------------------------------------------ definition
def make_definition(preset: str, grid: Mapping[str, Sequence] | Sequence[tuple[str, Sequence]],
                    seeds: int | Iterable[int], examples: int | None, test_images: int | None = None,
                    sets: Sequence[str] = (), dataset: str = "mnist") -> dict:
    """Validate everything about a sweep and return its definition (what sweep.json holds).

    Raises :class:`SweepError` (a :class:`SpecError`) naming the field and value
    of the first bad grid point; nothing is submitted before this passes.
    """
    from .datasets import is_dataset_name, load_dataset
    from .presets import get_preset

    spec = get_preset(preset).spec
    for assignment in sets:
        spec = spec.with_field_text(assignment)
    set_fields = {a.split("=", 1)[0].strip() for a in sets}

    items = list(grid.items()) if isinstance(grid, Mapping) else [tuple(p) for p in grid]
    grid_json = []
    seen = set()
    for name, values in items:
        name = str(name).strip()
        if name in seen:
            raise SweepError(f"--grid {name}: given twice")
        if name in set_fields:
            raise SweepError(f"--grid {name}: also given by --set; use one or the other")
        seen.add(name)
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            values = [values]
        canon = [_canonical_value(name, v) for v in values]
        if not canon:
            raise SweepError(f"--grid {name}: no values")
        texts = [_value_text(v) for v in canon]
        dup = next((t for i, t in enumerate(texts) if t in texts[:i]), None)
        if dup is not None:
            raise SweepError(f"--grid {name}: value {dup} appears twice")
        grid_json.append({"field": name, "values": canon})

    seed_list = list(range(int(seeds))) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise SweepError("--seeds: need at least one seed")
    if len(set(seed_list)) != len(seed_list) or min(seed_list) < 0:
        raise SweepError(f"--seeds: seeds must be distinct and >= 0 (got {seed_list})")

    dataset = str(dataset)
    if not is_dataset_name(dataset):
        dataset = str(Path(dataset).expanduser().resolve())  # workers may run elsewhere
    data = load_dataset(dataset)
    n_train, n_test = len(data.train_labels), len(data.test_labels)
    if examples is None:
        examples = n_train
    if int(examples) < 1:
        raise SweepError(f"--examples must be >= 1 (got {examples})")
    if test_images is None:
        test_images = n_test
    if int(test_images) < 1:
        raise SweepError(f"--test-images must be >= 1 (got {test_images})")
    examples, test_images = int(examples), min(int(test_images), n_test)

    definition = {
        "format": SWEEP_FORMAT,
        "kind": "dendcore-sweep",
        "preset": preset,
        "sets": list(sets),
        "dataset": dataset,
        "base_spec": spec.to_dict(),
        "grid": grid_json,
        "seeds": seed_list,
        "examples": examples,
        "test_images": test_images,
        "snapshot_every": max(1, math.ceil(examples / CURVE_POINTS)),
    }
    plan_runs(definition)  # builds and validates every grid point's spec
    return definition


def grid_points(definition: dict) -> list[dict]:
    """The grid points in order (first field slowest): ``[{"point": id, "grid": {field: value}}]``."""
    names = [g["field"] for g in definition["grid"]]
    out = []
    for combo in itertools.product(*(g["values"] for g in definition["grid"])):
        values = dict(zip(names, combo))
        out.append({"point": point_id(values), "grid": values})
    return out


def plan_runs(definition: dict) -> list[dict]:
    """One task per (grid point, seed): what :func:`run_one` needs, all JSON."""
    base = ModelSpec.from_dict(definition["base_spec"])
    tasks = []
    ids = set()
    for p in grid_points(definition):
        try:
            spec = base.replace(**{k: _json_value(v) for k, v in p["grid"].items()})
        except SpecError as exc:
            where = ",".join(f"{k}={_value_text(v)}" for k, v in p["grid"].items())
            raise SweepError(f"--grid point {where}: {exc}") from None
        if p["point"] in ids:
            raise SweepError(f"--grid: two grid points share the name {p['point']}")
        ids.add(p["point"])
        spec_dict = spec.to_dict()
        for seed in definition["seeds"]:
            tasks.append({
                "run": run_id(p["point"], seed), "point": p["point"], "grid": p["grid"], "seed": seed,
                "spec": spec_dict, "preset": definition["preset"], "dataset": definition["dataset"],
                "examples": definition["examples"], "test_images": definition["test_images"],
                "snapshot_every": definition["snapshot_every"], "fail": False,
            })
    return tasks


def _spec_today(spec_dict):
    """A stored spec as this version writes it: a field added since it was stored takes its default
    (which is what a run without the field did), so older sweeps still match their runs."""
    try:
        return ModelSpec.from_dict(spec_dict).to_dict()
    except (SpecError, TypeError):
        return spec_dict


def _same_definition(a: dict, b: dict) -> list[str]:
    """Keys on which two definitions differ (after a JSON round trip)."""
    def norm(d):
        return json.loads(json.dumps({k: _spec_today(d.get(k)) if k == "base_spec" else d.get(k)
                                      for k in DEFINING_KEYS}))
    na, nb = norm(a), norm(b)
    return [k for k in DEFINING_KEYS if na[k] != nb[k]]


def _record_matches(record: dict, task: dict) -> bool:
    """Does a stored record belong to this task (same spec, seed, budget, data)?"""
    try:
        return (record.get("seed") == task["seed"] and record.get("examples") == task["examples"]
                and record.get("test_images") == task["test_images"]
                and record.get("dataset") == task["dataset"]
                and json.loads(json.dumps(_spec_today(record.get("spec")))) == json.loads(json.dumps(task["spec"])))
    except (TypeError, ValueError):
        return False


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _clean(x: Any) -> Any:
    """JSON-safe copy: tuples become lists, NumPy values Python ones, non-finite floats None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if x is None or isinstance(x, (bool, str, int)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if hasattr(x, "tolist"):  # NumPy scalars and arrays
        return _clean(x.tolist())
    return str(x)


json_safe = _clean       # for other writers of run records (the dashboard's class experiments)


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_clean(obj), indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------ the worker
def _mean_finite(values) -> float | None:
    vals = [float(v) for v in values or () if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def _curve_entry(snap) -> dict:
    angles = snap.angle_to_backprop_deg
    return {
        "examples_seen": snap.examples_seen,
        "train_error_pct": snap.train_error_pct,
        "test_error_pct": snap.test_error_pct,
        "loss_output": snap.loss_output,
        "angle_deg": _mean_finite(angles),
        "angle_to_backprop_deg": angles,
    }


def run_one(task: dict) -> dict:
    """Train one network of a sweep and return its record (runs inside a Dask worker).

    Module-level so Dask pickles it by name.  Any exception becomes a record
    with ``"status": "failed"`` and the message, together with the curve up to
    the failure, so one bad run never takes the sweep down.
    """
    started = time.time()
    record = {
        "format": RESULT_FORMAT, "status": "failed", "run": task["run"], "point": task["point"],
        "grid": task["grid"], "seed": task["seed"], "preset": task.get("preset"), "dataset": task["dataset"],
        "spec": task["spec"], "examples": task["examples"], "test_images": task["test_images"],
        "host": socket.gethostname(), "pid": os.getpid(),
    }
    curve: list[dict] = []
    tr = None
    try:
        import numba
        numba.set_num_threads(1)  # one core per worker: K workers share K cores fairly
        from .datasets import load_dataset
        from .trainer import Diagnostics, Trainer

        spec = ModelSpec.from_dict(task["spec"])
        tr = Trainer(spec, load_dataset(task["dataset"]), seed=task["seed"],
                     diagnostics=Diagnostics(traces=False, probe=False))
        last = None
        for snap in tr.run(examples=task["examples"], snapshot_every=task["snapshot_every"],
                           test_images=task["test_images"], test_at_end=True):
            curve.append(_curve_entry(snap))
            last = snap
            if task.get("fail"):
                raise InjectedFailure(f"deliberate failure of grid point {task['point']} (--fail-on, for tests)")
        record.update(
            status="ok",
            test_error_pct=last.test_error_pct,
            test_images=last.test_images,
            train_error_pct=last.train_error_pct,
            angle_to_backprop_deg=last.angle_to_backprop_deg,
            angle_deg=_mean_finite(last.angle_to_backprop_deg),
            weight_angle_deg=last.weight_angle_deg,
            test_images_per_s=tr.last_test_images_per_s,
        )
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is fatal
        record.update(status="failed", error=" ".join(f"{type(exc).__name__}: {exc}".split()),
                      error_type=type(exc).__name__, traceback=traceback.format_exc()[-4000:])
    if tr is not None:
        record.update(examples_seen=tr.examples_seen, epoch=tr.epoch, train_wall_s=tr.wall_s)
    record["curve"] = curve
    record["run_wall_s"] = time.time() - started
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return _clean(record)


def _failed_record(task: dict, message: str) -> dict:
    """A record for a run whose worker never returned (e.g. the process died)."""
    rec = {k: task[k] for k in ("run", "point", "grid", "seed", "preset", "dataset", "spec", "examples",
                                 "test_images")}
    rec.update(format=RESULT_FORMAT, status="failed", error=" ".join(message.split()), curve=[],
               finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return rec


# ------------------------------------------------------------------ summaries
def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    m = sum(vals) / len(vals)
    if len(vals) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def summarise_points(definition: dict, records: Sequence[dict]) -> list[dict]:
    """Per grid point (in grid order): counts and mean / sample sd over the seeds that finished ok."""
    by_point: dict[str, list[dict]] = {}
    for r in records:
        by_point.setdefault(r.get("point"), []).append(r)
    out = []
    for p in grid_points(definition):
        rs = by_point.get(p["point"], [])
        ok = [r for r in rs if r.get("status") == "ok"]
        err_m, err_sd = _mean_sd([r.get("test_error_pct") for r in ok])
        ang_m, ang_sd = _mean_sd([r.get("angle_deg") for r in ok])
        out.append({
            "point": p["point"], "grid": p["grid"], "n_seeds": len(definition["seeds"]),
            "n_ok": len(ok), "n_failed": sum(r.get("status") == "failed" for r in rs),
            "test_error_mean": err_m, "test_error_sd": err_sd, "angle_mean": ang_m, "angle_sd": ang_sd,
            "test_errors": [r.get("test_error_pct") for r in ok],
        })
    return out


@dataclass
class SweepSummary:
    """What one invocation of a sweep did.

    ``n_ok`` and ``n_failed`` count the runs executed now, ``n_skipped`` those
    found finished on disk; the three add up to ``n_runs``.  ``points`` has the
    mean and sample sd of the final test error and angle to backprop over the
    seeds of every grid point (all finished runs, skipped ones included).
    """
    out: Path
    definition: dict
    n_runs: int
    n_ok: int
    n_failed: int
    n_skipped: int
    wall_s: float
    points: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.n_failed == 0

    def to_dict(self) -> dict:
        return _clean({
            "out": str(self.out), "n_runs": self.n_runs, "n_ok": self.n_ok, "n_failed": self.n_failed,
            "n_skipped": self.n_skipped, "wall_s": self.wall_s,
            "grid": {g["field"]: g["values"] for g in self.definition["grid"]},
            "seeds": self.definition["seeds"], "examples": self.definition["examples"],
            "test_images": self.definition["test_images"], "preset": self.definition["preset"],
            "points": self.points, "failures": self.failures,
        })

    def table(self) -> str:
        names = [g["field"] for g in self.definition["grid"]]
        head = names + ["ok", "test error %", "angle deg"]

        def pm(m, sd, nd):
            if m is None:
                return "-"
            return f"{m:.{nd}f}" + (f" ± {sd:.{nd}f}" if sd is not None else "")
        rows = [[_value_text(p["grid"][n]) for n in names]
                + [f"{p['n_ok']}/{p['n_seeds']}", pm(p["test_error_mean"], p["test_error_sd"], 2),
                   pm(p["angle_mean"], p["angle_sd"], 1)] for p in self.points]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        lines = ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip() for r in [head] + rows]
        lines.append(f"{self.n_runs} runs: {self.n_ok} ok, {self.n_failed} failed, {self.n_skipped} skipped "
                     f"(already done) in {self.wall_s:.1f} s; records in {Path(self.out) / 'runs'}")
        return "\n".join(lines)


# ------------------------------------------------------------------ reading
def load_sweep(directory) -> tuple[dict, list[dict]]:
    """Read a sweep directory for plotting: ``(definition, records)``.

    ``definition`` is sweep.json plus ``"points"`` (every grid point in grid
    order: ``{"point": id, "grid": {field: value}}``).  ``records`` holds the
    stored record of every run of this definition that has one (missing runs
    are absent; records left over from an earlier definition are ignored),
    ordered by grid point, then seed.  Each is a plain dict with at least
    ``point``, ``grid`` (field -> value), ``seed``, ``status`` ("ok" or
    "failed"), ``test_error_pct``, ``angle_deg`` (final angle to backprop,
    mean over hidden layers), ``angle_to_backprop_deg`` (per layer), ``curve``
    and, for failures, ``error``.  Needs neither Dask nor pandas.
    """
    d = Path(directory)
    definition = _read_json(d / "sweep.json")
    if definition is None or definition.get("kind") != "dendcore-sweep":
        raise SweepError(f"{d / 'sweep.json'}: missing or not a sweep definition")
    definition = dict(definition, points=grid_points(definition))
    records = []
    for task in plan_runs(definition):
        rec = _read_json(d / "runs" / f"{task['run']}.json")
        if rec is not None and _record_matches(rec, task):
            rec.setdefault("test_error_pct", None)
            rec.setdefault("angle_deg", None)
            records.append(rec)
    return definition, records


# ------------------------------------------------------------------ running
def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise SweepError(f"sweeps need dask.distributed, which is not installed: {INSTALL_HINT}") from None
    return distributed


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _say(bar, message: str) -> None:
    if bar is not None:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)


def run_sweep(preset: str, grid: Mapping[str, Sequence] | Sequence[tuple[str, Sequence]],
              seeds: int | Iterable[int], examples: int | None, out, scheduler=None, workers: int | None = None,
              test_images: int | None = None, sets: Sequence[str] = (), progress: bool = True, *,
              dataset: str = "mnist", force: bool = False, fail_on: Sequence[str] = ()) -> SweepSummary:
    """Run (or resume) a sweep and return its summary.

    ``grid`` maps spec fields to value lists (strings are read like ``--set``
    values); the runs are the cartesian product of the grid times ``seeds``
    (a count meaning ``0..seeds-1``, or a list).  ``examples=None`` means one
    epoch.  ``scheduler`` is None (start a local cluster of ``workers``
    single-threaded processes, default one per core), a scheduler address, or
    a ``distributed.Client`` to use as is.  ``fail_on`` names grid points (or
    runs, ``<point>-seed<S>``) whose workers raise on purpose: a hook for tests.

    Raises :class:`SweepError` before anything runs if a grid point's spec is
    invalid or ``out`` holds a different sweep (unless ``force``).
    """
    t0 = time.perf_counter()
    definition = make_definition(preset, grid, seeds, examples, test_images, sets, dataset)
    tasks = plan_runs(definition)
    out = Path(out)
    if scheduler is not None and workers is not None:
        raise SweepError("--workers sizes the local cluster; it cannot be combined with --scheduler")
    if workers is not None and int(workers) < 1:
        raise SweepError(f"--workers must be >= 1 (got {workers})")
    known_ids = {t["point"] for t in tasks} | {t["run"] for t in tasks}
    for name in fail_on:
        if name not in known_ids:
            raise SweepError(f"--fail-on {name}: no such grid point or run (points: "
                             f"{', '.join(sorted({t['point'] for t in tasks}))})")

    old = _read_json(out / "sweep.json") if (out / "sweep.json").exists() else None
    if (out / "sweep.json").exists() and old is None and not force:
        raise SweepError(f"{out / 'sweep.json'}: unreadable; remove it or choose another --out")
    if old is not None and not force:
        differ = _same_definition(old, definition)
        if differ:
            raise SweepError(f"{out / 'sweep.json'} describes a different sweep (different {', '.join(differ)}); "
                             f"use another --out, or --force to replace the definition")

    runs_dir = out / "runs"
    done, pending = [], []
    for task in tasks:
        rec = _read_json(runs_dir / f"{task['run']}.json")
        if rec is not None and rec.get("status") == "ok" and _record_matches(rec, task):
            done.append(rec)
        else:
            task = dict(task, fail=task["point"] in fail_on or task["run"] in fail_on)
            pending.append(task)

    if pending:
        _import_distributed()  # fail with the install hint before writing anything
    out.mkdir(parents=True, exist_ok=True)
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    kept = old is not None and not _same_definition(old, definition)
    _write_json(out / "sweep.json", dict(definition, points=[p["point"] for p in grid_points(definition)],
                                          created=old.get("created", now) if kept else now, updated=now))

    new_records: list[dict] = []
    failures: list[dict] = []
    if pending:
        new_records = _execute(pending, runs_dir, scheduler, workers, progress, failures)
    records = done + new_records
    order = {t["run"]: i for i, t in enumerate(tasks)}
    records.sort(key=lambda r: order.get(r.get("run"), len(order)))
    n_ok = sum(r.get("status") == "ok" for r in new_records)
    return SweepSummary(out=out, definition=definition, n_runs=len(tasks), n_ok=n_ok,
                        n_failed=len(new_records) - n_ok, n_skipped=len(done),
                        wall_s=time.perf_counter() - t0, points=summarise_points(definition, records),
                        failures=failures)


def _execute(pending: list[dict], runs_dir: Path, scheduler, workers, progress: bool,
             failures: list[dict]) -> list[dict]:
    """Submit the pending runs, write each record as it arrives, return the records."""
    import contextlib
    import logging

    distributed = _import_distributed()
    records = []
    bar = None
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            k = min(int(workers or _default_workers()), len(pending))
            # No Dask dashboard (it would import bokeh into this process); the scheduler's small
            # HTTP server (health, metrics) takes any free local port instead of insisting on 8787.
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}))
            client = stack.enter_context(distributed.Client(cluster))
        elif isinstance(scheduler, str):
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout="20s"))
            except (OSError, TimeoutError) as exc:
                raise SweepError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        else:
            client = scheduler  # a Client owned by the caller
        futures = {}
        for task in pending:
            fut = client.submit(run_one, task, key=f"dendcore-sweep-{task['run']}-{os.urandom(4).hex()}")
            futures[fut] = task
        stack.callback(lambda: client.cancel(list(futures)) if futures else None)
        if progress:
            from tqdm import tqdm
            bar = stack.enter_context(tqdm(total=len(pending), unit="run", desc="sweep", file=sys.stderr,
                                           dynamic_ncols=True))
        for fut in distributed.as_completed(list(futures)):
            task = futures.pop(fut)
            try:
                rec = fut.result()
            except Exception as exc:  # noqa: BLE001 - the worker died or could not run the task
                rec = _failed_record(task, f"{type(exc).__name__}: {exc}")
            _write_json(runs_dir / f"{task['run']}.json", rec)
            records.append(rec)
            if rec.get("status") != "ok":
                failures.append({"run": task["run"], "error": rec.get("error")})
                _say(bar, f"run {task['run']} failed: {rec.get('error')}")
            if bar is not None:
                err = rec.get("test_error_pct")
                bar.set_postfix_str(f"{task['run']}: " + ("failed" if err is None else f"{err:.2f} %"),
                                    refresh=False)
                bar.update(1)
    return records


# ------------------------------------------------------------------ command line
def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep", help="train every point of a grid of spec values x seeds on Dask",
        description="Train one network per grid point and seed, in parallel on Dask (a local cluster "
                    "by default), one result file per run; rerunning the same command resumes. Example: "
                    "python -m dendcore sweep --preset glr17-2hl-rate --grid g_a=0,0.05,0.6 --seeds 3 "
                    "--examples 20000 --out sweeps/ga",
    )
    p.add_argument("--preset", required=True, help="named setup to start from (`python -m dendcore presets`)")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="a spec field and its values (repeatable: the runs are the cartesian product); "
                        "separate values with ';' when a value holds commas, e.g. \"hidden=500,100;300\"")
    p.add_argument("--seeds", type=int, default=1, metavar="S", help="seeds 0..S-1 per grid point (default 1)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--examples", type=int, help="training examples per run (default: one epoch)")
    budget.add_argument("--epochs", type=float, help="passes over the training set per run")
    p.add_argument("--test-images", type=int, default=None, metavar="M",
                   help="test each run on the first M test images (default: all)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a spec field for every run (repeatable)")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, or a directory of IDX files; "
                   "NAME-validation (e.g. mnist-validation) trains on all but the last 10,000 training "
                   "images and tests on those")
    p.add_argument("--out", type=Path, required=True, help="sweep directory (sweep.json and runs/)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="use a running Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--workers", type=int, metavar="K", help="local cluster size (default: one worker per core)")
    p.add_argument("--force", action="store_true",
                   help="replace a different sweep definition in --out (finished runs that still match are kept)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="end with one line of JSON summarising the sweep")
    # For the tests: runs of this grid point (or run id) raise on purpose inside the worker.
    p.add_argument("--fail-on", action="append", default=[], metavar="POINT", help=argparse.SUPPRESS)


def cmd_sweep(args) -> int:
    grid: dict[str, list[str]] = {}
    for text in args.grid:
        name, values = parse_grid_arg(text)
        if name in grid:
            raise SweepError(f"--grid {name}: given twice")
        grid[name] = values
    if args.seeds < 1:
        raise SweepError(f"--seeds must be >= 1 (got {args.seeds})")
    examples = args.examples
    if examples is None and args.epochs is not None:
        from .datasets import load_dataset
        if args.epochs <= 0:
            raise SweepError(f"--epochs must be > 0 (got {args.epochs})")
        examples = max(1, int(round(args.epochs * len(load_dataset(args.dataset).train_labels))))
    if args.out.exists() and not args.out.is_dir():
        raise SweepError(f"{args.out}: exists and is not a directory")
    summary = run_sweep(args.preset, grid, args.seeds, examples, args.out, scheduler=args.scheduler,
                        workers=args.workers, test_images=args.test_images, sets=args.sets,
                        progress=not args.no_progress, dataset=args.dataset, force=args.force,
                        fail_on=args.fail_on)
    print(summary.table())
    if args.json:
        print(json.dumps(summary.to_dict(), allow_nan=False))
    return 0 if summary.ok else EXIT_RUN_FAILED
