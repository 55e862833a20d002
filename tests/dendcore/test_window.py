"""The snapshot's window diagnostics, compiled to keep the GIL (dendcore/kernels/window.py), against
their NumPy versions."""
from collections import deque

import numpy as np
import pytest

from dendcore.diagnostics import (JacobianWindow, RowWindow, forward_transpose_product, theorem1_eigenvalue_paper,
                                  theorem1_eigenvalues, vector_angle_deg)
from dendcore.kernels import window as held


def test_correlations_and_nan_means_equal_numpy_in_any_row_order():
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(300, 4))
    rows[:, 2] = 0.7 * rows[:, 0] + 0.1 * rows[:, 2]         # strongly correlated
    rows[:, 3] = 1.5                                         # constant: no correlation
    for count in (2, 10, 299, 300):
        got = held.column_correlations(rows, count)
        want = [np.corrcoef(rows[:count, 0], rows[:count, j])[0, 1] for j in (1, 2)]
        assert np.allclose(got[:2], want, rtol=0, atol=1e-12)
        assert np.isnan(got[2])
    assert np.allclose(held.column_correlations(rows[::-1].copy(), 300), held.column_correlations(rows, 300),
                       rtol=0, atol=1e-13, equal_nan=True)
    rolled = np.roll(rows, 37, axis=0)              # a ring whose oldest row is row 37: read in time order
    assert np.array_equal(held.column_correlations(rolled, 300, 37), held.column_correlations(rows, 300),
                          equal_nan=True)
    assert np.isnan(held.column_correlations(rows, 1)).all()

    angles = rng.uniform(0, 90, size=(120, 3))
    angles[rng.random(size=angles.shape) < 0.3] = np.nan
    angles[:, 2] = np.nan
    got = held.column_nanmeans(angles, 100)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanmean(angles[:100], axis=0)
    assert np.allclose(got[:2], want[:2], rtol=0, atol=1e-12) and np.isnan(got[2])


def test_a_row_window_reads_its_rows_in_place():
    w = RowWindow(50)
    assert w.ring()[1] == 0
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(130, 2))
    for part in np.split(rows, [7, 40, 41, 100]):
        w.extend(part)
    buf, count, oldest = w.ring()
    assert count == 50 and np.array_equal(np.roll(buf, -oldest, axis=0), rows[-50:])
    assert w.column_correlations()[0] == pytest.approx(np.corrcoef(rows[-50:, 0], rows[-50:, 1])[0, 1], abs=1e-12)


def _reference_blocks(pieces, chunk, window):
    """The trainer's former block keeping: a deque of (examples, sums), new blocks on chunk bounds."""
    blocks, seen = deque(), 0
    for n, values in pieces:
        if blocks and seen % chunk != 0:
            count, jb, jg, jm = blocks.pop()
        else:
            count, jb, jg, jm = 0, 0.0, 0.0, 0.0
        blocks.append((count + n, jb + values[0], jg + values[1], jm + values[2]))
        seen += n
        while sum(b[0] for b in blocks) - blocks[0][0] >= window:
            blocks.popleft()
    return blocks


@pytest.mark.parametrize("chunk,window", [(50, 100), (50, 1000), (7, 20), (100, 30), (1, 1)])
def test_jacobian_window_keeps_the_blocks_the_trainer_kept(chunk, window):
    rng = np.random.default_rng(chunk + window)
    win = JacobianWindow(3, 4, window, chunk)
    slots = win._jg.shape[0]
    pieces, seen = [], 0
    for _ in range(120):
        n = int(min(rng.integers(1, 3 * chunk + 1), chunk - seen % chunk))     # pieces end on chunk bounds
        values = (rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(3, 4)))
        jb, jg, jm = win.open(continuing=seen % chunk != 0)
        jb += values[0]
        jg += values[1]
        jm += values[2]
        win.close(n)
        pieces.append((n, values))
        seen += n
        ref = _reference_blocks(pieces, chunk, window)
        got = win.blocks()
        assert [b[0] for b in got] == [b[0] for b in ref]
        for g, r in zip(got, ref):
            for k in (1, 2, 3):
                assert np.array_equal(g[k], r[k])
        count = sum(b[0] for b in ref)
        means = win.means()
        for k in (1, 2, 3):
            assert np.array_equal(means[k - 1], sum(b[k] for b in ref) / count)     # same order, same bits
    assert win._jg.shape[0] == slots                  # the preallocated slots were enough


def test_a_chunk_that_fails_leaves_its_block_out():
    win = JacobianWindow(2, 2, 100, 10)
    jb, jg, jm = win.open(continuing=False)
    jb += 1.0
    win.close(4)
    win.open(continuing=True)[0][:] += 5.0             # this chunk diverges: no close
    assert win.blocks() == [] and not win
    jb, _, _ = win.open(continuing=False)
    assert np.array_equal(jb, np.zeros((2, 2)))        # a reused slot starts from zero


@pytest.mark.parametrize("mode,changes", [("rate", {}), ("rate", {"hidden": (30, 20), "feedback_scale": 1.4}),
                                          ("spiking", {}), ("rate", {"feedback": "sparse", "g_a": 0.2})],
                         ids=["rate", "rate-2hl", "spiking", "rate-sparse"])
def test_a_snapshots_window_diagnostics_equal_the_numpy_versions(small_trainer, mode, changes):
    tr = small_trainer(mode=mode, **changes)
    n = 20 if mode == "spiking" else 230
    for part in (n // 3, n - n // 3):                 # two calls, so blocks continue and leave the window
        stats = tr.train_examples(part)
    snap = tr.snapshot(stats)
    net, spec, L = tr.net, tr.spec, tr.net.n_layers
    h = tr._loss_hist.rows()
    assert snap.loss_correlation == pytest.approx([np.corrcoef(h[:, 0], h[:, j])[0, 1] for j in range(1, L)],
                                                  abs=1e-12)
    with np.errstate(all="ignore"):
        assert snap.angle_to_backprop_deg == pytest.approx(list(np.nanmean(tr._angles.rows(), axis=0)), abs=1e-10)
    assert snap.weight_angle_deg == pytest.approx(
        [vector_angle_deg(net.Y(j), forward_transpose_product(net, j)) for j in range(1, L)], abs=1e-9)
    blocks = tr._jac.blocks()
    count = sum(b[0] for b in blocks)
    jb, jg, jm = (sum(b[k] for b in blocks) / count for k in (1, 2, 3))
    eig_j, eig_w = theorem1_eigenvalues(net, spec, jb, jg)
    eig_p = theorem1_eigenvalue_paper(net, spec, jm)
    if np.isnan(eig_j):
        assert np.isnan(snap.eig_jacobian) and np.isnan(snap.eig_weights) and np.isnan(snap.eig_jacobian_paper)
    else:
        assert snap.eig_jacobian == pytest.approx(eig_j, rel=1e-11)
        assert snap.eig_weights == pytest.approx(eig_w, rel=1e-11)
        assert snap.eig_jacobian_paper == pytest.approx(eig_p, rel=1e-11)
