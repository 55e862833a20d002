"""The stream contract: what the trainer yields, the run file stores and the dashboard plots.

A ``Snapshot`` summarises the examples since the previous one.  Fields that a
diagnostic did not measure are ``None`` (switched off, or not defined for this
architecture, e.g. angles without a hidden layer).  Lists are per hidden layer,
bottom up, unless said otherwise.  Bump ``SCHEMA_VERSION`` when a field changes
meaning; readers accept older versions by ignoring missing fields.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

SCHEMA_VERSION = 1


@dataclass
class Traces:
    """Voltages of sample neurons through the latest example (one row per time step)."""
    neurons: list[str]            # e.g. "h1[17]" (hidden layer 1, neuron 17) or "out[3]"
    # [step][neuron]: arrays from the trainer, nested lists once read back from JSON
    V: Any                        # somatic voltage
    V_b: Any                      # basal (dendritic for the output) potential
    V_a: Any                      # apical potential (0 for output neurons)
    forward_steps: int            # the target phase starts at this row
    target_steps: int
    forward_window: tuple[int, int]   # rows [start, end) averaged in the forward phase
    target_window: tuple[int, int]


@dataclass
class Snapshot:
    version: int
    examples_seen: int            # total training examples so far
    epoch: float                  # examples_seen / training-set size
    wall_s: float                 # training wall time so far (testing excluded)
    examples: int                 # examples summarised by this snapshot
    loss_output: float | None     # mean L_out over those examples
    loss_hidden: list[float] | None   # mean L_l per hidden layer
    train_error_pct: float | None     # % of those examples misclassified in the forward phase
    test_error_pct: float | None = None   # measured at this point, else None
    test_images: int | None = None
    loss_correlation: list[float] | None = None  # corr(L_out, L_l) over a recent window, per hidden layer
    alpha_f: list[list[float]] | None = None  # [layer][sample neuron] of the latest example
    alpha_t: list[list[float]] | None = None
    angle_to_backprop_deg: list[float] | None = None     # sliding mean over the last 100 examples
    weight_angle_deg: list[float] | None = None          # angle(vec Y_l, vec of W^T products)
    eig_jacobian: float | None = None     # Theorem-1 largest eigenvalue: product of the window-mean Jacobians
    eig_weights: float | None = None      # same with weights only (every sigma' at its maximum 1/4)
    eig_jacobian_paper: float | None = None   # the 2017 code's: mean of the per-example products J_b J_g
    traces: Traces | None = None
    probe_activity: list[list[float]] | None = None   # [probe image][unit] top hidden rates
    example_index: int | None = None      # latest training example: dataset index
    example_label: int | None = None
    example_prediction: int | None = None
    example_output_rates: list[float] | None = None
    lr: list[float] | None = None         # live-changeable fields as in force now
    g_a: float | None = None
    feedback_scale: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Snapshot":
        names = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        if d.get("traces") is not None:
            t = dict(d["traces"])
            t["forward_window"] = tuple(t["forward_window"])
            t["target_window"] = tuple(t["target_window"])
            d["traces"] = Traces(**t)
        return cls(**d)

    def scalars(self) -> dict[str, float | int | None]:
        """Flat numeric row for CSV export and plotting."""
        row: dict[str, Any] = {
            "examples_seen": self.examples_seen, "epoch": self.epoch, "wall_s": self.wall_s,
            "loss_output": self.loss_output, "train_error_pct": self.train_error_pct,
            "test_error_pct": self.test_error_pct, "eig_jacobian": self.eig_jacobian,
            "eig_weights": self.eig_weights, "eig_jacobian_paper": self.eig_jacobian_paper, "g_a": self.g_a, "feedback_scale": self.feedback_scale,
        }
        for name in ("loss_hidden", "angle_to_backprop_deg", "weight_angle_deg", "loss_correlation"):
            for i, v in enumerate(getattr(self, name) or []):
                row[f"{name}_{i + 1}"] = v
        return row


def _clean(value):
    """NaN/inf become None so every record is strict JSON."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
