"""Chunk drivers: train on several examples per call, test many images per call.

One call covers a chunk of examples so the Python loop (progress, streaming,
cancellation) costs nothing per example, while everything an example needs
(phases, learning, feedback upkeep, diagnostics) stays compiled.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange

from ..rng import normal, seed_state, wald
from .layout import FB_SCALE, G_A, G_B, G_D, G_L, E_EXC, E_INH, PHI_MAX
from .learning import (accumulate_jacobians, angle_deg, apply_updates, check_finite, compute_errors,
                       learn_feedback, rebuild_symmetric)
from .spiking import (make_dynamics, make_sums, rebuild_projections, reset_dynamics, run_phase, shift_projections,
                      sigmoid)

# neuron-indexed phase means of the latest example
Means = namedtuple("Means", "vf phif sf alpha_f alpha_t phit vaf vat e ebp")
# knobs for one chunk (ints/floats only, so numba sees one fixed type)
Options = namedtuple("Options", "random_phases base_steps wald_mean wald_scale settle window_steps use_settle "
                     "jitter_sd jitter_max exact rule feedback_mode noise_sd feedback_lr want_angles")
# per-example outputs of a chunk
Outputs = namedtuple("Outputs", "loss pred angle alpha flag lengths")

FEEDBACK_FIXED, FEEDBACK_SYMMETRIC, FEEDBACK_LEARNED = 0, 1, 2
MAX_EXTRA_STEPS = 1000  # Wald tail cap: P(floor(W) > 1000) is below 1e-50
REBUILD_EVERY = 256


def new_means(n_total: int) -> Means:
    return Means(*(np.zeros(n_total) for _ in Means._fields))


def new_outputs(n: int, n_layers: int, n_samp: int) -> Outputs:
    # alpha is written for every example trained (and read for no other); np.zeros of its size would
    # let the GIL go around its calloc, which costs a served training thread a switch interval
    return Outputs(np.zeros((n, n_layers + 1)), np.zeros(n, dtype=np.int64),
                   np.full((n, n_layers + 1), np.nan), np.empty((n, 2, n_samp)),
                   np.zeros(n, dtype=np.int64), np.zeros((n, 2), dtype=np.int64))


@njit(cache=True, nogil=True, error_model="numpy")
def _phase_length(opt, rng):
    if opt.random_phases:
        extra = math.floor(wald(rng, opt.wald_mean, opt.wald_scale))
        return opt.base_steps + int(min(extra, MAX_EXTRA_STEPS))
    return opt.base_steps


@njit(cache=True, nogil=True, error_model="numpy")
def _window(opt, n_steps):
    if opt.use_settle:
        return opt.settle, n_steps
    return n_steps - opt.window_steps, n_steps


@njit(cache=True, nogil=True, error_model="numpy")
def _plateau_windows(lay, opt, n_steps, rng, va_w0, va_w1):
    """Each hidden neuron's apical window; jittered plateaus end up to jitter_max steps early."""
    w0, w1 = _window(opt, n_steps)
    for g in range(lay.noff[1], lay.noff[lay.sizes.size - 1]):
        d = 0
        if opt.jitter_sd > 0.0:
            d = int(min(abs(round(opt.jitter_sd * normal(rng))), opt.jitter_max))
        va_w1[g] = w1 - d
        va_w0[g] = (w0 if opt.use_settle else w0 - d)


@njit(cache=True, nogil=True, error_model="numpy")
def _clear(sums):
    sums.v[:] = 0.0
    sums.phi[:] = 0.0
    sums.psp[:] = 0.0
    sums.fb[:] = 0.0
    sums.va[:] = 0.0
    sums.va_n[:] = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _apical_means(lay, prm, y, c, sums, nw, need_va, out):
    """Mean apical potential of every hidden neuron over its window."""
    sizes, noff, yoff, fsrc = lay.sizes, lay.noff, lay.yoff, lay.fsrc
    L = sizes.size - 1
    va, va_n, fb = sums.va, sums.va_n, sums.fb  # tuple fields bound once (see run_phase)
    for j in range(1, L):
        nj = sizes[j]
        s = fsrc[j]
        ns = sizes[s]
        Y = y[yoff[j]:yoff[j] + nj * ns].reshape((nj, ns))
        for n in range(nj):
            g = noff[j] + n
            if need_va:
                out[g] = va[g] / va_n[g]
            else:
                acc = 0.0
                for m in range(ns):
                    acc += Y[n, m] * fb[noff[s] + m]
                out[g] = prm[FB_SCALE] * acc / nw + c[g]


@njit(cache=True, nogil=True, error_model="numpy")
def _finish_example(lay, prm, w, b, y, c, mn, opt, lr, rng, losses, jb, jg, jm, want_jac, ws, bs, mirror):
    """Errors, safety check, updates and feedback upkeep; returns the divergence code.

    ``ws``/``bs`` are the weights the simulation reads (see :func:`apply_updates`)."""
    compute_errors(lay, prm, w, y, mn.vf, mn.alpha_f, mn.alpha_t, mn.phit, opt.rule, mn.e, mn.ebp, losses)
    bad = check_finite(lay, mn.e, mn.sf, lr, prm)
    if bad != 0:
        return bad
    if want_jac:
        accumulate_jacobians(lay, prm, w, y, c, mn.vf, mn.vaf, jb, jg, jm)
    apply_updates(lay, prm, w, b, mn.e, mn.sf, lr, ws, bs, mirror)
    if opt.feedback_mode == FEEDBACK_SYMMETRIC:
        rebuild_symmetric(lay, w, y, opt.noise_sd, rng)
    elif opt.feedback_mode == FEEDBACK_LEARNED:
        learn_feedback(lay, prm, y, mn.vf, mn.vaf, mn.alpha_f, mn.sf, opt.feedback_lr)
    return 0


@njit(cache=True, nogil=True, error_model="numpy")
def _record_outputs(lay, mn, ex, out, samp_idx, losses, opt):
    sizes, noff = lay.sizes, lay.noff
    L = sizes.size - 1
    for j in range(L):
        out.loss[ex, j] = losses[j]
    best = noff[L]
    for g in range(noff[L], noff[L + 1]):
        if mn.vf[g] > mn.vf[best]:
            best = g
    out.pred[ex] = best - noff[L]
    if opt.want_angles:
        for j in range(1, L):
            out.angle[ex, j] = angle_deg(mn.e[noff[j]:noff[j + 1]], mn.ebp[noff[j]:noff[j + 1]])
    for m in range(samp_idx.size):
        out.alpha[ex, 0, m] = mn.alpha_f[samp_idx[m]]
        out.alpha[ex, 1, m] = mn.alpha_t[samp_idx[m]]


@njit(cache=True, nogil=True, error_model="numpy")
def train_chunk_spiking(lay, prm, kappa, w, b, y, c, dyn, sums_f, sums_t, mn, images, labels, order,
                        opt, lr, rng, out, samp_idx, jb, jg, jm, want_jac, rec, rec_idx, va_w0, va_w1, first,
                        ws, bs):
    """Train on images[order[k]] for each k; returns how many examples completed.

    The simulation reads the weights ``ws``/``bs``: ``w``/``b`` themselves in float64, else their
    float32 copies, which learning keeps equal to the float64 weights rounded.

    ``first`` is the run's count of examples before this chunk: the basal
    filter states follow each weight update by a rank-one correction and are
    rebuilt from scratch every REBUILD_EVERY examples of the run (never
    depending on how the run is cut into chunks), which bounds rounding drift.
    """
    sizes, noff = lay.sizes, lay.noff
    L = sizes.size - 1
    n_in = sizes[0]
    need_va_base = prm[G_A] > 0.0 or opt.jitter_sd > 0.0
    mirror = ws.itemsize != w.itemsize
    x = np.empty(n_in)
    losses = np.zeros(L)
    for ex in range(order.size):
        img = images[order[ex]]
        for i in range(n_in):
            x[i] = img[i] / 255.0
        label = labels[order[ex]]
        # recording computes V_a for the plot only; it must not change the numbers
        recording = rec_idx.size > 0 and ex == order.size - 1
        need_va = need_va_base
        if (first + ex) % REBUILD_EVERY == 0:
            rebuild_projections(lay, prm, kappa, ws, dyn, opt.exact)

        lf = _phase_length(opt, rng)
        lt = _phase_length(opt, rng)
        out.lengths[ex, 0] = lf
        out.lengths[ex, 1] = lt
        # forward phase
        _clear(sums_f)
        w0, w1 = _window(opt, lf)
        _plateau_windows(lay, opt, lf, rng, va_w0, va_w1)
        run_phase(lay, prm, kappa, ws, bs, y, c, dyn, sums_f, x, lf, -1, w0, w1, va_w0, va_w1,
                  True, opt.exact, need_va, rng, rec, rec_idx, 0 if recording else -1)
        nw_f = w1 - w0
        # target phase
        _clear(sums_t)
        u0, u1 = _window(opt, lt)
        _plateau_windows(lay, opt, lt, rng, va_w0, va_w1)
        run_phase(lay, prm, kappa, ws, bs, y, c, dyn, sums_t, x, lt, label, u0, u1, va_w0, va_w1,
                  True, opt.exact, need_va, rng, rec, rec_idx, lf if recording else -1)
        nw_t = u1 - u0

        vf, phif, sf, phit = mn.vf, mn.phif, mn.sf, mn.phit
        fv, fphi, fpsp, tphi = sums_f.v, sums_f.phi, sums_f.psp, sums_t.phi
        for g in range(noff[L + 1]):
            vf[g] = fv[g] / nw_f
            phif[g] = fphi[g] / nw_f
            sf[g] = fpsp[g] / nw_f
            phit[g] = tphi[g] / nw_t
        _apical_means(lay, prm, y, c, sums_f, nw_f, need_va, mn.vaf)
        _apical_means(lay, prm, y, c, sums_t, nw_t, need_va, mn.vat)
        alpha_f, alpha_t, vaf, vat = mn.alpha_f, mn.alpha_t, mn.vaf, mn.vat
        for g in range(noff[1], noff[L]):
            alpha_f[g] = sigmoid(vaf[g])
            alpha_t[g] = sigmoid(vat[g])

        bad = _finish_example(lay, prm, w, b, y, c, mn, opt, lr, rng, losses, jb, jg, jm, want_jac, ws, bs, mirror)
        _record_outputs(lay, mn, ex, out, samp_idx, losses, opt)
        if bad != 0:
            out.flag[ex] = bad
            return ex
        shift_projections(lay, prm, kappa, dyn, mn.e, mn.sf, lr, opt.exact)
    return order.size


@njit(cache=True, nogil=True, error_model="numpy")
def rate_forward(lay, prm, y, c, w, b, x, label, v, phi, va, n_iter, first_layer):
    """Steady state of one phase in rate mode, writing V, rates and V_a (neuron-indexed).

    label < 0: forward phase; label >= 0: the output soma sits at its conductance
    steady state under the teaching current.  With g_a > 0 the apical term feeds
    back into the soma, so the pass is repeated ``n_iter`` times (fixed point).
    Layers below ``first_layer`` are taken as already in ``v``/``phi`` (with
    g_a = 0 the teaching current cannot reach the hidden somata).
    """
    sizes, noff, woff, yoff, fsrc = lay.sizes, lay.noff, lay.woff, lay.yoff, lay.fsrc
    L = sizes.size - 1
    g_l, g_b, g_a, g_d = prm[G_L], prm[G_B], prm[G_A], prm[G_D]
    phi_max, scale = prm[PHI_MAX], prm[FB_SCALE]
    k_b = g_b / (g_l + g_b + g_a)
    k_a = g_a / (g_l + g_b + g_a)
    k_d = g_d / (g_l + g_d)
    if first_layer == 1:
        for i in range(sizes[0]):
            phi[i] = phi_max * x[i]
    passes = 1 if g_a == 0.0 else n_iter
    for it in range(passes):
        for j in range(first_layer, L + 1):
            lo, hi = noff[j], noff[j + 1]
            nj = hi - lo
            plo = noff[j - 1]
            WT = w[woff[j]:woff[j] + sizes[j - 1] * nj].reshape((sizes[j - 1], nj))
            vb = b[lo:hi].copy()
            for i in range(sizes[j - 1]):
                p = phi[plo + i]
                if p == 0.0:
                    continue
                row = WT[i]
                for n in range(nj):
                    vb[n] += p * row[n]
            for n in range(nj):
                g = lo + n
                if j < L:
                    vv = k_b * vb[n]
                    if it > 0:
                        vv += k_a * va[g]
                elif label < 0:
                    vv = k_d * vb[n]
                else:
                    if n == label:
                        vv = (g_d * vb[n] + prm[E_EXC]) / (g_l + g_d + 1.0)
                    else:
                        vv = (g_d * vb[n] + prm[E_INH]) / (g_l + g_d + 1.0)
                v[g] = vv
                phi[g] = phi_max * sigmoid(vv)
        for j in range(1, L):
            nj = sizes[j]
            s = fsrc[j]
            ns = sizes[s]
            Y = y[yoff[j]:yoff[j] + nj * ns].reshape((nj, ns))
            for n in range(nj):
                acc = 0.0
                for m in range(ns):
                    acc += Y[n, m] * phi[noff[s] + m]
                va[noff[j] + n] = scale * acc + c[noff[j] + n]


@njit(cache=True, nogil=True, error_model="numpy")
def train_chunk_rate(lay, prm, w, b, y, c, mn, images, labels, order, opt, lr, rng, out, samp_idx,
                     jb, jg, jm, want_jac, n_iter, v_t, phi_t):
    sizes, noff = lay.sizes, lay.noff
    L = sizes.size - 1
    n_in = sizes[0]
    x = np.empty(n_in)
    losses = np.zeros(L)
    for ex in range(order.size):
        img = images[order[ex]]
        for i in range(n_in):
            x[i] = img[i] / 255.0
        label = labels[order[ex]]
        rate_forward(lay, prm, y, c, w, b, x, -1, mn.vf, mn.phif, mn.vaf, n_iter, 1)
        if prm[G_A] == 0.0:
            v_t[:noff[L]] = mn.vf[:noff[L]]
            phi_t[:noff[L]] = mn.phif[:noff[L]]
            rate_forward(lay, prm, y, c, w, b, x, label, v_t, phi_t, mn.vat, n_iter, L)
        else:
            rate_forward(lay, prm, y, c, w, b, x, label, v_t, phi_t, mn.vat, n_iter, 1)
        for g in range(noff[L + 1]):
            mn.sf[g] = mn.phif[g]
            mn.phit[g] = phi_t[g]
        for g in range(noff[1], noff[L]):
            mn.alpha_f[g] = sigmoid(mn.vaf[g])
            mn.alpha_t[g] = sigmoid(mn.vat[g])
        bad = _finish_example(lay, prm, w, b, y, c, mn, opt, lr, rng, losses, jb, jg, jm, want_jac, w, b, False)
        _record_outputs(lay, mn, ex, out, samp_idx, losses, opt)
        out.lengths[ex, 0] = 0
        out.lengths[ex, 1] = 0
        if bad != 0:
            out.flag[ex] = bad
            return ex
    return order.size


# a test's images are split into this many blocks over the threads (more blocks than any
# machine's threads, so they even out)
TEST_BLOCKS = 64


@njit(cache=True, nogil=True, error_model="numpy")
def test_one_spiking(lay, prm, kappa, w, b, y, c, dyn, sums, x, n_steps, w0, exact, rng, va_w0, va_w1, scores):
    """Fresh state, one forward phase; scores = mean output voltage from step w0 on."""
    reset_dynamics(dyn, rng, lay.sizes[0])
    dyn.clock[0] = 0
    sums.v[:] = 0.0
    sums.phi[:] = 0.0
    need_va = prm[G_A] > 0.0
    run_phase(lay, prm, kappa, w, b, y, c, dyn, sums, x, n_steps, -1, w0, n_steps, va_w0, va_w1,
              False, exact, need_va, rng, np.zeros((1, 3, 1)), np.zeros(0, dtype=np.int64), -1)
    L = lay.sizes.size - 1
    for i in range(lay.sizes[L]):
        scores[i] = sums.v[lay.noff[L] + i] / (n_steps - w0)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def test_spiking(lay, prm, kappa, w, b, y, c, images, idx, n_steps, w0, exact, seed, taps, scores):
    """Score images[idx[k]] into scores[k]; each image has its own random stream
    (seed, test stream, image index) so results do not depend on threads.
    The simulation runs in the precision of ``w`` (float32 weights: float32 state)."""
    sizes = lay.sizes
    n_total = lay.noff[sizes.size]
    n_in = sizes[0]
    # one workspace per block of images, not per image: allocating and zeroing one cost about
    # 5 us, 1.5 % of a 784-500-10 test image (test_one_spiking resets all that an image reads)
    n_blocks = min(idx.size, TEST_BLOCKS)
    for blk in prange(n_blocks):
        dyn = make_dynamics(n_total, taps, w.dtype)
        sums = make_sums(n_total, sizes.size - 1, w.dtype)
        rng = np.zeros(4, dtype=np.uint64)
        x = np.empty(n_in)
        va_w0 = np.zeros(n_total, dtype=np.int64)
        va_w1 = np.zeros(n_total, dtype=np.int64)
        for k in range(blk * idx.size // n_blocks, (blk + 1) * idx.size // n_blocks):
            seed_state(rng, seed, 4, idx[k])
            img = images[idx[k]]
            for i in range(n_in):
                x[i] = img[i] / 255.0
            test_one_spiking(lay, prm, kappa, w, b, y, c, dyn, sums, x, n_steps, w0, exact, rng,
                             va_w0, va_w1, scores[k])
