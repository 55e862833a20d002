"""Diagnostics computed at snapshot time: those that need whole weight matrices (cheap), and the
window of per-example rows that others average."""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from .kernels import window as held
from .network import Network
from .spec import ModelSpec


class RowWindow:
    """The last ``length`` rows of a per-example quantity, oldest first (a sliding window).

    A preallocated ring: a chunk's rows go in with one or two slice copies.  A deque of row copies
    cost a Python step per example and per quantity and, at each snapshot, a conversion of up to
    1,000 small arrays, all with the GIL held (which other threads training in the same process
    wait for): 1.16 -> 0.97 ms of Python per 100 spiking 784-500-10 examples, same numbers.
    """

    def __init__(self, length: int):
        self.length = max(1, int(length))
        self._rows: np.ndarray | None = None      # (length, width), allocated at the first rows
        self._next = 0          # where the next row goes
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def extend(self, rows: np.ndarray) -> None:
        if self._rows is None:
            self._rows = np.zeros((self.length, rows.shape[1]), dtype=rows.dtype)
        cap = self.length
        rows = rows[-cap:]
        n = rows.shape[0]
        first = min(n, cap - self._next)
        self._rows[self._next:self._next + first] = rows[:first]
        self._rows[:n - first] = rows[first:]
        self._next = (self._next + n) % cap
        self._count = min(cap, self._count + n)

    def ring(self) -> tuple[np.ndarray, int, int]:
        """(buffer, count, oldest): the rows held are the buffer's first ``count``, oldest first from
        row ``oldest`` on, wrapping around (no copy)."""
        if self._rows is None:
            return np.zeros((0, 0)), 0, 0
        return self._rows, self._count, (self._next if self._count == self.length else 0)

    def column_correlations(self) -> np.ndarray:
        """Correlation of column 0 with each other column over the rows held (NaN where one is constant)."""
        return held.column_correlations(*self.ring())

    def column_nanmeans(self) -> np.ndarray:
        return held.column_nanmeans(*self.ring())

    def rows(self) -> np.ndarray:
        """The rows held, oldest first (a new array)."""
        if self._rows is None:
            return np.zeros((0, 0))
        if self._count < self.length:
            return self._rows[:self._count].copy()
        return np.concatenate((self._rows[self._next:], self._rows[:self._next]))


class JacobianWindow:
    """The Theorem-1 Jacobian sums of the most recent examples, in blocks of whole chunks.

    Each block holds the kernels' sums (J_b, J_g and the per-example product's factor) over the
    examples of one chunk-aligned block; blocks leave from the oldest end once the newer ones
    cover ``window`` examples.  Blocks live in preallocated slots, so a chunk allocates nothing and
    a snapshot's means are one compiled call (:mod:`dendcore.kernels.window`).
    """

    def __init__(self, n_out: int, n_top: int, window: int, chunk: int):
        self.window = int(window)
        slots = -(-self.window // max(1, int(chunk))) + 2     # enough: every block but the two ends is full
        self._jb = np.zeros((slots, n_out, n_top))
        self._jg = np.zeros((slots, n_top))
        self._jm = np.zeros((slots, n_out, n_top))
        self._blocks: deque[tuple[int, int]] = deque()      # (slot, examples), oldest first
        self._open: tuple[int, int] | None = None

    def __bool__(self) -> bool:
        return bool(self._blocks)

    def open(self, continuing: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sums the next chunk adds into: the newest block's (``continuing``) or a new, zeroed one.
        Until :meth:`close`, that block is out of the window (a chunk that fails leaves it out)."""
        if continuing and self._blocks:
            self._open = self._blocks.pop()
        else:
            used = {s for s, _ in self._blocks}
            free = next((s for s in range(self._jg.shape[0]) if s not in used), None)
            if free is None:
                free = self._grow()
            held.zero_block(self._jb, self._jg, self._jm, free)
            self._open = (free, 0)
        s = self._open[0]
        return self._jb[s], self._jg[s], self._jm[s]

    def close(self, n: int) -> None:
        """The open block now also holds ``n`` more examples; the oldest blocks beyond the window leave."""
        slot, before = self._open
        self._open = None
        self._blocks.append((slot, before + int(n)))
        while sum(c for _, c in self._blocks) - self._blocks[0][1] >= self.window:
            self._blocks.popleft()

    def _grow(self) -> int:
        n = self._jg.shape[0]
        self._jb = np.concatenate((self._jb, np.zeros_like(self._jb)))
        self._jg = np.concatenate((self._jg, np.zeros_like(self._jg)))
        self._jm = np.concatenate((self._jm, np.zeros_like(self._jm)))
        return n

    def blocks(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(examples, J_b sum, J_g sum, product factor sum) per block, oldest first (views)."""
        return [(c, self._jb[s], self._jg[s], self._jm[s]) for s, c in self._blocks]

    def means(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The three sums over the window, divided by its number of examples."""
        count = sum(c for _, c in self._blocks)
        slots = np.array([s for s, _ in self._blocks], dtype=np.int64)
        return held.block_means(self._jb, self._jg, self._jm, slots, float(count))


STEEPEST_SLOPE = 0.25       # the logistic sigmoid's largest slope (at 0): the weight version's slopes


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
    """Angle between vec(Y_j) and the matching product of forward weights, per hidden layer
    (:func:`vector_angle_deg` in one compiled call that keeps the GIL)."""
    return [float(held.angle_deg(net.Y(j), forward_transpose_product(net, j))) for j in range(1, net.n_layers)]


def largest_eigenvalue_theorem1(product: np.ndarray) -> float:
    """Largest eigenvalue of (I - U)^T (I - U) for U = J_beta J_gamma (square, output by output).

    Theorem 1 asks for it to stay below 1.  For a small U it is about 1 - (smallest eigenvalue of
    U + U^T): below 1 exactly when J_beta J_gamma pushes every output direction along itself.
    """
    m = np.eye(product.shape[0]) - product
    return float(np.linalg.eigvalsh(m.T @ m)[-1])


def theorem1_eigenvalues(net: Network, spec: ModelSpec, jb_mean: np.ndarray, jg_mean: np.ndarray):
    """Largest eigenvalue of (I - J_b J_g)^T (I - J_b J_g) for the top hidden layer, two versions.

    Jacobian version (the product of the window means): J_b = phi_max s'(V_out) k_d W_out and
    J_g = s'(V_a) Y, each averaged over the recent examples first (the trainer passes those means).

    Weight version: the same product with every sigmoid slope at its maximum 1/4, i.e.
    (phi_max / 16) k_d W_out Y: weights only.  This scaling, not the 2017 code's k_d W_out Y, follows from
    MODEL.md's definitions: J_b and J_g are slopes times weights, phi_max s' is the output's slope in
    spikes per step and s' is at most 1/4 (reached at V = 0), so the weight version is the Jacobian
    product of this network with every unit at its steepest.  It has the Jacobian version's scale and
    can share its axis.  k_d W_out Y drops phi_max and both slopes: a matrix 16/phi_max (80 at
    phi_max = 0.2) times larger than any product of these Jacobians, whose eigenvalue is not
    Theorem 1's.  Neither weight version bounds the Jacobian one (the slopes differ per unit), and
    neither tracks it: in rate-mode 784-500-10 (dendcore/data/eigen/eigen-rate.csv) this one grows
    from about 1.3-1.6 to about 640 over 60 epochs, k_d W_out Y's to about 4.4 million, while the
    Jacobian version stays within about 0.1 of 1.  The output and apical slopes are far below 1/4.
    Kept for export as a weights-only reference, not as the condition.
    """
    L = net.n_layers
    Y = spec.feedback_scale * net.Y(L - 1)
    if int(net.layout.fsrc[L - 1]) != L:
        return math.nan, math.nan
    eig_j = largest_eigenvalue_theorem1(jb_mean @ (jg_mean[:, None] * Y))
    eig_w = largest_eigenvalue_theorem1((spec.phi_max * STEEPEST_SLOPE * spec.k_d * net.W(L)) @ (STEEPEST_SLOPE * Y))
    return eig_j, eig_w


def theorem1_eigenvalue_paper(net: Network, spec: ModelSpec, jm_mean: np.ndarray) -> float:
    """The 2017 code's version: the mean over recent examples of each example's J_b J_g.

    ``jm_mean`` is the window mean of J_b diag(s'(u)) with u = feedback_scale Y phi_max s(V_out) + c
    (see :func:`dendcore.kernels.learning.accumulate_jacobians`); the product with the (current) Y
    gives the mean of the per-example products.
    """
    L = net.n_layers
    if int(net.layout.fsrc[L - 1]) != L:
        return math.nan
    return largest_eigenvalue_theorem1(jm_mean @ (spec.feedback_scale * net.Y(L - 1)))


def window_eigenvalues(net: Network, spec: ModelSpec, jac: JacobianWindow) -> tuple[float, float, float]:
    """:func:`theorem1_eigenvalues` and :func:`theorem1_eigenvalue_paper` of the window's means,
    with the products formed in one compiled call that keeps the GIL (equal up to rounding)."""
    L = net.n_layers
    if int(net.layout.fsrc[L - 1]) != L:
        return math.nan, math.nan, math.nan
    jb, jg, jm = jac.means()
    uj, uw, up = held.theorem1_products(jb, jg, jm, net.Y(L - 1), float(spec.feedback_scale), net.W(L),
                                       spec.phi_max * STEEPEST_SLOPE * spec.k_d, STEEPEST_SLOPE)
    return largest_eigenvalue_theorem1(uj), largest_eigenvalue_theorem1(uw), largest_eigenvalue_theorem1(up)
