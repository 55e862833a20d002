"""The snapshot's window diagnostics as compiled loops that keep the GIL.

Unlike the training kernels these are compiled *without* ``nogil``, on purpose.  Their NumPy
versions (dendcore/diagnostics.py) are a few dozen whole-array operations on arrays of more than
500 elements, and NumPy lets the GIL go for each of those.  A thread that lets the GIL go while
another thread of the process runs Python (a server's event loop completing pages) waits up to
Python's switch interval, 5 ms, to get it back, so a snapshot cost a served training thread tens of
such waits (``python -m benchmarks.gil_contention``).  Done here, a snapshot's sums take well under
a millisecond and keep the GIL throughout: one call, no waits.

Sums run in time (or index) order; they differ from NumPy's pairwise and BLAS sums by rounding only
(tests/dendcore/test_window.py compares them with the NumPy versions).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def zero_block(jb, jg, jm, slot):
    jb[slot, :, :] = 0.0
    jg[slot, :] = 0.0
    jm[slot, :, :] = 0.0


@njit(cache=True, error_model="numpy")
def block_means(jb, jg, jm, slots, count):
    """The sum of the blocks in ``slots`` (in that order, as ``sum`` of them would add), over ``count``."""
    mb = np.zeros((jb.shape[1], jb.shape[2]))
    mg = np.zeros(jg.shape[1])
    mm = np.zeros((jm.shape[1], jm.shape[2]))
    for s in slots:
        mb += jb[s]
        mg += jg[s]
        mm += jm[s]
    return mb / count, mg / count, mm / count


@njit(cache=True, error_model="numpy")
def theorem1_products(jb_mean, jg_mean, jm_mean, y, feedback_scale, w_out, w_scale, y_scale):
    """The three n_out x n_out products whose Theorem-1 eigenvalue the snapshot reports.

    With Y the scaled feedback (``feedback_scale * y``): J_b diag(J_g) Y (the product of the means),
    (w_scale W_out)(y_scale Y) (every slope at its steepest) and jm Y (the mean of the products).
    """
    n_out, n_top = jb_mean.shape
    uj = np.zeros((n_out, n_out))
    uw = np.zeros((n_out, n_out))
    up = np.zeros((n_out, n_out))
    for o in range(n_out):
        for i in range(n_top):
            b = jb_mean[o, i]
            w = w_scale * w_out[o, i]
            m = jm_mean[o, i]
            g = jg_mean[i]
            for k in range(n_out):
                yk = feedback_scale * y[i, k]
                uj[o, k] += b * (g * yk)
                uw[o, k] += w * (y_scale * yk)
                up[o, k] += m * yk
    return uj, uw, up


@njit(cache=True, error_model="numpy")
def column_correlations(rows, count, start=0):
    """Pearson correlation of column 0 with each other column over ``count`` rows read from ``start``
    on, wrapping around (NaN where a column does not vary).  The order the rows are read in changes
    the last bits, so a ring passes its oldest row: copies of a run then agree bit for bit."""
    width = rows.shape[1]
    out = np.full(width - 1, np.nan)
    if count < 2:
        return out
    means = np.zeros(width)
    for i in range(count):
        r = (start + i) % rows.shape[0]
        for j in range(width):
            means[j] += rows[r, j]
    means /= count
    sxx = 0.0
    for i in range(count):
        r = (start + i) % rows.shape[0]
        d = rows[r, 0] - means[0]
        sxx += d * d
    for j in range(1, width):
        syy = 0.0
        sxy = 0.0
        for i in range(count):
            r = (start + i) % rows.shape[0]
            dx = rows[r, 0] - means[0]
            dy = rows[r, j] - means[j]
            syy += dy * dy
            sxy += dx * dy
        if sxx > 0.0 and syy > 0.0:
            out[j - 1] = min(1.0, max(-1.0, sxy / math.sqrt(sxx * syy)))
    return out


@njit(cache=True, error_model="numpy")
def column_nanmeans(rows, count, start=0):
    """The mean of each column over ``count`` rows read from ``start`` on, wrapping around, ignoring NaN
    (NaN where all are)."""
    width = rows.shape[1]
    sums = np.zeros(width)
    counts = np.zeros(width)
    for i in range(count):
        r = (start + i) % rows.shape[0]
        for j in range(width):
            v = rows[r, j]
            if not math.isnan(v):
                sums[j] += v
                counts[j] += 1.0
    out = np.full(width, np.nan)
    for j in range(width):
        if counts[j] > 0:
            out[j] = sums[j] / counts[j]
    return out


@njit(cache=True, error_model="numpy")
def angle_deg(a, b):
    """The angle in degrees between two equally shaped matrices read as vectors (NaN if one is zero)."""
    dot = 0.0
    na = 0.0
    nb = 0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            x = a[i, j]
            y = b[i, j]
            dot += x * y
            na += x * x
            nb += y * y
    if na == 0.0 or nb == 0.0:
        return np.nan
    c = dot / (math.sqrt(na) * math.sqrt(nb))
    return math.degrees(math.acos(min(1.0, max(-1.0, c))))
