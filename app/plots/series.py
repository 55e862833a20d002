"""One run's curves as data: the :class:`~.rows.Rows` that the main run and the ghost each own.

A :class:`Series` turns snapshots into rows (running means of the training error and losses, angles
and eigenvalue as they come), merges them so ``scalars`` never holds more than ``MAX_ROWS`` rows yet
always spans the whole run, and keeps the last ``MAX_TESTS`` test measurements.  Nothing here knows
about Bokeh: the figure groups read ``new_rows`` and ``replace`` after each send.
"""
from __future__ import annotations

import math

import numpy as np

from .rows import Rows

MAX_ROWS = 2000
MAX_TESTS = 2000
SMOOTH_EXAMPLES = 1000      # running-mean window (in examples) of training error and losses
TEST_COLUMNS = ("examples_seen", "test_err")


def layer_columns(kind: str, n_hidden: int) -> list[str]:
    """One column per hidden layer: ``loss``, ``angle`` (update vs backprop) or ``wangle`` (Y vs W)."""
    return [f"{kind}_h{j}" for j in range(1, n_hidden + 1)]


def scalar_columns(n_hidden: int) -> list[str]:
    """The columns of a run's scalar rows, for a network with this many hidden layers."""
    return (["examples_seen", "train_err", "loss_out"] + layer_columns("loss", n_hidden)
            + layer_columns("angle", n_hidden) + layer_columns("wangle", n_hidden) + ["eig"])


def _num(v) -> float:
    return float(v) if v is not None and math.isfinite(v) else math.nan


def merge_rows(rows: list[dict]) -> dict:
    """One row standing for several: the last one's position, the mean of the finite values."""
    if len(rows) == 1:
        return dict(rows[0])
    out = {}
    for k in rows[0]:
        if k == "examples_seen":
            out[k] = rows[-1][k]
        else:
            vals = [r[k] for r in rows if r[k] is not None and math.isfinite(r[k])]
            out[k] = float(np.mean(vals)) if vals else math.nan
    return out


def _columns_of(records: list[dict], columns) -> dict[str, np.ndarray]:
    return {c: np.array([r[c] for r in records], dtype=float) for c in columns}


def bounded_rows(held: Rows, rows: list[dict]) -> tuple[dict[str, np.ndarray], bool]:
    """The rows to send to ``held`` (at most ``MAX_ROWS``), by column, and whether they replace it:
    when the new rows would overflow it, the whole curve thinned (neighbours merged pairwise)."""
    if len(held) + len(rows) <= MAX_ROWS:
        return _columns_of(rows, held.columns), False
    old = [dict(zip(held.columns, values)) for values in zip(*(held.arrays[c].tolist() for c in held.columns))]
    records = old + rows
    return _columns_of([merge_rows(records[i:i + 2]) for i in range(0, len(records), 2)], held.columns), True


def snapshot_row(s, n_hidden: int, state: dict) -> dict:
    """A snapshot as one row of the curves; ``state`` carries the running means from one snapshot to the next."""
    n = max(1, s.examples)
    decay = math.exp(-n / SMOOTH_EXAMPLES)

    def smooth(key, value):
        """Running mean over about SMOOTH_EXAMPLES examples (the exact mean while fewer were seen)."""
        if value is None or not math.isfinite(value):
            return math.nan
        total, weight = state.get(key, (0.0, 0.0))
        total = total * decay + n * value
        weight = weight * decay + n
        state[key] = (total, weight)
        return total / weight

    row = {"examples_seen": float(s.examples_seen), "train_err": smooth("train_err", s.train_error_pct),
           "loss_out": smooth("loss_out", s.loss_output)}
    hid = s.loss_hidden or []
    ang = s.angle_to_backprop_deg or []
    wang = s.weight_angle_deg or []
    for j in range(n_hidden):
        row[f"loss_h{j + 1}"] = smooth(f"loss_h{j + 1}", hid[j] if j < len(hid) else None)
        row[f"angle_h{j + 1}"] = _num(ang[j] if j < len(ang) else None)
        row[f"wangle_h{j + 1}"] = _num(wang[j] if j < len(wang) else None)
    # the authors' averaging (mean of each example's J_b J_g); runs saved before it existed have the other
    row["eig"] = _num(s.eig_jacobian_paper if s.eig_jacobian_paper is not None else s.eig_jacobian)
    return row


def columns_of_tests(tests, snapshots) -> dict[str, list[float]] | None:
    """Test measurements by column, given as (examples_seen, error %, images) or inside snapshots; None
    when there are none."""
    tests = list(tests) + [(s.examples_seen, s.test_error_pct, s.test_images) for s in snapshots
                           if s.test_error_pct is not None]
    if not tests:
        return None
    return {"examples_seen": [float(t[0]) for t in tests], "test_err": [float(t[1]) for t in tests]}


class Series:
    """The curves of one run, main or ghost: smoothed, merged and bounded alike (see the module doc)."""

    def __init__(self, n_hidden: int):
        self.n_hidden = int(n_hidden)
        self.columns = scalar_columns(self.n_hidden)
        self.scalars = Rows(self.columns, MAX_ROWS)
        self.tests = Rows(TEST_COLUMNS, MAX_TESTS)
        self.label = ""             # the ghost's name; "" = no ghost, its curves are hidden
        self.run_id = None          # the run these curves show (a ghost can be rebuilt under the same plots)
        self.reset()

    def reset(self) -> None:
        self.merge = 1                                  # snapshots per row (doubles at each thinning)
        self.pending: list[dict] = []
        self.smooth: dict[str, tuple[float, float]] = {}
        self.new_rows: dict | None = None               # rows of the latest send (streamed to the figures)
        self.replace = False                            # the latest send replaced the rows (thinning)

    def restart(self, run_id) -> None:
        """A new (or no) run behind these curves: forget the old one's rows, tests and running means."""
        self.run_id = run_id
        self.reset()
        self.scalars.clear()
        self.tests.clear()

    def rows(self, snapshots) -> list[dict]:
        """The rows these snapshots complete; the rest wait to be merged with the next ones."""
        rows = []
        for s in snapshots:
            self.pending.append(snapshot_row(s, self.n_hidden, self.smooth))
            if len(self.pending) >= self.merge:
                rows.append(merge_rows(self.pending))
                self.pending = []
        return rows

    def send_rows(self, rows: list[dict]) -> None:
        # set before sending: the rows' subscribers stream exactly these rows to the figures
        self.new_rows, self.replace = bounded_rows(self.scalars, rows)
        if self.replace:
            self.merge *= 2          # later snapshots are merged twice as much
            self.scalars.replace(self.new_rows)
        else:
            self.scalars.send(self.new_rows)
