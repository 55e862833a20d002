"""Event-driven simulation of the spiking three-compartment network.

Only inputs that spiked in a step touch the weights: their rows of ``WT`` are
added into this step's projection, and the PSP kernel (a difference of two
exponentials) is applied to that n_post-sized projection by two recursive
filter states per neuron, instead of to every presynaptic train.  Weights change
only between examples, so the ring is rebuilt from the spike history when an
example starts and ``V_b = W . PSP`` holds exactly with the current weights.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import overload

from ..rng import _EXP_BIAS, _LN2_HI, _LN2_LO, fill_exponentials, poisson_words, uniform_words
from .layout import E_EXC, E_INH, FB_SCALE, G_A, G_B, G_D, G_L, P_HID, P_OUT, PHI_MAX, TAU_L, TAU_S

# Reassociation and contraction let the per-neuron loops vectorise; NaN/inf
# semantics stay (no "nnan"/"ninf") so a diverging run is still detected.
FAST = {"reassoc", "contract", "arcp", "nsz", "afn"}

# Dynamic state carried from one example to the next (reset before each test image).
Dynamics = namedtuple("Dynamics", "V budget hist proj trl trs pjl pjs clock")
# Per-phase sums over the integration windows, plus per-step scratch.
Sums = namedtuple("Sums", "v phi psp fb va va_n vb_now va_now psp_prev pnew spk_idx spk_n draws")


@njit(cache=True, nogil=True, error_model="numpy")
def make_dynamics(n_total, taps, dtype=np.float64):
    """``dtype`` is the simulation's precision; the spike budgets stay float64 whatever it is, so
    the Exp(1) draws they add are the same numbers in both precisions."""
    return Dynamics(np.zeros(n_total, dtype), np.zeros(n_total), np.zeros((taps, n_total), dtype),
                    np.zeros((taps, n_total), dtype), np.zeros(n_total, dtype), np.zeros(n_total, dtype),
                    np.zeros(n_total, dtype), np.zeros(n_total, dtype), np.zeros(1, dtype=np.int64))


@njit(cache=True, nogil=True, error_model="numpy")
def make_sums(n_total, n_layers, dtype=np.float64):
    """Window sums stay float64 (they feed learning); the per-step scratch follows ``dtype``."""
    return Sums(np.zeros(n_total), np.zeros(n_total), np.zeros(n_total), np.zeros(n_total),
                np.zeros(n_total), np.zeros(n_total), np.zeros(n_total, dtype), np.zeros(n_total, dtype),
                np.zeros(n_total, dtype), np.zeros(n_total, dtype), np.zeros(n_total, dtype=np.int64),
                np.zeros(n_layers + 1, dtype=np.int64), np.zeros(n_total))


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


_LOG2E = 1.4426950408889634


@njit(cache=True, nogil=True, inline="always", error_model="numpy", fastmath=FAST)
def sigmoid_vec(v):
    """The logistic function in plain arithmetic, so a loop over neurons vectorises.

    exp(y), y = -v clamped to +-60 (where the sigmoid is flat to 1e-26), is 2^k e^r
    with k = round(y / ln 2), |r| <= ln(2)/2, and e^r = N(r) / N(-r) by the [5/5]
    Pade approximant (N(r) = E(r) + O(r), even and odd parts).  Then
    1 / (1 + 2^k N(r)/N(-r)) = N(-r) / (N(-r) + 2^k N(r)): one division in all.
    2^k is built from its bits, without an integer conversion (none for 64-bit
    lanes in AVX2).  Relative error below 5e-15 against the library exp (tested);
    about 25 % fewer operations than the Taylor series and eight squarings it
    replaced (error 5e-14).  Used for the per-step rates.
    """
    y = min(max(-v, -60.0), 60.0)
    # np.floor keeps k a double: math.floor's integer cost four scalar conversions per vector
    k = np.floor(y * _LOG2E + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    even = 1.0 + r2 * (1.0 / 9 + r2 * (1.0 / 1008))
    odd = r * (0.5 + r2 * (1.0 / 72 + r2 * (1.0 / 30240)))
    # 2^52 + 1023 + k holds the biased exponent of 2^k in its low bits
    scale = np.uint64(np.float64(k + _EXP_BIAS).view(np.uint64) << np.uint64(52)).view(np.float64)
    den = even - odd
    return den / (den + scale * (even + odd))


_F32 = np.float32
# ln 2 split for single precision: k * _LN2_HI32 is exact for |k| <= 87 (the clamp's range)
_LN2_HI32 = 0.693145751953125
_LN2_LO32 = 1.428606765330187e-06
_EXP_BIAS32 = 8388608.0 + 127.0  # 2^23 + the float32 exponent bias


@njit(cache=True, nogil=True, inline="always", error_model="numpy", fastmath=FAST)
def sigmoid_vec32(v):
    """:func:`sigmoid_vec` in single precision, for the float32 simulation: eight lanes per vector.

    Every constant is a float32, so no operation widens to double.  The [3/3] Pade
    approximant of e^r is within 6e-8 on |r| <= ln(2)/2; the whole function within
    3e-7 (relative) of the exact logistic (tested), a few float32 roundings.
    """
    y = min(max(-v, _F32(-60.0)), _F32(60.0))
    k = np.floor(y * _F32(_LOG2E) + _F32(0.5))
    r = (y - k * _F32(_LN2_HI32)) - k * _F32(_LN2_LO32)
    r2 = r * r
    even = _F32(1.0) + r2 * _F32(0.1)
    odd = r * (_F32(0.5) + r2 * _F32(1.0 / 120))
    scale = np.uint32(np.float32(k + _F32(_EXP_BIAS32)).view(np.uint32) << np.uint32(23)).view(np.float32)
    den = even - odd
    return den / (den + scale * (even + odd))


def rate_sigmoid(v):
    """The per-step logistic in the precision of ``v`` (compiled code only)."""
    raise NotImplementedError("rate_sigmoid is for compiled kernels")


@overload(rate_sigmoid, inline="always")
def _rate_sigmoid(v):
    if isinstance(v, types.Float) and v.bitwidth == 32:
        return lambda v: sigmoid_vec32(v)
    return lambda v: sigmoid_vec(v)


@njit(cache=True, nogil=True, error_model="numpy")
def reset_dynamics(dyn, rng, n_inputs):
    """Zero voltages and spike history; fresh Poisson budgets for spiking neurons."""
    dyn.V[:] = 0.0
    dyn.hist[:, :] = 0.0
    dyn.proj[:, :] = 0.0
    dyn.trl[:] = 0.0
    dyn.trs[:] = 0.0
    dyn.pjl[:] = 0.0
    dyn.pjs[:] = 0.0
    dyn.budget[:n_inputs] = 0.0
    # the same draws as one exponential(rng) per neuron, with the state in locals (see uniform_words)
    rng[0], rng[1], rng[2], rng[3] = fill_exponentials(dyn.budget[n_inputs:], dyn.budget.size - n_inputs,
                                                       rng[0], rng[1], rng[2], rng[3])


@njit(cache=True, nogil=True, error_model="numpy")
def _fill_input_events(x, phi_max, n_steps, rng, steps, idx, start):
    """Draw each input's Poisson count and its spikes' steps into ``steps``/``idx`` (counted per
    step in ``start[k + 1]``); returns the number of events, or -1 (``rng`` untouched) if they
    do not fit."""
    cap = steps.size
    n = 0
    # the generator's state in locals: a call handed the array per draw costs two atomic operations
    r0, r1, r2, r3 = rng[0], rng[1], rng[2], rng[3]
    for i in range(x.size):
        if x[i] <= 0.0:
            continue
        count, r0, r1, r2, r3 = poisson_words(phi_max * x[i] * n_steps, r0, r1, r2, r3)
        if n + count > cap:
            return -1
        for _ in range(count):
            u, r0, r1, r2, r3 = uniform_words(r0, r1, r2, r3)
            k = int(u * n_steps)
            steps[n] = k
            idx[n] = i
            start[k + 1] += 1
            n += 1
    rng[0], rng[1], rng[2], rng[3] = r0, r1, r2, r3
    return n


@njit(cache=True, nogil=True, error_model="numpy")
def draw_input_events(x, phi_max, n_steps, rng):
    """Poisson input spikes for one phase.

    Given its count, a Poisson process's events are independent and uniform
    over the phase, so each input draws a Poisson count and then one uniform
    per spike: no chain of intervals, and pixels at 0 cost nothing.
    Returns CSR-style ``(start, idx)``: the inputs spiking in step k are
    ``idx[start[k]:start[k+1]]`` (repeated for several spikes in one step).
    """
    total = 0.0
    for i in range(x.size):
        total += x[i]
    cap = int(1.5 * phi_max * n_steps * total) + 64
    # Arrays rebound inside the loop over pixels (to grow them) would take and drop a reference
    # per pixel, so a draw that overflows the buffers starts again, from the same state, with
    # twice the room: the same events, and no rebinding in the loop (overflow needs a count
    # some 17 standard deviations above its mean for a typical digit).
    while True:
        steps = np.empty(cap, dtype=np.int64)
        idx = np.empty(cap, dtype=np.int64)
        start = np.zeros(n_steps + 1, dtype=np.int64)
        n = _fill_input_events(x, phi_max, n_steps, rng, steps, idx, start)
        if n >= 0:
            break
        cap *= 2
    for k in range(n_steps):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    out = np.empty(n, dtype=np.int64)
    for e in range(n):  # stable: within a step inputs stay in increasing order
        out[fill[steps[e]]] = idx[e]
        fill[steps[e]] += 1
    return start, out


@njit(cache=True, nogil=True, error_model="numpy")
def window_kernel(kappa, n_steps, w0, w1):
    """K[k] = total PSP weight that a spike in step k puts inside [w0, w1)."""
    taps = kappa.size
    K = np.zeros(n_steps)
    for k in range(n_steps):
        s = 0.0
        for d in range(taps):
            if w0 <= k + d < w1:
                s += kappa[d]
        K[k] = s
    return K


@njit(cache=True, nogil=True, error_model="numpy")
def rebuild_projections(lay, prm, kappa, w, dyn, exact):
    """Recompute the basal filter states from the spike history with the current weights.

    ``proj[r]`` holds W_j S_{j-1} for the step stored in ring slot r.  The PSP
    kernel is a difference of two exponentials, so W . PSP is carried by two
    states per neuron, ``pjl`` and ``pjs`` (long and short time constant):
    exact mode keeps them forever (their source traces give W . trace), the
    truncated kernel subtracts each projection again when it leaves the ring.
    """
    sizes, noff, woff = lay.sizes, lay.noff, lay.woff
    L = sizes.size - 1
    taps = kappa.size
    decay_l = math.exp(-1.0 / prm[TAU_L])
    decay_s = math.exp(-1.0 / prm[TAU_S])
    t_last = dyn.clock[0] - 1
    for j in range(1, L + 1):
        lo, hi = noff[j], noff[j + 1]
        nj = hi - lo
        plo, phi_ = noff[j - 1], noff[j]
        WT = w[woff[j]:woff[j] + sizes[j - 1] * sizes[j]].reshape((sizes[j - 1], sizes[j]))
        dyn.pjl[lo:hi] = 0.0
        dyn.pjs[lo:hi] = 0.0
        if exact:
            for i in range(plo, phi_):
                al = dyn.trl[i]
                as_ = dyn.trs[i]
                if al == 0.0 and as_ == 0.0:
                    continue
                row = WT[i - plo]
                for n in range(nj):
                    dyn.pjl[lo + n] += al * row[n]
                    dyn.pjs[lo + n] += as_ * row[n]
            continue
        for r in range(taps):
            prow = dyn.proj[r, lo:hi]
            prow[:] = 0.0
            for i in range(plo, phi_):
                cnt = dyn.hist[r, i]
                if cnt == 0.0:
                    continue
                row = WT[i - plo]
                for n in range(nj):
                    prow[n] += cnt * row[n]
        fl = decay_l
        fs = decay_s
        for d in range(taps):  # slot of the step d before the latest one
            prow = dyn.proj[(t_last - d) % taps, lo:hi]
            for n in range(nj):
                dyn.pjl[lo + n] += fl * prow[n]
                dyn.pjs[lo + n] += fs * prow[n]
            fl *= decay_l
            fs *= decay_s


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def ordered_dots4(M, r0, r1, r2, r3, c0, v, v0, k):
    """The dots of v[v0:v0 + k] with M[r, c0:c0 + k] for four rows r, each summed in index order.

    One sum waits for each addition before the next (a float sum may not be reordered), so four
    independent sums keep the adder busy where one left it idle most of the time; each is still
    added in the plain loop's order, so the results are bit for bit those of :func:`ordered_dot`.
    """
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for m in range(k):
        x = v[v0 + m]
        a0 += M[r0, c0 + m] * x
        a1 += M[r1, c0 + m] * x
        a2 += M[r2, c0 + m] * x
        a3 += M[r3, c0 + m] * x
    return a0, a1, a2, a3


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def ordered_dot(M, r, c0, v, v0, k):
    a = 0.0
    for m in range(k):
        a += M[r, c0 + m] * v[v0 + m]
    return a


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _slot_dots(hist, t_last, taps, v, lo, hi, out):
    """out[d] = v[lo] hist[r, lo] + v[lo + 1] hist[r, lo + 1] + ... for r = (t_last - d) % taps,
    four ring slots at a time (:func:`ordered_dots4`)."""
    d = 0
    while d + 4 <= taps:
        s0, s1, s2, s3 = ordered_dots4(hist, (t_last - d) % taps, (t_last - d - 1) % taps, (t_last - d - 2) % taps,
                                       (t_last - d - 3) % taps, lo, v, lo, hi - lo)
        out[d] = s0
        out[d + 1] = s1
        out[d + 2] = s2
        out[d + 3] = s3
        d += 4
    while d < taps:
        out[d] = ordered_dot(hist, (t_last - d) % taps, lo, v, lo, hi - lo)
        d += 1


@njit(cache=True, nogil=True, error_model="numpy")
def shift_projections(lay, prm, kappa, dyn, e, sf, lr, exact):
    """Carry the basal filter states through a weight update instead of rebuilding them.

    Each layer's update is rank one, W_j += u v^T with u = -lr_j P e_j and
    v = sf_{j-1}, so W_j S = W_j^old S + u (v . S) for every stored spike
    vector S: a dot product per ring slot replaces a pass over the weights.
    """
    sizes, noff = lay.sizes, lay.noff
    L = sizes.size - 1
    taps = kappa.size
    decay_l = math.exp(-1.0 / prm[TAU_L])
    decay_s = math.exp(-1.0 / prm[TAU_S])
    hist, proj, pjl, pjs, trl, trs = dyn.hist, dyn.proj, dyn.pjl, dyn.pjs, dyn.trl, dyn.trs  # see run_phase
    t_last = dyn.clock[0] - 1
    dots = np.empty(taps)
    for j in range(1, L + 1):
        lo, hi = noff[j], noff[j + 1]
        plo, phi_ = noff[j - 1], noff[j]
        step = -lr[j - 1] * (prm[P_OUT] if j == L else prm[P_HID])
        if exact:
            dl = 0.0
            ds = 0.0
            for i in range(plo, phi_):
                dl += sf[i] * trl[i]
                ds += sf[i] * trs[i]
        else:
            dl = 0.0
            ds = 0.0
            fl = decay_l
            fs = decay_s
            _slot_dots(hist, t_last, taps, sf, plo, phi_, dots)
            for d in range(taps):
                r = (t_last - d) % taps
                dot = dots[d]
                if dot != 0.0:
                    for n in range(lo, hi):
                        proj[r, n] += dot * step * e[n]
                dl += fl * dot
                ds += fs * dot
                fl *= decay_l
                fs *= decay_s
        for n in range(lo, hi):
            pjl[n] += dl * step * e[n]
            pjs[n] += ds * step * e[n]


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FAST)
def run_phase(lay, prm, kappa, w, b, y, c, dyn, sums, x, n_steps, label, w0, w1,
              va_w0, va_w1, learning, exact, need_va, rng, rec, rec_idx, rec_row):
    """Simulate ``n_steps`` of one phase, accumulating window sums into ``sums``.

    label >= 0 switches the output's teaching current on (target phase).
    Sums of V and phi cover steps [w0, w1) (a hidden layer's only when
    learning); when learning, ``psp`` holds each neuron's PSP summed over the
    same window (presynaptic term of the rule) and ``fb`` over the window shifted one step back (what the apical
    compartment sees, since feedback arrives with one step's delay).  With
    ``need_va`` the apical potential is computed every step and summed over
    each hidden neuron's own window [va_w0, va_w1) (jittered plateaus).
    Recording (rec_row >= 0) computes V_a for the traces without using it.
    """
    want_va = need_va or rec_row >= 0
    sizes, noff, woff, yoff, fsrc = lay.sizes, lay.noff, lay.woff, lay.yoff, lay.fsrc
    L = sizes.size - 1
    taps = kappa.size
    # The per-neuron loops run in the precision of the state (float32 or float64): every constant
    # they use is cast to it once here, since one double operand would widen a float32 loop to
    # four lanes and cost it a conversion per element.
    ft = dyn.V.dtype.type
    g_l, g_b, g_a, g_d = ft(prm[G_L]), ft(prm[G_B]), ft(prm[G_A]), ft(prm[G_D])
    e_exc, e_inh, phi_max, scale = ft(prm[E_EXC]), ft(prm[E_INH]), ft(prm[PHI_MAX]), prm[FB_SCALE]
    tau_l, tau_s = prm[TAU_L], prm[TAU_S]
    decay_l64 = math.exp(-1.0 / tau_l)
    decay_s64 = math.exp(-1.0 / tau_s)
    decay_l, decay_s = ft(decay_l64), ft(decay_s64)
    inv_dtau = ft(1.0 / (tau_l - tau_s))
    # weight of a projection leaving the truncated window (none for the exact kernel)
    drop_l = ft(0.0 if exact else decay_l64 ** (taps + 1))
    drop_s = ft(0.0 if exact else decay_s64 ** (taps + 1))
    n_in = sizes[0]

    ev_start, ev_idx = draw_input_events(x, phi_max, n_steps, rng)
    # Y source-major for the phase: the apical sum of every step then runs over contiguous hidden
    # neurons (a vector loop) instead of a ten-term reduction per neuron
    yt = np.empty(y.size if need_va else 0, dtype=y.dtype)
    va_acc = np.zeros(dyn.V.size if need_va else 0)
    if need_va:
        for j in range(1, L):
            s = fsrc[j]
            nj, ns, ybase = sizes[j], sizes[s], yoff[j]
            for n in range(nj):
                for m in range(ns):
                    yt[ybase + m * nj + n] = y[ybase + n * ns + m]
    if learning and not exact:
        k_win = window_kernel(kappa, n_steps, w0, w1)
        k_fb = window_kernel(kappa, n_steps, w0 - 1, w1 - 1)
    else:
        k_win = np.zeros(0)
        k_fb = np.zeros(0)

    # Every array is bound to a local once: a slice or a tuple field taken inside
    # the step loop costs an atomic reference-count pair, which measured about a
    # fifth of the run time, so the loops below index the flat arrays by offset.
    V_all, budget, hist, proj = dyn.V, dyn.budget, dyn.hist, dyn.proj
    trl, trs, pjl, pjs, clock = dyn.trl, dyn.trs, dyn.pjl, dyn.pjs, dyn.clock
    s_v, s_phi, s_psp, s_fb, s_va, s_va_n = sums.v, sums.phi, sums.psp, sums.fb, sums.va, sums.va_n
    vb_now, va_now, psp_prev, pnew = sums.vb_now, sums.va_now, sums.psp_prev, sums.pnew
    spk_idx, spk_n, draws = sums.spk_idx, sums.spk_n, sums.draws

    for k in range(n_steps):
        t = clock[0]
        r = t % taps
        in_win = w0 <= k < w1
        in_fb_win = (w0 - 1) <= k < (w1 - 1)
        # this step's weight of a spike in the window sums of the PSP (truncated kernel, learning)
        window_psp = learning and not exact
        kw = k_win[k] if window_psp else 0.0
        kf = k_fb[k] if window_psp else 0.0

        # feedback seen this step: the sources' PSP as of the previous step
        if want_va:
            last = (t - 1) % taps           # the ring's slot of the previous step, walked back without a division
            for j in range(1, L):
                s = fsrc[j]
                for n in range(noff[s], noff[s + 1]):
                    if exact:
                        psp_prev[n] = (trl[n] - trs[n]) * inv_dtau
                    else:
                        acc = 0.0
                        slot = last
                        for d in range(taps):
                            acc += kappa[d] * hist[slot, n]
                            slot = slot - 1 if slot > 0 else taps - 1
                        psp_prev[n] = acc

        # ---- input layer: this step's spikes ----
        # the slot's previous inputs: those of step k - taps, or an earlier phase's (cleared in full)
        if k >= taps:
            for e in range(ev_start[k - taps], ev_start[k - taps + 1]):
                hist[r, ev_idx[e]] = 0.0
        else:
            for i in range(n_in):
                hist[r, i] = 0.0
        nsp = 0
        for e in range(ev_start[k], ev_start[k + 1]):
            i = ev_idx[e]
            hist[r, i] += 1.0
            if hist[r, i] == 1.0:
                spk_idx[nsp] = i
                nsp += 1
        spk_n[0] = nsp
        if window_psp:
            for q in range(nsp):
                i = spk_idx[q]
                s_psp[i] += hist[r, i] * kw
        if exact:
            for i in range(n_in):
                trl[i] = decay_l * (trl[i] + hist[r, i])
                trs[i] = decay_s * (trs[i] + hist[r, i])
            if learning and in_win:
                for i in range(n_in):
                    s_psp[i] += (trl[i] - trs[i]) * inv_dtau

        # ---- computing layers, bottom up ----
        for j in range(1, L + 1):
            lo, hi = noff[j], noff[j + 1]
            nj = hi - lo
            plo = noff[j - 1]
            wbase = woff[j]
            # presynaptic spikes of layer j-1 this step were listed at spk_idx[plo:]
            nsp_below = spk_n[j - 1]
            base = 0 if j == 1 else plo
            # this step's projection of the presynaptic spikes, into the two filter states;
            # the truncated kernel also drops the projection that leaves its window
            # unsigned offsets: Numba then emits no negative-index wraparound, so these loops vectorise
            ulo = np.uint64(lo)
            unj = np.uint64(nj)
            for n in range(unj):
                pnew[ulo + n] = 0.0
            # four presynaptic spikes per pass over the projection: a quarter of its loads and
            # stores.  Written as a reassociation, but LLVM (allowed to reassociate here) chains
            # the sum as one spike at a time: 2,000 training examples gave bit-identical weights.
            q = 0
            while q + 4 <= nsp_below:
                i0, i1, i2, i3 = spk_idx[base + q], spk_idx[base + q + 1], spk_idx[base + q + 2], spk_idx[base + q + 3]
                c0, c1, c2, c3 = hist[r, i0], hist[r, i1], hist[r, i2], hist[r, i3]
                row0 = np.uint64(wbase + (i0 - plo) * nj)
                row1 = np.uint64(wbase + (i1 - plo) * nj)
                row2 = np.uint64(wbase + (i2 - plo) * nj)
                row3 = np.uint64(wbase + (i3 - plo) * nj)
                for n in range(unj):
                    pnew[ulo + n] += (c0 * w[row0 + n] + c1 * w[row1 + n]) + (c2 * w[row2 + n] + c3 * w[row3 + n])
                q += 4
            for q in range(q, nsp_below):
                i = spk_idx[base + q]
                cnt = hist[r, i]
                row = np.uint64(wbase + (i - plo) * nj)
                for n in range(unj):
                    pnew[ulo + n] += cnt * w[row + n]
            for n in range(unj):
                g = ulo + n
                pjl[g] = decay_l * (pjl[g] + pnew[g]) - drop_l * proj[r, g]
                pjs[g] = decay_s * (pjs[g] + pnew[g]) - drop_s * proj[r, g]
                vb_now[g] = b[g] + (pjl[g] - pjs[g]) * inv_dtau
                proj[r, g] = pnew[g]

            hidden = j < L
            if hidden and want_va:
                s = fsrc[j]
                ns = sizes[s]
                ybase = yoff[j]
                slo = noff[s]
                uns = np.uint64(ns)
                uslo = np.uint64(slo)
                if need_va:
                    for n in range(unj):
                        va_acc[ulo + n] = 0.0
                    for m in range(uns):
                        pm = psp_prev[uslo + m]
                        ycol = np.uint64(ybase + m * nj)
                        for n in range(unj):
                            va_acc[ulo + n] += yt[ycol + n] * pm
                    for n in range(unj):
                        va_now[ulo + n] = scale * va_acc[ulo + n] + c[ulo + n]
                else:
                    # recording alone reads V_a of the traced neurons only, not the whole layer's
                    for q in range(rec_idx.size):
                        n = rec_idx[q] - lo
                        if 0 <= n < nj:
                            acc = 0.0
                            yrow = np.uint64(ybase + n * ns)
                            for m in range(uns):
                                acc += y[yrow + m] * psp_prev[uslo + m]
                            va_now[lo + n] = scale * acc + c[lo + n]

            # somatic Euler step and rates: branch-free over hidden neurons so it vectorises;
            # the projection scratch is free again, so it holds the rates
            if hidden:
                if need_va:
                    for n in range(unj):
                        g = ulo + n
                        v = V_all[g]
                        v += -g_l * v + g_b * (vb_now[g] - v) + g_a * (va_now[g] - v)
                        V_all[g] = v
                        pnew[g] = phi_max * rate_sigmoid(v)
                else:
                    for n in range(unj):
                        g = ulo + n
                        v = V_all[g]
                        v += -g_l * v + g_b * (vb_now[g] - v)
                        V_all[g] = v
                        pnew[g] = phi_max * rate_sigmoid(v)
            else:
                for n in range(nj):
                    g = lo + n
                    v = V_all[g]
                    dv = -g_l * v + g_d * (vb_now[g] - v)
                    if label >= 0:
                        dv += (e_exc if n == label else e_inh) - v
                    v += dv
                    V_all[g] = v
                    pnew[g] = phi_max * rate_sigmoid(v)
            # the budgets (float64 in either precision) in a loop of their own: in the loop above
            # they would widen a float32 loop to four lanes
            for n in range(unj):
                budget[ulo + n] -= pnew[ulo + n]
            # a test (not learning) reads only the output's sums
            if in_win and (learning or not hidden):
                for n in range(unj):
                    g = ulo + n
                    s_v[g] += V_all[g]
                    s_phi[g] += pnew[g]
            # Poisson spikes: a neuron fires when its Exp(1) budget runs out. About one
            # neuron in ten fires per step, so the firing ones are listed first without
            # a branch (a data-dependent branch per neuron mispredicted once per spike)
            for n in range(unj):
                hist[r, ulo + n] = 0.0
            fired = np.uint64(0)
            for n in range(unj):
                g = ulo + n
                spk_idx[ulo + fired] = g
                fired += np.uint64(budget[g] <= 0.0)
            nsp = np.int64(fired)
            # Each firing neuron draws Exp(1) intervals until its budget is positive again, neuron
            # after neuron from one stream.  Every one needs at least one draw, so that many are
            # drawn ahead (their logarithms vectorise); a neuron needing more is served in stream
            # order from a further batch, sized by the least the rest still need: none is left over.
            r0, r1, r2, r3 = rng[0], rng[1], rng[2], rng[3]
            r0, r1, r2, r3 = fill_exponentials(draws, nsp, r0, r1, r2, r3)
            ndraw = nsp
            ptr = 0
            ur = np.uint64(r)
            for q in range(nsp):
                g = np.uint64(spk_idx[lo + q])
                bud = budget[g]
                cnt = 0
                while bud <= 0.0:
                    if ptr == ndraw:
                        ndraw = nsp - q
                        r0, r1, r2, r3 = fill_exponentials(draws, ndraw, r0, r1, r2, r3)
                        ptr = 0
                    cnt += 1
                    bud += draws[ptr]
                    ptr += 1
                budget[g] = bud
                hist[ur, g] = cnt
                if window_psp:
                    s_psp[g] += cnt * kw
                    s_fb[g] += cnt * kf
            rng[0], rng[1], rng[2], rng[3] = r0, r1, r2, r3
            if exact:
                for g in range(lo, hi):
                    trl[g] = decay_l * (trl[g] + hist[r, g])
                    trs[g] = decay_s * (trs[g] + hist[r, g])
                    if learning:
                        p = (trl[g] - trs[g]) * inv_dtau
                        if in_win:
                            s_psp[g] += p
                        if in_fb_win:
                            s_fb[g] += p
            if learning and hidden and need_va:
                for g in range(lo, hi):
                    if va_w0[g] <= k < va_w1[g]:
                        s_va[g] += va_now[g]
                        s_va_n[g] += 1.0
            spk_n[j] = nsp

        if rec_row >= 0:
            for m in range(rec_idx.size):
                g = rec_idx[m]
                rec[rec_row + k, 0, m] = V_all[g]
                rec[rec_row + k, 1, m] = vb_now[g]
                rec[rec_row + k, 2, m] = va_now[g]
        clock[0] = t + 1
