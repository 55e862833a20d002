"""Analytic checks: constants, steady states, Euler dynamics, plateau definition, identities."""
import math

import numpy as np
import pytest
from numba import njit

from dendcore import ModelSpec, Trainer
from dendcore.diagnostics import RowWindow, vector_angle_deg
from dendcore.kernels.spiking import sigmoid_vec
from dendcore.network import init_moments
from dendcore.rng import exponential, fill_exponentials, log_positive, new_state, wald
from dendcore.spec import SpecError


def test_psp_kernel_values_and_sums():
    s = ModelSpec()
    k = np.array(s.kernel())
    expected = [0.0269, 0.0436, 0.0533, 0.0581, 0.0597, 0.0591, 0.0571, 0.0543, 0.0510, 0.0475]
    assert np.allclose(k, expected, atol=6e-5)
    assert k.sum() == pytest.approx(0.5104, abs=1e-4)
    long = np.array(s.replace(psp_taps=64).kernel())
    # untruncated: the 64-tap sum plus its geometric tail is the closed form of the
    # discrete series, which is 1 up to the 1 ms sampling of a kernel whose integral is 1
    tail = (math.exp(-65 / 10) / (1 - math.exp(-0.1)) - math.exp(-65 / 3) / (1 - math.exp(-1 / 3))) / 7
    closed = (math.exp(-0.1) / (1 - math.exp(-0.1)) - math.exp(-1 / 3) / (1 - math.exp(-1 / 3))) / 7
    assert long.sum() + tail == pytest.approx(closed, abs=1e-12)
    assert closed == pytest.approx(1.0, abs=3e-3)
    # peak near 5.2 ms: d/dt of the continuous kernel vanishes at t* = ln(tl/ts) tl ts / (tl - ts)
    t_star = math.log(10 / 3) * 30 / 7
    assert t_star == pytest.approx(5.16, abs=0.01)


def test_exact_psp_traces_sum_to_one(small_trainer):
    """One input spike filtered by the exact traces: the PSP summed over time is 1."""
    tr = small_trainer(psp="exact", hidden=())
    s = tr.spec
    dl, ds = math.exp(-1 / s.tau_l_ms), math.exp(-1 / s.tau_s_ms)
    a = b = 0.0
    total = 0.0
    for t in range(2000):
        spike = 1.0 if t == 0 else 0.0
        a, b = dl * (a + spike), ds * (b + spike)
        total += (a - b) / (s.tau_l_ms - s.tau_s_ms)
    closed = (dl / (1 - dl) - ds / (1 - ds)) / (s.tau_l_ms - s.tau_s_ms)
    assert total == pytest.approx(closed, abs=1e-9)
    assert total == pytest.approx(1.0, abs=3e-3)


def test_derived_constants():
    s = ModelSpec()
    assert s.k_b == pytest.approx(0.857, abs=1e-3)
    assert s.replace(g_a=0.05).k_b == pytest.approx(0.800, abs=1e-3)
    assert s.replace(g_a=0.6).k_b == pytest.approx(0.462, abs=1e-3)
    assert s.k_d == pytest.approx(0.857, abs=1e-3)
    assert s.p_hidden == pytest.approx(100)
    assert s.p_output == pytest.approx(500)
    for fan_in, avg, sd in ((784, 0.0187, 0.5049), (500, 0.0293, 0.6321), (100, 0.1467, 1.4104)):
        a, d = init_moments(fan_in, s)
        assert a == pytest.approx(avg, abs=1e-4) and d == pytest.approx(sd, abs=1e-4)


def test_wald_phase_extension_statistics():
    rng = new_state(7, 99)
    x = np.floor([wald(rng, 2.0, 1.0) for _ in range(200_000)])
    assert x.mean() == pytest.approx(1.52, abs=0.02)
    assert np.median(x) == 1
    assert (x == 0).mean() == pytest.approx(0.49, abs=0.01)


@njit  # not cached: a disk cache would not notice a change in rng.py or the kernels
def _elementwise(f, x):
    out = np.empty(x.size)
    for i in range(x.size):
        out[i] = f(x[i])
    return out


def _logs(x):
    return _elementwise(log_positive, x)


def _sigmoids(v):
    return _elementwise(sigmoid_vec, v)


def test_spike_interval_log_matches_the_library_log():
    """The arithmetic log behind every Exp(1) draw, against NumPy's, over the whole double range."""
    g = np.random.default_rng(0)
    x = np.concatenate([1.0 - g.random(500_000), np.exp(g.uniform(-700.0, 700.0, 100_000)),
                        [1.0, 2.0 ** -53, 0.5, 1.0 - 2.0 ** -53, math.sqrt(2.0), math.sqrt(0.5), 2.0, 1e-300]])
    ref = np.log(x)
    ulps = np.abs(_logs(x) - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(float).tiny))
    assert ulps.max() <= 3.0
    assert _logs(np.array([1.0]))[0] == 0.0


def test_rate_sigmoid_matches_the_library_exp():
    """The arithmetic sigmoid behind every per-step rate, against 1 / (1 + exp(-v)) from NumPy."""
    g = np.random.default_rng(1)
    v = np.concatenate([np.linspace(-60.0, 60.0, 400_001), g.normal(2.5, 3.0, 100_000),
                        [0.0, -0.0, 1e-300, -1e-300, math.log(2.0) / 2, -math.log(2.0) / 2]])
    ref = 1.0 / (1.0 + np.exp(-v))
    assert np.max(np.abs(_sigmoids(v) - ref) / ref) < 5e-15
    assert _sigmoids(np.array([0.0]))[0] == 0.5
    # beyond +-60 the argument is clamped: flat to 1e-26, finite, no overflow
    far = _sigmoids(np.array([-1e300, -700.0, 700.0, 1e300]))
    assert np.all(np.isfinite(far)) and far[0] < 1e-26 and far[2] == 1.0


@njit  # not cached, as above
def _batched_draws(state, m):
    buf = np.empty(m)
    s0, s1, s2, s3 = fill_exponentials(buf, m, state[0], state[1], state[2], state[3])
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return buf


@njit
def _single_draws(state, m):
    out = np.empty(m)
    for i in range(m):
        out[i] = exponential(state)
    return out


def test_batched_spike_intervals_are_the_single_draws():
    """The spike loop's batches of Exp(1) draws: the same numbers, the same stream position."""
    a, b = new_state(3, 7), new_state(3, 7)
    for m in (0, 1, 5, 500, 3):
        assert np.array_equal(_batched_draws(a, m), _single_draws(b, m))
        assert np.array_equal(a, b)


def _constant_drive_trainer(mnist, **changes):
    """784-10 or 784-h-10 network with all weights zero: V_b equals the bias exactly."""
    spec = ModelSpec().replace(**changes)
    tr = Trainer(spec, mnist, seed=0, chunk=1)
    tr.net.w[:] = 0.0
    return tr


def test_output_soma_alternating_euler_approach(mnist):
    """Target phase with V_b constant: V_k - V* = (-0.7)^k (V_0 - V*), V* = 0.353 V_b +- 4.71."""
    from dendcore.kernels.spiking import make_sums, run_phase
    tr = _constant_drive_trainer(mnist, hidden=(), lr=(0.19,))
    vb = 1.3
    tr.net.b[tr.net.layer_slice(1)] = vb
    n = 30
    rec = np.zeros((n, 3, 10))
    sums = make_sums(tr.net.n_total, 1)
    label = 4
    va = np.zeros(tr.net.n_total, dtype=np.int64)
    run_phase(tr.net.layout, tr.prm, tr.kappa, tr.net.w, tr.net.b, tr.net.y, tr.net.c, tr.dyn, sums,
              np.zeros(784), n, label, 0, n, va, va, False, False, False, tr.rng_train, rec,
              np.arange(784, 794), 0)
    V = rec[:, 0, :]
    assert (0.6 * vb + 8) / 1.7 == pytest.approx(0.353 * vb + 4.71, abs=0.01)
    for cls in range(10):
        v_star = (0.6 * vb + (8.0 if cls == label else -8.0)) / 1.7
        k = np.arange(n)
        expected = v_star + (-0.7) ** (k + 1) * (0.0 - v_star)
        assert np.allclose(V[:, cls], expected, atol=1e-12)
        signs = np.sign(V[:12, cls] - v_star)
        assert np.all(signs[1:] == -signs[:-1])  # overshoots and alternates


def test_hidden_soma_steady_state_and_rate_mode_agree(mnist):
    """With constant V_b the hidden soma approaches k_b V_b geometrically (factor 0.3)."""
    from dendcore.kernels.spiking import make_sums, run_phase
    tr = _constant_drive_trainer(mnist, hidden=(5,))
    tr.net.b[:] = 2.0
    n = 40
    rec = np.zeros((n, 3, 5))
    sums = make_sums(tr.net.n_total, 2)
    va = np.zeros(tr.net.n_total, dtype=np.int64)
    run_phase(tr.net.layout, tr.prm, tr.kappa, tr.net.w, tr.net.b, tr.net.y, tr.net.c, tr.dyn, sums,
              np.zeros(784), n, -1, 0, n, va, va, False, False, False, tr.rng_train, rec,
              np.arange(784, 789), 0)
    k = np.arange(n)
    expected = tr.spec.k_b * 2.0 * (1 - 0.3 ** (k + 1))
    assert np.allclose(rec[:, 0, 0], expected, atol=1e-12)
    # rate mode is exactly the steady state
    from dendcore.evaluation import rate_forward_batch
    rates = rate_forward_batch(tr.net, tr.spec.replace(mode="rate"), np.zeros((1, 784), dtype=np.uint8))
    assert rates[1][0] == pytest.approx(tr.spec.phi_max / (1 + math.exp(-tr.spec.k_b * 2.0)))


def test_rate_mode_output_target_steady_state(mnist):
    from dendcore.kernels.train import rate_forward
    tr = _constant_drive_trainer(mnist, hidden=(), lr=(0.19,), mode="rate")
    tr.net.b[tr.net.layer_slice(1)] = -0.7
    v = np.zeros(tr.net.n_total)
    rate_forward(tr.net.layout, tr.prm, tr.net.y, tr.net.c, tr.net.w, tr.net.b, np.zeros(784), 2,
                 v, np.zeros_like(v), np.zeros_like(v), 8, 1)
    out = v[tr.net.layer_slice(1)]
    assert out[2] == pytest.approx(0.353 * -0.7 + 4.706, abs=2e-3)
    assert out[5] == pytest.approx(0.353 * -0.7 - 4.706, abs=2e-3)


def test_plateau_is_sigmoid_of_mean_apical_potential(small_trainer):
    """alpha = sigma(mean V_a over the window), checked against the recorded V_a trace."""
    from dendcore import Diagnostics
    tr = small_trainer(hidden=(30,))
    tr.diagnostics = Diagnostics(traces=True, plateau_samples=30, trace_neurons=30)
    tr._trace_idx = tr._pick_trace_neurons()
    tr._sample_idx = tr._trace_idx[:30]
    tr._rec = np.zeros((tr._rec.shape[0], 3, tr._trace_idx.size))
    stats = tr.train_examples(3, record_last=True)
    snap = tr.snapshot(stats)
    t = snap.traces
    va = np.array(t.V_a)
    for phase, alpha, (w0, w1) in (("f", snap.alpha_f[0], t.forward_window), ("t", snap.alpha_t[0], t.target_window)):
        expected = 1 / (1 + np.exp(-va[w0:w1, :30].mean(axis=0)))
        assert np.allclose(alpha, expected, rtol=1e-12), phase


def test_update_angle_equals_error_angle(small_trainer):
    """For one example, angle(dW_rule, dW_backprop) = angle(e_rule, e_backprop)."""
    a = small_trainer(hidden=(40,))
    b = small_trainer(hidden=(40,), rule="backprop")
    w0 = a.net.W(1).copy()
    sa = a.train_examples(1)
    sb = b.train_examples(1)
    dwa = a.net.W(1) - w0
    dwb = b.net.W(1) - w0
    assert np.array_equal(sa.indices, sb.indices)
    assert vector_angle_deg(dwa, dwb) == pytest.approx(sa.angle[0, 1], abs=1e-6)
    assert sb.angle[0, 1] == pytest.approx(0.0, abs=1e-5)


def test_symmetric_rate_feedback_points_along_backprop(small_trainer):
    tr = small_trainer(mode="rate", hidden=(100,), feedback="symmetric")
    tr.train_examples(300)
    stats = tr.train_examples(100)
    assert np.nanmean(stats.angle[:, 1]) < 30.0
    rnd = small_trainer(mode="rate", hidden=(100,))
    rnd.train_examples(300)
    assert np.nanmean(rnd.train_examples(100).angle[:, 1]) > np.nanmean(stats.angle[:, 1]) + 10


def test_spec_validation_names_the_field():
    for changes, name in (({"lr": (-0.1, 0.2)}, "lr"), ({"hidden": (0,)}, "hidden"), ({"g_a": 1.5}, "g_a"),
                          ({"g_a": -0.1}, "g_a"), ({"mode": "quantum"}, "mode"), ({"phi_max": 0.0}, "phi_max"),
                          ({"hidden": (500, 100, 50, 20)}, "hidden"), ({"feedback_scale": float("nan")}, "feedback_scale")):
        with pytest.raises(SpecError, match=f"^{name}:"):
            ModelSpec().replace(**changes)
    with pytest.raises(SpecError, match="unknown preset"):
        from dendcore import get_preset
        get_preset("nope")
    with pytest.raises(SpecError, match="unknown spec field"):
        ModelSpec().replace(gaa=1)


def test_spec_json_round_trip_and_set_syntax():
    s = ModelSpec().with_field_text("hidden=500,100").with_field_text("g_a=0.05").with_field_text("init=head")
    assert s.hidden == (500, 100) and s.lr == (0.23, 0.23, 0.12) and s.g_a == 0.05 and s.init == "head"
    assert ModelSpec.from_json(s.to_json()) == s
    with pytest.raises(SpecError, match="g_a: cannot read"):
        ModelSpec().with_field_text("g_a=abc")


def test_theorem1_weight_version_is_the_jacobian_one_at_the_steepest_slopes(small_trainer):
    """Every sigmoid slope at 1/4: the Jacobian version equals the weight version."""
    from dendcore.diagnostics import theorem1_eigenvalues
    tr = small_trainer(mode="rate")
    tr.train_examples(30)
    spec, net = tr.spec, tr.net
    jb = spec.phi_max * 0.25 * spec.k_d * net.W(net.n_layers)
    jg = np.full(net.Y(net.n_layers - 1).shape[0], 0.25)
    eig_j, eig_w = theorem1_eigenvalues(net, spec, jb, jg)
    assert abs(eig_j - eig_w) < 1e-12


def test_theorem1_averagings_agree_on_a_one_example_window(small_trainer):
    """One example in the window (rate mode, where the apical potential is Y times the output rate):
    the product of the means is the mean of the products."""
    tr = small_trainer(mode="rate", feedback_scale=1.3)
    snap = tr.snapshot(tr.train_examples(1))
    assert abs(snap.eig_jacobian - snap.eig_jacobian_paper) < 1e-12
    snap = tr.snapshot(tr.train_examples(99))    # a 100-example window: they differ, a little
    assert snap.eig_jacobian != snap.eig_jacobian_paper and abs(snap.eig_jacobian - snap.eig_jacobian_paper) < 0.2


def test_theorem1_eigenvalue_of_a_small_product():
    """(I - U)^T (I - U) for U = eps*A: about 1 - eps * (smallest eigenvalue of A + A^T)."""
    from dendcore.diagnostics import largest_eigenvalue_theorem1
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    eps = 1e-4
    expect = 1.0 - eps * np.linalg.eigvalsh(a + a.T)[0]
    assert abs(largest_eigenvalue_theorem1(eps * a) - expect) < 10 * eps**2 * np.linalg.norm(a) ** 2
    assert largest_eigenvalue_theorem1(eps * np.eye(6)) < 1.0           # pushes every direction along itself
    assert largest_eigenvalue_theorem1(np.zeros((6, 6))) == 1.0


def test_a_row_window_holds_what_a_bounded_deque_would():
    """Chunks shorter and longer than the window, and windows of one row, against a deque."""
    from collections import deque
    rng = np.random.default_rng(5)
    for length in (1, 7, 100):
        window, ref = RowWindow(length), deque(maxlen=length)
        assert len(window) == 0 and window.rows().size == 0
        for n in (3, 1, 0, 12, 250, 5, 99, 1, 100):
            rows = rng.normal(size=(n, 3))
            window.extend(rows)
            ref.extend(rows.copy())
            assert len(window) == len(ref)
            assert np.array_equal(window.rows(), np.array(ref).reshape(-1, 3))
        held = window.rows()
        held[:] = 0.0                                   # a caller's array, not the window's own
        assert np.array_equal(window.rows(), np.array(ref))


def test_row_sums_four_at_a_time_are_the_plain_sums_bit_for_bit():
    """The error back-projection sums rows four at a time; each row must still be summed in the
    plain order (a float sum depends on it), so the results equal a sequential sum exactly."""
    from dendcore.kernels.learning import _row_sums

    @njit
    def row_sums(M, v, v0, out, o0):
        _row_sums(M, v, v0, out, o0)

    rng = np.random.default_rng(5)
    for nr, nc in [(1, 1), (3, 7), (4, 10), (9, 100), (500, 100), (6, 0)]:
        # magnitudes spread over many decades, so a reordered sum would round differently
        M = rng.standard_normal((nr, nc)) * 10.0 ** rng.integers(-8, 8, (nr, nc))
        v = rng.standard_normal(nc + 3)
        out = np.full(nr + 2, np.nan)
        row_sums(M, v, 3, out, 2)
        expected = []
        for n in range(nr):
            acc = 0.0
            for m in range(nc):
                acc += float(M[n, m]) * float(v[3 + m])
            expected.append(acc)
        assert np.isnan(out[:2]).all()
        assert out[2:].tolist() == expected, (nr, nc)


def test_ring_slot_dots_four_at_a_time_are_the_plain_sums_bit_for_bit():
    """A weight update shifts the basal filter states by the dot of the input rates with each slot
    of the spike ring, four slots at a time; each dot must still be summed in the order of the
    inputs, so the results equal a sequential sum exactly, for every position of the ring."""
    from dendcore.kernels.spiking import _slot_dots

    @njit
    def slot_dots(hist, t_last, taps, v, lo, hi, out):
        _slot_dots(hist, t_last, taps, v, lo, hi, out)

    rng = np.random.default_rng(7)
    for taps, n, lo, hi in [(1, 5, 0, 5), (3, 9, 2, 9), (4, 30, 0, 30), (10, 1294, 0, 784), (10, 1294, 784, 1284),
                            (7, 40, 5, 5)]:
        hist = (rng.standard_normal((taps, n)) * 10.0 ** rng.integers(-6, 6, (taps, n))).astype(np.float32)
        v = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)
        for t_last in (0, taps - 1, taps + 3):
            out = np.full(taps, np.nan)
            slot_dots(hist, t_last, taps, v, lo, hi, out)
            expected = []
            for d in range(taps):
                r = (t_last - d) % taps
                acc = 0.0
                for i in range(lo, hi):
                    acc += float(v[i]) * float(hist[r, i])
                expected.append(acc)
            assert out.tolist() == expected, (taps, lo, hi, t_last)
