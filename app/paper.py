"""The paper's numbers for a setup: its published 60-epoch error and our shipped reference curve."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

import dendcore
from dendcore import PRESETS, ModelSpec

log = logging.getLogger("dendrite_lab.paper")

CURVES = Path(dendcore.__file__).resolve().parent / "data" / "curves"


def load_curve(preset: str):
    """The reference test-error curve for a preset, if one is shipped (examples_seen, test_error_pct)."""
    path = CURVES / f"{preset}.csv"
    if not path.is_file():
        return None
    try:
        arr = np.genfromtxt(path, delimiter=",", names=True)
        x = np.atleast_1d(arr["examples_seen"]).astype(float)
        y = np.atleast_1d(arr["test_error_pct"]).astype(float)
    except Exception as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    ok = np.isfinite(x) & np.isfinite(y)
    return (x[ok], y[ok]) if ok.any() else None


def paper_reference(preset_name: str, spec: ModelSpec, dataset: str) -> tuple[float | None, Any]:
    """The paper's numbers for a setup: only when it is the preset's own network on MNIST.

    Live fields (learning rates, g_a, feedback scale) may differ; anything else makes the
    comparison meaningless, so no reference is drawn.
    """
    preset = PRESETS.get(preset_name)
    if preset is None or dataset != "mnist" or _structure(preset.spec) != _structure(spec):
        return None, None
    return preset.published_error_pct, load_curve(preset_name)


def _structure(spec: ModelSpec) -> dict:
    d = spec.to_dict()
    for k in dendcore.LIVE_FIELDS:
        d.pop(k, None)
    return d


def reference_result(preset: str) -> str:
    """Our shipped long run of a preset as card text, e.g. "3.68 % after 60 epochs" ("" when none)."""
    curve = load_curve(preset)
    if curve is None:
        return ""
    x, y = curve
    return f"{y[-1]:.2f} % after {x[-1] / 60000:g} epochs"
