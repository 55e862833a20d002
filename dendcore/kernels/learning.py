"""Error vectors, weight updates and feedback maintenance (both modes).

Everything works on *phase means* (MODEL.md section 3), so the spiking and the
rate chunks share it.  Mean arrays are indexed like neurons (see layout).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..rng import normal
from .layout import FB_SCALE, G_A, G_B, G_D, G_L, P_HID, P_OUT, PHI_MAX, RULE_BACKPROP, RULE_FA
from .spiking import FAST, ordered_dot, ordered_dots4, sigmoid, sigmoid_vec

# Means = (Vf, phif, sf, alpha_f, alpha_t, phit, vaf), all neuron-indexed.


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def dsigmoid(v):
    s = sigmoid(v)
    return s * (1.0 - s)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _row_sums(M, v, v0, out, o0):
    """out[o0 + n] = M[n, 0] v[v0] + M[n, 1] v[v0 + 1] + ..., four rows at a time, each summed in
    this order (:func:`ordered_dots4`; 500 rows of 100, cache-hot: 34 -> 14 us; benchmarks/README.md,
    2026-12-05)."""
    nr, nc = M.shape
    n = 0
    while n + 4 <= nr:
        s0, s1, s2, s3 = ordered_dots4(M, n, n + 1, n + 2, n + 3, 0, v, v0, nc)
        out[o0 + n] = s0
        out[o0 + n + 1] = s1
        out[o0 + n + 2] = s2
        out[o0 + n + 3] = s3
        n += 4
    while n < nr:
        out[o0 + n] = ordered_dot(M, n, 0, v, v0, nc)
        n += 1


@njit(cache=True, nogil=True, error_model="numpy")
def compute_errors(lay, prm, w, y, vf, alpha_f, alpha_t, phit, rule, e, ebp, losses):
    """Fill ``e`` (the rule's error) and ``ebp`` (backprop's) and the layer losses.

    losses[0] = L_out, losses[j] = L_j for hidden layer j.
    """
    sizes, noff, woff, yoff, fsrc = lay.sizes, lay.noff, lay.woff, lay.yoff, lay.fsrc
    L = sizes.size - 1
    phi_max = prm[PHI_MAX]
    g_l, g_b, g_a, g_d = prm[G_L], prm[G_B], prm[G_A], prm[G_D]
    k_b = g_b / (g_l + g_b + g_a)
    k_d = g_d / (g_l + g_d)
    lo, hi = noff[L], noff[L + 1]
    loss = 0.0
    for g in range(lo, hi):
        diff = phit[g] - phi_max * sigmoid(vf[g])
        loss += diff * diff
        e[g] = -k_d * phi_max * dsigmoid(vf[g]) * diff
        ebp[g] = e[g]
    losses[0] = loss
    for j in range(L - 1, 0, -1):
        lo, hi = noff[j], noff[j + 1]
        nj = hi - lo
        n_up = sizes[j + 1]
        WT_up = w[woff[j + 1]:woff[j + 1] + nj * n_up].reshape((nj, n_up))
        # the sums first, each then scaled by its neuron's slope; both read only layers above j
        _row_sums(WT_up, ebp, noff[j + 1], ebp, lo)
        if rule == RULE_FA:
            s = fsrc[j]
            Y = y[yoff[j]:yoff[j] + nj * sizes[s]].reshape((nj, sizes[s]))
            _row_sums(Y, e, noff[s], e, lo)
        loss = 0.0
        for n in range(nj):
            g = lo + n
            slope = k_b * phi_max * dsigmoid(vf[g])
            ebp[g] = ebp[g] * slope
            d = alpha_t[g] - alpha_f[g]
            loss += d * d
            if rule == RULE_BACKPROP:
                e[g] = ebp[g]
            elif rule == RULE_FA:
                e[g] = prm[FB_SCALE] * e[g] * slope
            else:
                e[g] = -slope * d
        losses[j] = loss


@njit(cache=True, nogil=True, error_model="numpy")
def check_finite(lay, e, sf, lr, prm):
    """0 when the update is safe to apply, else the lowest offending layer (1..L).

    Bottom up, because a non-finite value spreads upwards: the lowest layer
    that has one is where it started.
    """
    sizes, noff = lay.sizes, lay.noff
    L = sizes.size - 1
    for j in range(1, L + 1):
        emax = 0.0
        for g in range(noff[j], noff[j + 1]):
            if not math.isfinite(e[g]):
                return j
            emax = max(emax, abs(e[g]))
        smax = 0.0
        for g in range(noff[j - 1], noff[j]):
            if not math.isfinite(sf[g]):
                return j
            smax = max(smax, abs(sf[g]))
        p = prm[P_OUT] if j == L else prm[P_HID]
        if lr[j - 1] * p * emax * max(smax, 1.0) > 1e100:
            return j
    return 0


@njit(cache=True, nogil=True, error_model="numpy")
def apply_updates(lay, prm, w, b, e, sf, lr, ws, bs, mirror):
    """W_j <- W_j - lr_j P e_j sf_{j-1}^T; only presynaptic neurons with sf != 0 cost work.

    With ``mirror`` the simulation's copies ``ws``/``bs`` (float32) receive every changed
    weight rounded from the float64 one in the same pass, so they always equal the float64
    weights rounded, however the run is cut into chunks: the weights learn in float64 (a
    float32 weight would drop updates below its last place) and only the simulation reads
    the rounded copy.
    """
    sizes, noff, woff = lay.sizes, lay.noff, lay.woff
    L = sizes.size - 1
    for j in range(1, L + 1):
        lo, hi = noff[j], noff[j + 1]
        nj = hi - lo
        plo = noff[j - 1]
        n_below = sizes[j - 1]
        p = prm[P_OUT] if j == L else prm[P_HID]
        step = lr[j - 1] * p
        # flat unsigned offsets: a row view per input would cost an atomic reference-count pair
        unj = np.uint64(nj)
        ulo = np.uint64(lo)
        for i in range(n_below):
            s = sf[plo + i]
            if s == 0.0:
                continue
            f = step * s
            row = np.uint64(woff[j] + i * nj)
            for n in range(unj):
                w[row + n] -= f * e[ulo + n]
            if mirror:
                # a loop of its own: written in the loop above, the float32 store kept LLVM
                # from vectorising it (measured: a scalar loop, twice the time of both)
                for n in range(unj):
                    ws[row + n] = w[row + n]
        for n in range(nj):
            b[lo + n] -= step * e[lo + n]
            if mirror:
                bs[lo + n] = b[lo + n]


@njit(cache=True, nogil=True, error_model="numpy")
def rebuild_symmetric(lay, w, y, noise_sd, rng):
    """Y_j = W_{j+1}^T ... W_L^T (broadcast) or W_{j+1}^T (layerwise), plus optional noise."""
    sizes, woff, yoff, fsrc = lay.sizes, lay.woff, lay.yoff, lay.fsrc
    L = sizes.size - 1
    for j in range(L - 1, 0, -1):
        nj = sizes[j]
        s = fsrc[j]
        ns = sizes[s]
        Y = y[yoff[j]:yoff[j] + nj * ns].reshape((nj, ns))
        WT_up = w[woff[j + 1]:woff[j + 1] + nj * sizes[j + 1]].reshape((nj, sizes[j + 1]))
        if s == j + 1:
            Y[:, :] = WT_up
        else:
            # clean product of the layer above (before its own noise is added)
            Yup = np.ascontiguousarray(WT_up)
            for q in range(j + 1, L):
                WTq = w[woff[q + 1]:woff[q + 1] + sizes[q] * sizes[q + 1]].reshape((sizes[q], sizes[q + 1]))
                Yup = Yup @ np.ascontiguousarray(WTq)
            Y[:, :] = Yup
    if noise_sd > 0.0:
        for j in range(1, L):
            nj = sizes[j]
            ns = sizes[fsrc[j]]
            Y = y[yoff[j]:yoff[j] + nj * ns].reshape((nj, ns))
            for n in range(nj):
                for m in range(ns):
                    Y[n, m] += noise_sd * normal(rng)


@njit(cache=True, nogil=True, error_model="numpy")
def learn_feedback(lay, prm, y, vf, vaf, alpha_f, sf, eta):
    """Learned feedback: e_inv = -s'(Va_f) (phi_max s(V_f) - alpha_f); Y <- Y - eta e_inv sf_src^T."""
    sizes, noff, yoff, fsrc = lay.sizes, lay.noff, lay.yoff, lay.fsrc
    L = sizes.size - 1
    phi_max = prm[PHI_MAX]
    for j in range(1, L):
        nj = sizes[j]
        s = fsrc[j]
        ns = sizes[s]
        Y = y[yoff[j]:yoff[j] + nj * ns].reshape((nj, ns))
        for n in range(nj):
            g = noff[j] + n
            e_inv = -dsigmoid(vaf[g]) * (phi_max * sigmoid(vf[g]) - alpha_f[g])
            for m in range(ns):
                Y[n, m] -= eta * e_inv * sf[noff[s] + m]


@njit(cache=True, nogil=True, error_model="numpy")
def angle_deg(a, b):
    dot = 0.0
    na = 0.0
    nb = 0.0
    for i in range(a.size):
        dot += a[i] * b[i]
        na += a[i] * a[i]
        nb += b[i] * b[i]
    if na == 0.0 or nb == 0.0:
        return math.nan
    c = dot / math.sqrt(na * nb)
    c = min(1.0, max(-1.0, c))
    return math.degrees(math.acos(c))


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FAST)
def accumulate_jacobians(lay, prm, w, y, c, vf, vaf, jb, jg, jm):
    """One example's terms of the Theorem-1 matrices of the top hidden layer, added to window sums.

    With a_i = k_d phi_max s'(V_out_i) (the output's slope, V_out the forward-phase mean soma):
      jb[i, m] += a_i W_im            J_beta, for the product of the window means
      jg[m]    += s'(V_a_m)           J_gamma's slopes at the mean apical potential, same
      jm[i, m] += a_i W_im s'(u_m)    J_beta diag(s'(u)) for the mean of per-example products, with
                                      u = feedback_scale Y phi_max s(V_out) + c: the apical potential that
                                      the output's rate phi_max s(V_out) would give (the 2017 code's J_gamma;
                                      in rate mode u equals V_a).
    The snapshot multiplies by Y (fixed between examples unless the feedback learns or is symmetric).
    """
    sizes, noff, woff, yoff = lay.sizes, lay.noff, lay.woff, lay.yoff
    L = sizes.size - 1
    if L < 2:
        return
    n_top = sizes[L - 1]
    n_out = sizes[L]
    phi_max = prm[PHI_MAX]
    scale = prm[FB_SCALE]
    k_d = prm[G_D] / (prm[G_L] + prm[G_D])
    WT = w[woff[L]:woff[L] + n_top * n_out].reshape((n_top, n_out))
    Y = y[yoff[L - 1]:yoff[L - 1] + n_top * n_out].reshape((n_top, n_out))
    a = np.empty(n_out)
    r = np.empty(n_out)
    for i in range(n_out):
        v = vf[noff[L] + i]
        a[i] = k_d * phi_max * dsigmoid(v)
        r[i] = phi_max * sigmoid(v)
    # the hidden layer's slopes in loops that vectorise (sigmoid_vec, within 5e-15 of the library's
    # exp, which was called twice per neuron: 10.8 -> 6.1 us per 784-500-10 example)
    lo = noff[L - 1]
    du = np.empty(n_top)
    for m in range(n_top):
        s = sigmoid_vec(vaf[lo + m])
        jg[m] += s * (1.0 - s)
    for m in range(n_top):
        u = 0.0
        for i in range(n_out):
            u += Y[m, i] * r[i]
        du[m] = scale * u + c[lo + m]
    for m in range(n_top):
        s = sigmoid_vec(du[m])
        du[m] = s * (1.0 - s)
    for i in range(n_out):
        for m in range(n_top):
            t = a[i] * WT[m, i]
            jb[i, m] += t
            jm[i, m] += t * du[m]
