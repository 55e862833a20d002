"""The baselines: their own learning rates (tied to the shipped sweep), and what the feedback does to backprop."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dendcore import PRESETS, ModelSpec, SpecError, Trainer
from dendcore.presets import RULE_RATES_1HL, rates_for_rule
from dendcore.trainer import Diagnostics

SWEEP_CSV = Path(__file__).resolve().parents[2] / "dendcore" / "data" / "sweeps" / "baseline_lr_sweep.csv"


def sweep_rows() -> list[dict]:
    with SWEEP_CSV.open() as f:
        return list(csv.DictReader(f))


def test_each_baseline_preset_ships_the_rates_its_sweep_chose():
    rows = sweep_rows()
    chosen = {r["rule"]: (float(r["lr_hidden"]), float(r["lr_output"]))
              for r in rows if r["mode"] == "rate" and r["choice"] in ("chosen", "preset")}
    assert set(chosen) == {"backprop", "feedback_alignment", "dendrites"}
    for name, rule in (("glr17-1hl-backprop", "backprop"), ("glr17-1hl-fa", "feedback_alignment"),
                       ("glr17-1hl", "dendrites")):
        for suffix in ("", "-rate"):
            spec = PRESETS[name + suffix].spec
            assert spec.rule == rule and spec.lr == chosen[rule], name + suffix
        assert RULE_RATES_1HL[rule] == chosen[rule]
    # a chosen point has the lowest mean validation error of its rule's grid, on every seed finished
    for rule in ("backprop", "feedback_alignment"):
        grid = [r for r in rows if r["mode"] == "rate" and r["rule"] == rule]
        assert len(grid) >= 9 and all(r["choice"] != "chosen" or r["val_error_mean"] for r in grid)
        best = min((r for r in grid if r["val_error_mean"] and r["failed"] == "0"),
                   key=lambda r: float(r["val_error_mean"]))
        assert best["choice"] == "chosen"
        assert {r["validation_images"] for r in grid} == {"10000"}


def test_rates_carry_over_between_rules_by_the_ratio_of_their_own():
    one = PRESETS["glr17-1hl"].spec
    assert rates_for_rule(one.lr, "dendrites", "backprop") == PRESETS["glr17-1hl-backprop"].spec.lr
    assert rates_for_rule(PRESETS["glr17-1hl-fa"].spec.lr, "feedback_alignment", "dendrites") == one.lr
    assert rates_for_rule((0.1, 0.3), "backprop", "backprop") == (0.1, 0.3)
    # half the dendritic rates -> half the baseline's; deeper networks scale each hidden layer alike
    bh, bo = RULE_RATES_1HL["backprop"]
    h, o = rates_for_rule((0.105, 0.105), "dendrites", "backprop")
    assert h == pytest.approx(bh / 2) and o == pytest.approx(bo / 2)
    deep = rates_for_rule((0.23, 0.23, 0.12), "dendrites", "backprop")
    assert deep[0] == deep[1] and deep[-1] == pytest.approx(0.12 * bo / 0.21)
    ModelSpec(hidden=(500, 100), rule="backprop", lr=deep)        # always a valid spec
    top = ModelSpec.__dataclass_fields__["lr"].metadata["declared"].bounds[1]
    assert max(rates_for_rule((top, top), "dendrites", "backprop")) <= top


def test_backprop_beside_any_feedback_is_a_valid_spec():
    """A backprop ghost beside a sparse- or symmetric-feedback run must build: with g_a > 0 the apical
    input (through Y) still shapes the somatic voltage, so the feedback kind names a different network."""
    from app.ghost import ghost_spec
    for fb in ("symmetric", "noisy_symmetric", "sparse", "learned"):
        ModelSpec(rule="backprop", feedback=fb)
        assert ghost_spec("backprop", ModelSpec(feedback=fb)).rule == "backprop"


@pytest.mark.parametrize("mode", ["rate", "spiking"])
def test_backprop_learns_the_same_whatever_the_feedback_weights(mnist, mode):
    """Why symmetric feedback did not rescue backprop in a 500-100 rate net: at g_a = 0 its weights do not
    depend on Y at all (that run was held back by the learning rates, now tuned per rule)."""
    spec = ModelSpec(hidden=(20,), rule="backprop", mode=mode)
    a = Trainer(spec, mnist, seed=5, diagnostics=Diagnostics.none())
    b = Trainer(spec, mnist, seed=5, diagnostics=Diagnostics.none())
    b.net.y[:] = -7.0 * b.net.y + 0.3                               # any other feedback
    a.train_examples(150)
    b.train_examples(150)
    np.testing.assert_array_equal(a.net.w, b.net.w)
    np.testing.assert_array_equal(a.net.b, b.net.b)
