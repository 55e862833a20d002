"""Every kernel against its readable NumPy twin (dendcore.reference), from the same state and streams."""
import numpy as np
import pytest

from dendcore.reference import ReferenceModel
from tests.conftest import rel_err

TOL = 1e-9

SPIKING_VARIANTS = [
    {},
    {"psp": "exact"},
    {"phases": "fixed", "window": "settle"},
    {"plateaus": "jittered"},
    {"g_a": 0.3},
    {"hidden": (30, 20)},
    {"hidden": (30, 20), "feedback_topology": "layerwise", "g_a": 0.05},
    {"hidden": (30, 20), "rule": "backprop"},
    {"rule": "feedback_alignment", "feedback": "sparse"},
    {"feedback": "noisy_symmetric"},
    {"feedback": "learned", "feedback_bias": True},
    {"hidden": (), "lr": (0.19,)},
    {"hidden": (20, 15, 12), "init": "head"},
]


def _twin_of(trainer):
    spec = trainer.spec
    twin = ReferenceModel(spec, trainer.net, budget=trainer.dyn.budget)
    return twin, trainer.rng_train.copy()


def _compare_networks(trainer, twin):
    net = trainer.net
    for j in range(1, net.n_layers + 1):
        assert rel_err(net.W(j), twin.W[j]) < TOL, f"W{j}"
        assert rel_err(net.bias(j), twin.b[j]) < TOL, f"b{j}"
        if j < net.n_layers:
            assert rel_err(net.Y(j), twin.Y[j]) < TOL, f"Y{j}"
        assert rel_err(trainer.dyn.V[net.layer_slice(j)], twin.V[j]) < TOL, f"V{j}"


@pytest.mark.parametrize("changes", SPIKING_VARIANTS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_spiking_training_matches_twin(small_trainer, mnist, changes):
    tr = small_trainer(**changes)
    twin, rng = _twin_of(tr)
    stats = tr.train_examples(3)
    for k, idx in enumerate(stats.indices):
        out = twin.train_example(mnist.train_images[idx], int(mnist.train_labels[idx]), rng)
        assert out["prediction"] == stats.pred[k]
        assert abs(out["losses"][tr.net.n_layers] - stats.loss[k, 0]) <= TOL * max(1.0, stats.loss[k, 0])
        for j in range(1, tr.net.n_layers):
            assert abs(out["losses"][j] - stats.loss[k, j]) <= TOL * max(1.0, stats.loss[k, j])
    _compare_networks(tr, twin)
    # the twin consumed exactly the kernel's random numbers
    assert np.array_equal(rng, tr.rng_train)
    # the spike budgets agree too, so the next spikes would be identical
    for j in range(1, tr.net.n_layers + 1):
        assert rel_err(tr.dyn.budget[tr.net.layer_slice(j)], twin.budget[j]) < TOL


@pytest.mark.parametrize("changes", [{}, {"g_a": 0.3}, {"hidden": (30, 20), "rule": "feedback_alignment"},
                                     {"hidden": (30, 20), "feedback": "symmetric", "feedback_topology": "layerwise"},
                                     {"feedback": "learned"}, {"hidden": (), "lr": (0.19,)}],
                         ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_rate_training_matches_twin(small_trainer, mnist, changes):
    tr = small_trainer(mode="rate", **changes)
    twin, rng = _twin_of(tr)
    stats = tr.train_examples(20)
    for k, idx in enumerate(stats.indices):
        out = twin.rate_train_example(mnist.train_images[idx], int(mnist.train_labels[idx]), rng)
        assert out["prediction"] == stats.pred[k]
    net = tr.net
    for j in range(1, net.n_layers + 1):
        assert rel_err(net.W(j), twin.W[j]) < TOL
        assert rel_err(net.bias(j), twin.b[j]) < TOL


@pytest.mark.parametrize("changes", [{}, {"psp": "exact", "g_a": 0.2}, {"hidden": (30, 20), "test_steps": 500,
                                                                          "test_window": "settle"}],
                         ids=["default", "exact-ga", "2hl-500"])
def test_spiking_test_phase_matches_twin(small_trainer, mnist, changes):
    from dendcore import rng as R
    tr = small_trainer(**changes)
    tr.train_examples(5)
    idx = np.array([3, 17, 256])
    res = tr.test(indices=idx)
    for k, i in enumerate(idx):
        twin = ReferenceModel(tr.spec, tr.net)
        rng = R.new_state(tr.seed, R.STREAM_TEST, int(i))
        scores = twin.test_image(mnist.test_images[i], rng)
        assert rel_err(res.scores[k], scores) < TOL


def test_rate_test_matches_twin(small_trainer, mnist):
    tr = small_trainer(mode="rate", hidden=(30, 20), g_a=0.1)
    tr.train_examples(50)
    idx = np.arange(40)
    res = tr.test(indices=idx)
    twin = ReferenceModel(tr.spec, tr.net)
    for k in idx:
        V, _, _ = twin.rate_phase(mnist.test_images[k] / 255.0, -1)
        assert rel_err(res.scores[k], V[-1]) < TOL


@pytest.mark.parametrize("psp", ["truncated", "exact"])
def test_rank_one_filter_updates_match_a_rebuild(small_trainer, psp):
    """The basal filter states carried through 200 updates equal a rebuild from the weights."""
    from dendcore.kernels.spiking import rebuild_projections
    tr = small_trainer(hidden=(30, 20), psp=psp)
    tr.train_examples(200)
    carried = [tr.dyn.proj.copy(), tr.dyn.pjl.copy(), tr.dyn.pjs.copy()]
    rebuild_projections(tr.net.layout, tr.prm, tr.kappa, tr.net.w, tr.dyn, psp == "exact")
    for a, b in zip(carried[1:], [tr.dyn.pjl, tr.dyn.pjs]):
        assert rel_err(a, b) < 1e-11
    if psp == "truncated":
        assert rel_err(carried[0], tr.dyn.proj) < 1e-11


@pytest.mark.parametrize("mode,n,changes", [("spiking", 3, {}), ("spiking", 3, {"hidden": (30, 20), "g_a": 0.3}),
                                            ("rate", 20, {}), ("rate", 20, {"hidden": (30, 20), "feedback_scale": 1.5}),
                                            ("rate", 20, {"feedback": "sparse", "g_a": 0.2})],
                         ids=["spiking", "spiking-2hl-ga", "rate", "rate-2hl-scale", "rate-sparse-ga"])
def test_theorem1_window_sums_match_twin(small_trainer, mnist, mode, n, changes):
    """The kernel's Theorem-1 window sums equal the twin's per-example Jacobians added up."""
    tr = small_trainer(mode=mode, **changes)
    twin, rng = _twin_of(tr)
    stats = tr.train_examples(n)
    step = twin.rate_train_example if mode == "rate" else twin.train_example
    terms = [step(mnist.train_images[i], int(mnist.train_labels[i]), rng)["theorem1"] for i in stats.indices]
    (count, jb, jg, jm), = tr._jac.blocks()
    assert count == n
    assert rel_err(jb, sum(t["j_beta"] for t in terms)) < TOL
    assert rel_err(jg, sum(t["apical_slopes"] for t in terms)) < TOL
    Y = tr.spec.feedback_scale * tr.net.Y(tr.net.n_layers - 1)
    assert rel_err(jm @ Y, sum(t["product"] for t in terms)) < TOL


def test_input_events_match_twin_and_an_overflow_draws_the_same_events(mnist):
    """The kernel's input spikes (counts per step and pixel) are the twin's, from the same stream;
    buffers too small for a phase's events leave the stream untouched, so the retry with more
    room draws exactly these events."""
    from dendcore import rng as R
    from dendcore.kernels.spiking import _fill_input_events, draw_input_events
    from dendcore.spec import ModelSpec
    x = mnist.train_images[7] / 255.0
    phi_max, n_steps = 0.2, 60
    state = R.new_state(3, R.STREAM_TRAIN)
    twin_state = state.copy()
    start, idx = draw_input_events(x, phi_max, n_steps, state)
    counts = np.zeros((n_steps, x.size))
    for k in range(n_steps):
        for i in idx[start[k]:start[k + 1]]:
            counts[k, i] += 1
    twin = object.__new__(ReferenceModel)
    twin.spec = ModelSpec(phi_max=phi_max)
    assert np.array_equal(counts, twin.input_spikes(x, n_steps, twin_state))
    assert np.array_equal(state, twin_state)
    assert idx.size > 100
    small = R.new_state(3, R.STREAM_TRAIN)
    before = small.copy()
    n = _fill_input_events(x, phi_max, n_steps, small, np.empty(idx.size // 2, dtype=np.int64),
                           np.empty(idx.size // 2, dtype=np.int64), np.zeros(n_steps + 1, dtype=np.int64))
    assert n == -1 and np.array_equal(small, before)
