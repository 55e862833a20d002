"""A network's learned state: weights, biases and feedback, built from a spec and a seed.

Initialisation follows MODEL.md section 5 ("weight optimisation"): weights are
drawn so that dendritic potentials start with mean 3 and sd 3.
"""
from __future__ import annotations

import math

import numpy as np

from .kernels.layout import Layout, make_layout
from .rng import STREAM_INIT, new_state, uniform_array
from .spec import ModelSpec

_SQRT12 = math.sqrt(12.0)


def init_moments(fan_in: int, spec: ModelSpec) -> tuple[float, float]:
    """(W_avg, W_sd) giving dendritic potentials of the wanted mean and sd at slope phi_max/4."""
    nu = spec.phi_max / 4.0
    mean, sd, b = spec.init_dendrite_mean, spec.init_dendrite_sd, spec.init_bias
    n = float(fan_in)
    w_avg = (mean - b) / (mean * nu * n)
    v_sm = sd**2 + mean**2
    w_sm = (v_sm + nu**2 * (n - n**2) * w_avg**2 * mean**2 - 2 * mean * n * nu * b * w_avg - b**2) / (n * nu**2 * v_sm)
    return w_avg, math.sqrt(w_sm - w_avg**2)


class Network:
    """Flat arrays the kernels work on, with per-layer views for people.

    ``W(j)`` is layer j's (n_j, n_{j-1}) weight matrix (j = 1..L, L = output),
    ``Y(j)`` the feedback matrix of hidden layer j, ``bias(j)`` its biases.
    """

    def __init__(self, spec: ModelSpec, layout: Layout, w: np.ndarray, b: np.ndarray,
                 y: np.ndarray, c: np.ndarray):
        self.spec = spec
        self.layout = layout
        self.w, self.b, self.y, self.c = w, b, y, c

    # ----- views -----
    @property
    def n_layers(self) -> int:
        return len(self.layout.sizes) - 1

    def WT(self, j: int) -> np.ndarray:
        s, o = self.layout.sizes, self.layout.woff
        return self.w[o[j]:o[j] + s[j - 1] * s[j]].reshape(s[j - 1], s[j])

    def W(self, j: int) -> np.ndarray:
        return self.WT(j).T

    def Y(self, j: int) -> np.ndarray:
        s, o, f = self.layout.sizes, self.layout.yoff, self.layout.fsrc
        return self.y[o[j]:o[j] + s[j] * s[f[j]]].reshape(s[j], s[f[j]])

    def bias(self, j: int) -> np.ndarray:
        n = self.layout.noff
        return self.b[n[j]:n[j + 1]]

    def layer_slice(self, j: int) -> slice:
        n = self.layout.noff
        return slice(int(n[j]), int(n[j + 1]))

    @property
    def n_total(self) -> int:
        return int(self.layout.noff[-1])

    def copy(self) -> "Network":
        return Network(self.spec, self.layout, self.w.copy(), self.b.copy(), self.y.copy(), self.c.copy())

    def arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w, "b": self.b, "y": self.y, "c": self.c}


def build_network(spec: ModelSpec, seed: int) -> Network:
    """Initial weights for ``spec``; the same (spec, seed) always gives the same arrays."""
    layout = make_layout(spec.sizes, spec.feedback_topology == "layerwise")
    sizes = [int(s) for s in layout.sizes]
    L = len(sizes) - 1
    rng = new_state(seed, STREAM_INIT)
    w = np.zeros(int(layout.woff[L + 1]))
    b = np.zeros(int(layout.noff[-1]))
    y = np.zeros(int(layout.yoff[L + 1]))
    c = np.zeros(int(layout.noff[-1]))
    net = Network(spec, layout, w, b, y, c)
    # U(-1,1) has twice the width of U(-0.5,0.5)
    spread = 2.0 if spec.init in ("head", "head-forward") else 1.0
    for j in range(1, L + 1):
        w_avg, w_sd = init_moments(sizes[j - 1], spec)
        u = uniform_array(rng, (sizes[j], sizes[j - 1]))
        net.W(j)[:, :] = w_avg + w_sd * _SQRT12 * (u - 0.5) * spread
        u = uniform_array(rng, sizes[j])
        net.bias(j)[:] = spec.init_bias + spec.init_bias_spread * _SQRT12 * (u - 0.5)
    _init_feedback(net, spec, rng)
    if spec.feedback_bias:
        for j in range(1, L):
            src = int(layout.fsrc[j])
            _, sd = init_moments(sizes[src - 1], spec)
            r = sd * _SQRT12 * (uniform_array(rng, sizes[src]) - 0.5)
            net.c[net.layer_slice(j)] = net.Y(j) @ r
    return net


def _init_feedback(net: Network, spec: ModelSpec, rng: np.ndarray) -> None:
    sizes = [int(s) for s in net.layout.sizes]
    L = len(sizes) - 1
    if L < 2:
        return
    if spec.feedback in ("symmetric", "noisy_symmetric"):
        symmetric_feedback(net)
        if spec.feedback == "noisy_symmetric":
            from .rng import normal
            for j in range(1, L):
                Y = net.Y(j)
                Y += spec.symmetric_noise_sd * np.array([normal(rng) for _ in range(Y.size)]).reshape(Y.shape)
        return
    layerwise = spec.feedback_topology == "layerwise"
    if spec.init in ("head", "head-feedback"):
        for j in range(1, L):
            src = int(net.layout.fsrc[j])
            w_avg, w_sd = init_moments(sizes[src - 1], spec)
            u = uniform_array(rng, (sizes[j], sizes[src]))
            net.Y(j)[:, :] = w_avg + w_sd * _SQRT12 * (u - 0.5) * 2.0
    else:
        # zero-mean; broadcast feedback of lower layers is a product of random matrices
        for j in range(L - 1, 0, -1):
            _, sd = init_moments(sizes[j], spec)  # fan-in of layer j+1
            r = sd * _SQRT12 * (uniform_array(rng, (sizes[j], sizes[j + 1])) - 0.5)
            if layerwise or j == L - 1:
                net.Y(j)[:, :] = r
            else:
                net.Y(j)[:, :] = r @ net.Y(j + 1)
    if spec.feedback == "sparse":
        for j in range(1, L):
            Y = net.Y(j)
            keep = uniform_array(rng, Y.shape) < spec.sparse_density
            Y *= keep
            if spec.sparse_rescale:
                Y /= spec.sparse_density


def symmetric_feedback(net: Network) -> None:
    """Y_j = W_{j+1}^T (layerwise) or W_{j+1}^T ... W_L^T (broadcast)."""
    L = net.n_layers
    for j in range(L - 1, 0, -1):
        if int(net.layout.fsrc[j]) == j + 1:
            net.Y(j)[:, :] = net.WT(j + 1)
        else:
            prod = net.WT(j + 1)
            for q in range(j + 2, L + 1):
                prod = prod @ net.WT(q)
            net.Y(j)[:, :] = prod
