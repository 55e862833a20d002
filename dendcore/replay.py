"""A dashboard run replayed on the command line: its starting spec, seed, dataset and live changes.

The dashboard's JSON download (``app/export.py``) records the spec the network was built
with, and every live change (learning rates, g_a, feedback scale) with the example count at
which the training thread applied it.  Applying the same changes at the same counts
(:meth:`dendcore.Trainer.run`'s ``changes``) gives the same rows, since the numbers depend on
the settings, the seed and the example count only:

    python -m dendcore train --replay dendrite-lab-run.json --examples 20000
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runio import RunFileError
from .spec import LIVE_FIELDS, ModelSpec, SpecError

DASHBOARD_FORMAT = "dendrite-lab-dashboard-run"


@dataclass(frozen=True)
class Replay:
    spec: ModelSpec                          # as built, before any live change
    seed: int
    dataset: str
    changes: tuple[tuple[int, dict[str, Any]], ...]


def parse_changes(items: Any) -> tuple[tuple[int, dict[str, Any]], ...]:
    """``[{"examples_seen": N, "set": {field: value}}, ...]`` -> ``((N, {field: value}), ...)``, checked."""
    if not isinstance(items, list):
        raise SpecError("changes: expected a list of {\"examples_seen\": N, \"set\": {...}}")
    out = []
    for k, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("set"), dict):
            raise SpecError(f"changes[{k}]: expected {{\"examples_seen\": N, \"set\": {{...}}}}")
        at = item.get("examples_seen")
        if isinstance(at, bool) or not isinstance(at, int) or at < 0:
            raise SpecError(f"changes[{k}]: examples_seen must be a whole number >= 0 (got {at!r})")
        values = {}
        for name, value in item["set"].items():
            if name not in LIVE_FIELDS:
                raise SpecError(f"changes[{k}]: {name!r} cannot change during a run "
                                f"(live fields: {', '.join(LIVE_FIELDS)})")
            values[name] = tuple(value) if isinstance(value, list) else value
        out.append((at, values))
    counts = [at for at, _ in out]
    if counts != sorted(counts):
        raise SpecError("changes: example counts must not decrease")
    return tuple(out)


def read_replay(path: str | Path) -> Replay:
    """The replayable part of a dashboard download; a clear error for anything else."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFileError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != DASHBOARD_FORMAT:
        raise RunFileError(f"{path}: not a Dendrite Lab dashboard download (its JSON run file)")
    start = record.get("spec_at_start")
    if not isinstance(start, dict):
        raise RunFileError(f"{path}: this download has no starting spec (made before runs recorded their live "
                           "changes); its final spec is in 'spec'")
    try:
        spec = ModelSpec.from_dict(start)
        changes = parse_changes(record.get("changes", []))
    except (SpecError, TypeError) as exc:
        raise RunFileError(f"{path}: {exc}") from None
    seed, dataset = record.get("seed"), record.get("dataset")
    if isinstance(seed, bool) or not isinstance(seed, int) or not isinstance(dataset, str):
        raise RunFileError(f"{path}: seed and dataset missing")
    return Replay(spec, seed, dataset, changes)
