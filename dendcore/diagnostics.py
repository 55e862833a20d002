"""Diagnostics that need whole weight matrices (cheap, computed at snapshot time)."""
from __future__ import annotations

import math

import numpy as np

from .network import Network
from .spec import ModelSpec


def vector_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    a = np.ravel(a)
    b = np.ravel(b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return math.nan
    return math.degrees(math.acos(float(np.clip(a @ b / (na * nb), -1.0, 1.0))))


def forward_transpose_product(net: Network, j: int) -> np.ndarray:
    """What Y_j would be with exact (symmetric) feedback: W_{j+1}^T ... W_src^T."""
    src = int(net.layout.fsrc[j])
    prod = net.WT(j + 1)
    for q in range(j + 2, src + 1):
        prod = prod @ net.WT(q)
    return prod


def weight_angles(net: Network) -> list[float]:
    """Angle between vec(Y_j) and the matching product of forward weights, per hidden layer."""
    return [vector_angle_deg(net.Y(j), forward_transpose_product(net, j)) for j in range(1, net.n_layers)]


def theorem1_eigenvalues(net: Network, spec: ModelSpec, jb_mean: np.ndarray, jg_mean: np.ndarray):
    """Largest eigenvalue of (I - J_b J_g)^T (I - J_b J_g) for the top hidden layer.

    Jacobian version: J_b = phi_max s'(V_out) k_d W_out and J_g = s'(V_a) Y averaged
    over recent examples (the trainer passes those means).  Weight version: the
    same with every sigmoid slope at its maximum 1/4, i.e. weights only.
    """
    L = net.n_layers
    Y = spec.feedback_scale * net.Y(L - 1)
    if int(net.layout.fsrc[L - 1]) != L:
        return math.nan, math.nan
    n_out = Y.shape[1]
    eye = np.eye(n_out)
    m = eye - jb_mean @ (jg_mean[:, None] * Y)
    eig_j = float(np.linalg.eigvalsh(m.T @ m)[-1])
    jb_w = spec.phi_max * 0.25 * spec.k_d * net.W(L)
    m = eye - jb_w @ (0.25 * Y)
    eig_w = float(np.linalg.eigvalsh(m.T @ m)[-1])
    return eig_j, eig_w
