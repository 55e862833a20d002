"""A class experiment: a small grid of settings that a class trains together, one point per student.

The teacher's grid becomes an ordinary sweep directory, ``$DENDRITE_SWEEPS_DIR/class-<CODE>``,
with the ``sweep.json`` of ``python -m dendcore sweep``; each student's finished run is written
as that sweep's run record (``runs/<point>-seed<S>.json``).  So an experiment survives a restart,
opens in the Sweeps tab like any sweep, and ``python -m dendcore sweep`` with the same definition
would skip the points the class already trained.  Everything lives in files, so several server
processes behind nginx share one experiment: a student takes a grid point by creating its claim
file (``claims/<run>.claim``, which only one process can create), keeps it fresh while training,
and a claim left stale by a closed tab is taken over by the next student.  A page that holds its
point without training for :data:`CLAIM_IDLE_S` stops refreshing it, so tabs opened only to hold
points (or forgotten) give them back to the class; Play takes the point back if it is still free.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from dendcore import PRESETS
from dendcore.sweep import RESULT_FORMAT, SweepError, json_safe, load_sweep, make_definition, plan_runs

from .compute import env_number
from .presenting import PresentError, new_code, normalise_code
from .seats import PER_BROWSER

SWEEPS_ENV = "DENDRITE_SWEEPS_DIR"
PREFIX = "class-"
CLAIM_STALE_S = 60.0         # a claim nobody refreshed for this long is free again (the tab closed)
HEARTBEAT_S = 10.0
# held this long without training (nor waiting for a place), a point is the class's again
CLAIM_IDLE_S = env_number("DENDRITE_CLAIM_IDLE_S", 180.0, minimum=30.0)
MAX_POINTS = 64              # a class-sized grid
MAX_BUDGET = 60_000          # examples per student (one epoch)
CURVE_POINTS = 20


def sweeps_root() -> Path:
    return Path(os.environ.get(SWEEPS_ENV) or "sweeps")


def directory(code: str) -> Path:
    return sweeps_root() / f"{PREFIX}{normalise_code(code)}"


@dataclass
class Assignment:
    """One student's grid point: the run to train and the claim that holds it."""
    code: str
    task: dict                 # a task of dendcore.sweep.plan_runs: run, point, grid, seed, spec, examples, ...
    index: int
    total: int
    claim: Path
    refreshed: float = 0.0
    who: str = ""
    browser: str | None = None

    @property
    def label(self) -> str:
        return ", ".join(f"{k} = {v}" for k, v in self.task["grid"].items()) + f" (seed {self.task['seed']})"


def create(preset: str, grid: Sequence[tuple[str, Sequence]], examples: int, seeds: int = 1,
           test_images: int = 500, code: str | None = None) -> str:
    """Write a new experiment's definition; returns its code (raises SweepError with a sentence)."""
    if preset not in PRESETS:
        raise SweepError(f"unknown preset {str(preset)[:40]!r}")
    if not 1 <= int(examples) <= MAX_BUDGET:
        raise SweepError(f"the budget must be 1 to {MAX_BUDGET:,} examples per student")
    definition = make_definition(preset, grid, seeds, int(examples), int(test_images))
    n = len(plan_runs(definition))
    if n > MAX_POINTS:
        raise SweepError(f"{n} runs is more than a class needs (at most {MAX_POINTS}); use fewer values")
    definition["snapshot_every"] = max(1, math.ceil(int(examples) / CURVE_POINTS))
    try:
        code = normalise_code(code) if code else new_code()
    except PresentError as exc:
        raise SweepError(str(exc)) from None
    d = directory(code)
    try:
        d.mkdir(parents=True)
    except FileExistsError:
        raise SweepError(f"an experiment with the code {code} exists already") from None
    definition["class_code"] = code
    _write_json(d / "sweep.json", definition)
    return code


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    tmp.write_text(json.dumps(json_safe(obj), indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


def _done(d: Path, run: str) -> bool:
    try:
        return json.loads((d / "runs" / f"{run}.json").read_text()).get("status") == "ok"
    except (OSError, ValueError):
        return False


def _take(claim: Path, who: str, browser: str | None = None) -> bool:
    """Create the claim file; only one creator wins, in any process."""
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps({"who": who, "host": socket.gethostname(), "pid": os.getpid(), "t": time.time(),
                            "browser": browser}))
    return True


def _held_by_browser(d: Path, browser: str) -> int:
    """Points of this experiment that the tabs of ``browser`` (app/browsers.py) hold now, in any process."""
    n = 0
    for path in (d / "claims").glob("*.claim"):
        try:
            held = json.loads(path.read_text()).get("browser") == browser
        except (OSError, ValueError):
            continue
        n += held and not _stale(path) and not _done(d, path.name[:-len(".claim")])
    return n


def _stale(claim: Path) -> bool:
    try:
        return time.time() - claim.stat().st_mtime > CLAIM_STALE_S
    except FileNotFoundError:
        return True


def claim(code: str, who: str, browser: str | None = None, per_browser: int | None = None) -> Assignment | None:
    """The next grid point nobody has finished or is training; None when every point is taken.  The tabs
    of one browser hold at most ``per_browser`` points (default: the training places one browser may
    use, app/seats.py), so a student opening tabs cannot take the class's points."""
    d = directory(code)
    try:
        definition, _records = load_sweep(d)
    except Exception as exc:
        raise SweepError(f"no class experiment {normalise_code(code)} here ({type(exc).__name__})") from None
    tasks = plan_runs(definition)
    (d / "claims").mkdir(exist_ok=True)
    limit = PER_BROWSER if per_browser is None else per_browser
    if browser and _held_by_browser(d, browser) >= limit:
        raise PresentError(f"this browser's other tabs already train {limit} of its grid points, the most one "
                           f"browser may; each student trains one")
    for i, task in enumerate(tasks):
        if _done(d, task["run"]):
            continue
        path = d / "claims" / f"{task['run']}.claim"
        if not _take(path, who, browser) and not _take_over(path, who, browser):
            continue
        return Assignment(normalise_code(code), task, i, len(tasks), path, time.monotonic(), who, browser)
    return None


def _take_over(path: Path, who: str, browser: str | None = None) -> bool:
    """Take a stale claim: move it aside (one process wins the rename), then create ours."""
    if not _stale(path):
        return False
    try:
        os.replace(path, path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.stale"))
    except FileNotFoundError:
        pass
    return _take(path, who, browser)


def _ours(a: Assignment) -> bool | None:
    """Whether the claim file is this session's; None when there is none."""
    try:
        owner = json.loads(a.claim.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return False         # being written by the process that just created it
    return (owner.get("who") == a.who and owner.get("pid") == os.getpid()
            and owner.get("host") == socket.gethostname())


def retake(a: Assignment) -> bool:
    """After an idle spell: keep the point if its claim is still ours, or take it again if nobody
    else did; False if another student trains it now or finished it."""
    if _done(directory(a.code), a.task["run"]):
        return False
    ours = _ours(a)
    if ours:
        a.refreshed = 0.0
        heartbeat(a)
        return True
    if (_take(a.claim, a.who, a.browser) if ours is None else _take_over(a.claim, a.who, a.browser)):
        a.refreshed = time.monotonic()
        return True
    return False


def heartbeat(a: Assignment) -> None:
    """Keep the claim fresh (called from the page's polls; cheap when not due)."""
    now = time.monotonic()
    if now - a.refreshed >= HEARTBEAT_S:
        a.refreshed = now
        try:
            os.utime(a.claim)
        except FileNotFoundError:
            pass


def release(a: Assignment) -> None:
    """Give the point back, unless another student has taken it over meanwhile."""
    if _ours(a) is False:
        return
    try:
        a.claim.unlink()
    except FileNotFoundError:
        pass


def finish(a: Assignment, history: list[dict], test: tuple[float, int, int] | None, wall_s: float) -> dict:
    """Write the student's result as the sweep's run record, then free the claim."""
    t = a.task
    rows = [r for r in history if r.get("examples")]
    step = max(1, len(rows) // CURVE_POINTS)
    curve = [{"examples_seen": r["examples_seen"], "train_error_pct": r.get("train_error_pct"),
              "test_error_pct": None, "loss_output": r.get("loss_output"),
              "angle_deg": _mean(r.get("angle_to_backprop_deg")),
              "angle_to_backprop_deg": r.get("angle_to_backprop_deg")} for r in rows[step - 1::step]]
    last = rows[-1] if rows else {}
    record = {
        "format": RESULT_FORMAT, "status": "ok" if test is not None else "failed", "run": t["run"],
        "point": t["point"], "grid": t["grid"], "seed": t["seed"], "preset": t.get("preset"),
        "dataset": t["dataset"], "spec": t["spec"], "examples": t["examples"], "test_images": t["test_images"],
        "test_error_pct": test[0] if test else None, "train_error_pct": last.get("train_error_pct"),
        "angle_to_backprop_deg": last.get("angle_to_backprop_deg"),
        "angle_deg": _mean(last.get("angle_to_backprop_deg")), "weight_angle_deg": last.get("weight_angle_deg"),
        "examples_seen": last.get("examples_seen"), "train_wall_s": wall_s, "curve": curve,
        "host": socket.gethostname(), "pid": os.getpid(), "source": "class experiment",
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if test is None:
        record["error"] = "the final test did not run"
    if curve:
        curve[-1]["test_error_pct"] = record["test_error_pct"]
    _write_json(directory(a.code) / "runs" / f"{t['run']}.json", record)
    release(a)
    return record


def _mean(values) -> float | None:
    vals = [float(v) for v in values or () if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None
