"""Run files: a directory holding everything needed to inspect or resume a run.

    spec.json        the spec in force (live changes included)
    meta.json        seed, dataset, progress, schema version
    state.npz        weights, dynamic state, random streams, example order
    snapshots.jsonl  one Snapshot per line (appended while training)

No pickles: arrays go through ``np.savez`` and are read with
``allow_pickle=False``; everything else is JSON.  Files are written to a
temporary name and renamed, so a crash never leaves a half-written state.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from .datasets import Dataset, load_dataset
from .snapshot import SCHEMA_VERSION, Snapshot
from .spec import ModelSpec

RUN_FORMAT = 1
_DYN_FIELDS = ("V", "budget", "hist", "proj", "trl", "trs", "pjl", "pjs", "clock")


class RunFileError(ValueError):
    """A run directory that cannot be read; the message names the file."""


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_run(trainer, directory, dataset_ref: str | None = None) -> Path:
    """Write the trainer's complete state into ``directory`` (created if needed)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    arrays = trainer_state(trainer)

    def write_npz(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    _atomic_write(d / "state.npz", write_npz)
    _atomic_write(d / "spec.json", lambda tmp: tmp.write_text(json.dumps(trainer.spec.to_dict(), indent=2)))
    meta = {"format": RUN_FORMAT, "snapshot_schema": SCHEMA_VERSION, "seed": trainer.seed,
            "dataset": dataset_ref or trainer.data.name, "examples_seen": trainer.examples_seen,
            "epoch": trainer.epoch, "train_wall_s": trainer.wall_s}
    _atomic_write(d / "meta.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
    return d


def append_snapshots(directory, snapshots: Iterable[Snapshot]) -> None:
    with open(Path(directory) / "snapshots.jsonl", "a") as f:
        for s in snapshots:
            f.write(s.to_json() + "\n")


def read_snapshots(directory) -> list[Snapshot]:
    path = Path(directory) / "snapshots.jsonl"
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Snapshot.from_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise RunFileError(f"{path}:{n}: not a snapshot record ({exc})") from None
    return out


def load_run(directory, data: Dataset | None = None, **trainer_kwargs):
    """A Trainer continuing exactly where the saved run stopped."""
    from .trainer import Trainer

    d = Path(directory)
    for name in ("spec.json", "meta.json", "state.npz"):
        if not (d / name).is_file():
            raise RunFileError(f"{d / name}: missing (is {d} a run directory?)")
    try:
        spec = ModelSpec.from_dict(json.loads((d / "spec.json").read_text()))
        meta = json.loads((d / "meta.json").read_text())
    except ValueError as exc:
        raise RunFileError(f"{d}: unreadable spec or meta ({exc})") from None
    if data is None:
        data = load_dataset(meta.get("dataset", "mnist"))
    tr = Trainer(spec, data, seed=int(meta["seed"]), **trainer_kwargs)
    try:
        with np.load(d / "state.npz", allow_pickle=False) as z:
            state = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise RunFileError(f"{d / 'state.npz'}: unreadable ({exc})") from None
    restore_state(tr, state, where=str(d / "state.npz"))
    return tr


def trainer_state(trainer) -> dict[str, np.ndarray]:
    """Everything a trainer needs to go on exactly where it is (weights, dynamics, random streams,
    example order), as arrays that are copies: the trainer may go on training meanwhile."""
    arrays = {name: arr.copy() for name, arr in trainer.net.arrays().items()}
    for name in _DYN_FIELDS:
        arrays["dyn_" + name] = getattr(trainer.dyn, name).copy()
    arrays.update(rng_train=trainer.rng_train.copy(), rng_order=trainer.rng_order.copy(), perm=trainer._perm.copy(),
                  pos=np.array([trainer._pos]), examples_seen=np.array([trainer.examples_seen]),
                  wall_s=np.array([trainer.wall_s]))
    return arrays


def restore_state(tr, state: dict[str, np.ndarray], where: str = "state") -> None:
    """Put a :func:`trainer_state` into a fresh trainer of the same spec."""
    for name, arr in tr.net.arrays().items():
        if name not in state or state[name].shape != arr.shape:
            got = state[name].shape if name in state else "nothing"
            raise RunFileError(f"{where}: {name} has shape {got}, spec needs {arr.shape}")
        arr[...] = state[name]
    for name in _DYN_FIELDS:
        getattr(tr.dyn, name)[...] = state["dyn_" + name]
    tr.rng_train[:] = state["rng_train"]
    tr.rng_order[:] = state["rng_order"]
    tr._perm = state["perm"].astype(np.int64)
    tr._pos = int(state["pos"][0])
    tr.examples_seen = int(state["examples_seen"][0])
    tr.wall_s = float(state["wall_s"][0])
