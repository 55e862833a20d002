"""How a network's arrays are laid out for the kernels.

Neurons of every layer, inputs included, share one index space: layer ``j``
(0 = inputs, L = output) owns ``noff[j]:noff[j+1]``.  Weights of layer ``j``
are stored transposed, ``WT_j`` of shape (n_{j-1}, n_j), flat in one buffer at
``woff[j]``: the event-driven kernels add one contiguous row per presynaptic
spike.  Feedback ``Y_j`` (hidden j) has shape (n_j, n_src) at ``yoff[j]``, its
source layer is ``fsrc[j]`` (L for broadcast, j+1 for layerwise).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

Layout = namedtuple("Layout", "sizes noff woff yoff fsrc")

# indices into the float parameter vector handed to kernels
G_L, G_B, G_A, G_D, E_EXC, E_INH, PHI_MAX, FB_SCALE, TAU_L, TAU_S, P_HID, P_OUT, NPARAM = range(13)

RULE_DENDRITES, RULE_BACKPROP, RULE_FA = 0, 1, 2
RULE_CODES = {"dendrites": RULE_DENDRITES, "backprop": RULE_BACKPROP, "feedback_alignment": RULE_FA}


def make_layout(sizes, layerwise: bool) -> Layout:
    sizes = np.asarray(sizes, dtype=np.int64)
    L = len(sizes) - 1
    noff = np.zeros(L + 2, dtype=np.int64)
    noff[1:] = np.cumsum(sizes)
    woff = np.zeros(L + 2, dtype=np.int64)
    for j in range(1, L + 1):
        woff[j + 1] = woff[j] + sizes[j - 1] * sizes[j]
    woff[1] = 0
    yoff = np.zeros(L + 2, dtype=np.int64)
    fsrc = np.full(L + 1, -1, dtype=np.int64)
    total = 0
    for j in range(1, L):
        fsrc[j] = j + 1 if layerwise else L
        yoff[j] = total
        total += sizes[j] * sizes[fsrc[j]]
    yoff[L + 1] = total
    # woff[L+1] is the buffer's total length
    return Layout(sizes, noff, woff, yoff, fsrc)


def params_vector(spec) -> np.ndarray:
    p = np.zeros(NPARAM)
    p[G_L], p[G_B], p[G_A], p[G_D] = spec.g_l, spec.g_b, spec.g_a, spec.g_d
    p[E_EXC], p[E_INH], p[PHI_MAX] = spec.e_exc, spec.e_inh, spec.phi_max
    p[FB_SCALE], p[TAU_L], p[TAU_S] = spec.feedback_scale, spec.tau_l_ms, spec.tau_s_ms
    p[P_HID], p[P_OUT] = spec.p_hidden, spec.p_output
    return p
