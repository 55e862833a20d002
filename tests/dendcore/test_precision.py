"""The float32 simulation (spec field ``precision``) against the float64 NumPy twin.

float64 stays the default and keeps the 1e-9 parity of test_parity.py.  float32 rounds the
simulation's weights, potentials and filter states to single precision (unit roundoff 6e-8)
while learning and the random draws stay float64, so the two precisions must draw the same
random numbers and end within a few hundred float32 roundings of each other.

Tolerances, each about five times the largest difference measured over seven variants and
three seeds (in brackets), relative to the largest value of the twin's quantity:
- output and hidden losses 1e-6 [3e-7], somatic voltages V 2e-6 [4e-7]: a basal potential sums
  a few hundred weight-times-PSP terms and its filter states carry rounding with a gain of about
  1 / (1 - e^-0.1) = 10, so 10-50 roundings of 6e-8 is what float32 gives;
- the weight change of three examples 2e-6 [4e-7] and the biases 2e-6 [5e-7]: they come from
  phase means of those voltages and rates, so the same;
- spike budgets 5e-6 [1.7e-6]: a budget subtracts a rate every step for 300 steps;
- test scores (mean output voltage over 220 steps) 2e-6 [3e-7].
Why that suffices: a phase mean of a rate over a 20-step window carries Poisson noise of order
10 % from the spikes themselves, five orders of magnitude above these differences, so learning
cannot tell the two precisions apart except where a spike itself flips (a budget within 1e-6 of
zero; then the runs go separate random ways, as two seeds do).  These tests use states where no
spike flips, which the equal random streams assert.  A wrong cast (a double constant left in a
float32 loop changes nothing here, but a weight not mirrored, a filter state rebuilt from other
weights or a float32 sigmoid gone wrong does) shows as 1e-4 or more.
"""
import json

import numpy as np
import pytest
from numba import njit

from dendcore import ModelSpec, Trainer
from dendcore import rng as R
from dendcore.kernels.spiking import sigmoid_vec32
from dendcore.reference import ReferenceModel
from tests.conftest import rel_err

TOL_LOSS = 1e-6
TOL_V = 2e-6
TOL_DW = 2e-6
TOL_B = 2e-6
TOL_BUDGET = 5e-6
TOL_SCORES = 2e-6

VARIANTS = [{}, {"psp": "exact"}, {"g_a": 0.3}, {"plateaus": "jittered"}, {"hidden": (30, 20)},
            {"hidden": (30, 20), "rule": "backprop"}, {"feedback": "learned"}]


def _ids(c):
    return ",".join(f"{k}={v}" for k, v in c.items()) or "default"


@njit  # not cached, like test_analytic's: a disk cache would not notice a change in the kernels
def _sigmoids32(v):
    out = np.empty(v.size, dtype=np.float32)
    for i in range(v.size):
        out[i] = sigmoid_vec32(v[i])
    return out


def test_float32_sigmoid_is_within_a_few_roundings():
    g = np.random.default_rng(2)
    v = np.concatenate([np.linspace(-60.0, 60.0, 400_001), g.normal(2.5, 3.0, 100_000)]).astype(np.float32)
    exact = 1.0 / (1.0 + np.exp(-v.astype(np.float64)))
    got = _sigmoids32(v)
    assert got.dtype == np.float32
    assert np.max(np.abs(got - exact) / exact) < 5e-7
    far = _sigmoids32(np.array([-1e30, -100.0, 100.0, 1e30], dtype=np.float32))
    assert np.all(np.isfinite(far)) and far[0] < 1e-25 and far[2] == 1.0


@pytest.mark.parametrize("changes", VARIANTS, ids=_ids)
def test_float32_training_matches_the_float64_twin(small_trainer, mnist, changes):
    tr = small_trainer(precision="float32", **changes)
    assert tr.dyn.V.dtype == np.float32 and tr.dyn.budget.dtype == np.float64
    twin = ReferenceModel(tr.spec, tr.net, budget=tr.dyn.budget)
    rng = tr.rng_train.copy()
    L = tr.net.n_layers
    w0 = [tr.net.W(j).copy() for j in range(1, L + 1)]
    stats = tr.train_examples(3)
    for k, idx in enumerate(stats.indices):
        out = twin.train_example(mnist.train_images[idx], int(mnist.train_labels[idx]), rng)
        assert out["prediction"] == stats.pred[k]
        assert abs(out["losses"][L] - stats.loss[k, 0]) <= TOL_LOSS * max(1.0, stats.loss[k, 0])
        for j in range(1, L):
            assert abs(out["losses"][j] - stats.loss[k, j]) <= TOL_LOSS * max(1.0, stats.loss[k, j])
    # the same random numbers, so the same spikes: the precisions differ by rounding only
    assert np.array_equal(rng, tr.rng_train)
    for j in range(1, L + 1):
        assert rel_err(tr.net.W(j) - w0[j - 1], twin.W[j] - w0[j - 1]) < TOL_DW, f"W{j}"
        assert rel_err(tr.net.bias(j), twin.b[j]) < TOL_B, f"b{j}"
        assert rel_err(tr.dyn.V[tr.net.layer_slice(j)], twin.V[j]) < TOL_V, f"V{j}"
        assert rel_err(tr.dyn.budget[tr.net.layer_slice(j)], twin.budget[j]) < TOL_BUDGET, f"budget{j}"


@pytest.mark.parametrize("changes", [{}, {"psp": "exact", "g_a": 0.2}, {"hidden": (30, 20)}],
                         ids=["default", "exact-ga", "2hl"])
def test_float32_test_phase_matches_the_float64_twin(small_trainer, mnist, changes):
    tr = small_trainer(precision="float32", **changes)
    tr.train_examples(5)
    idx = np.array([3, 17, 256])
    res = tr.test(indices=idx)
    for k, i in enumerate(idx):
        twin = ReferenceModel(tr.spec, tr.net)
        scores = twin.test_image(mnist.test_images[i], R.new_state(tr.seed, R.STREAM_TEST, int(i)))
        assert rel_err(res.scores[k], scores) < TOL_SCORES


def test_float32_runs_are_bit_for_bit_whatever_the_chunks(small_trainer, tmp_path, mnist):
    """The float32 weights follow the float64 ones exactly (rounded), so chunking and resuming change nothing."""
    from dendcore import load_run, save_run
    a = small_trainer(precision="float32", chunk=7)
    b = small_trainer(precision="float32", chunk=50)
    a.train_examples(60)
    b.train_examples(25)
    save_run(b, tmp_path / "run")
    b = load_run(tmp_path / "run", data=mnist)
    assert b.spec.precision == "float32"
    b.train_examples(35)
    for x, y in ((a.net.w, b.net.w), (a.net.b, b.net.b), (a.dyn.V, b.dyn.V), (a.dyn.budget, b.dyn.budget),
                 (a.rng_train, b.rng_train)):
        assert np.array_equal(x, y)
    assert a.net.w.dtype == np.float64          # learning stays float64
    assert np.array_equal(a.test(indices=np.arange(20)).scores, b.test(indices=np.arange(20)).scores)


def test_float32_and_float64_draw_the_same_spikes_until_a_rate_rounds_across(small_trainer):
    """The two precisions give different rounding but the same random draws: over the first
    example the spike budgets and weights stay within float32 rounding of each other."""
    a = small_trainer(precision="float64")
    b = small_trainer(precision="float32")
    w0 = a.net.w.copy()
    a.train_examples(1)
    b.train_examples(1)
    assert np.array_equal(a.rng_train, b.rng_train)
    assert 0 < rel_err(b.net.w - w0, a.net.w - w0) < TOL_DW      # rounding only, but rounding there is
    assert rel_err(b.dyn.budget, a.dyn.budget) < TOL_BUDGET


def test_rate_mode_ignores_the_precision(small_trainer):
    a = small_trainer(mode="rate")
    b = small_trainer(mode="rate", precision="float32")
    a.train_examples(30)
    b.train_examples(30)
    assert np.array_equal(a.net.w, b.net.w) and np.array_equal(a.net.b, b.net.b)


def test_cli_run_record_carries_the_precision(tmp_path):
    import subprocess
    import sys
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "dendcore", "train", "--preset", "glr17-1hl", "--examples", "20",
                        "--test-images", "20", "--set", "hidden=30", "--set", "precision=float32", "--out", str(out),
                        "--json", "--no-progress", "--no-diagnostics"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["spec"]["precision"] == "float32"
    assert "float32" in r.stdout.strip().splitlines()[0]
    saved = json.loads((out / "spec.json").read_text())
    assert saved["precision"] == "float32"
    assert ModelSpec.from_dict({k: v for k, v in saved.items() if k != "precision"}).precision == "float64"


def test_sweeps_stored_before_the_precision_field_still_match_their_runs():
    """A spec written before a field existed means that field's default (the shipped example sweeps)."""
    from dendcore.sweep import _record_matches, _same_definition, make_definition, plan_runs
    definition = make_definition("glr17-1hl-rate", {"g_a": [0.0, 0.1]}, seeds=1, examples=100, test_images=50)
    task = plan_runs(definition)[0]
    old_spec = {k: v for k, v in task["spec"].items() if k != "precision"}
    record = {"seed": task["seed"], "examples": task["examples"], "test_images": task["test_images"],
              "dataset": task["dataset"], "spec": old_spec}
    assert _record_matches(record, task)
    assert not _record_matches(dict(record, spec=dict(old_spec, precision="float32")), task)
    old_definition = dict(definition, base_spec={k: v for k, v in definition["base_spec"].items() if k != "precision"})
    assert _same_definition(old_definition, definition) == []
    assert _same_definition(dict(old_definition, base_spec=dict(old_definition["base_spec"], g_l=0.2)),
                            definition) == ["base_spec"]
