"""Test error on any subset of the test set.

Spiking mode runs one fresh forward phase per image (MODEL.md section 6),
spread over the cores; rate mode evaluates every image at its steady state in
a few matrix products.
"""
from __future__ import annotations

import hashlib
import time
import weakref
from dataclasses import dataclass

import numpy as np

from .datasets import Dataset
from .kernels.train import test_spiking
from .network import Network
from .spec import ModelSpec

RATE_TEST_BATCH = 2000     # images per matrix product (BLAS rounds a row alike only within one batch size)
RATE_FIXED_POINT_ITERATIONS = 8


@dataclass
class TestResult:
    __test__ = False  # not a pytest class
    error_pct: float
    n_images: int
    predictions: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    wall_s: float

    @property
    def images_per_s(self) -> float:
        return self.n_images / self.wall_s if self.wall_s > 0 else float("inf")


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def rate_forward_batch(net: Network, spec: ModelSpec, images_u8: np.ndarray) -> list[np.ndarray]:
    """Steady-state forward-phase voltages of every layer for a batch of images.

    Returns ``[rates_inputs, rates_1, ..., V_out]``: rates for the inputs and hidden
    layers, the output soma voltage (what the prediction reads) last.
    """
    L = net.n_layers
    k_b, k_a, k_d = spec.k_b, spec.k_a, spec.k_d
    phi0 = spec.phi_max * (np.asarray(images_u8, dtype=np.float64) / 255.0)
    passes = 1 if spec.g_a == 0.0 else RATE_FIXED_POINT_ITERATIONS
    va = [None] * (L + 1)
    for it in range(passes):
        acts = [phi0]
        for j in range(1, L + 1):
            vb = acts[-1] @ net.WT(j) + net.bias(j)
            if j < L:
                v = k_b * vb
                if it > 0:
                    v = v + k_a * va[j]
                acts.append(spec.phi_max * _sigmoid(v))
            else:
                v_out = k_d * vb
                acts.append(spec.phi_max * _sigmoid(v_out))
        for j in range(1, L):
            src = int(net.layout.fsrc[j])
            va[j] = spec.feedback_scale * acts[src] @ net.Y(j).T + net.c[net.layer_slice(j)]
    return acts[:L] + [v_out]


def simulation_dtype(spec: ModelSpec) -> type:
    """The floating type of the spiking simulation's weights and state (learning is float64 always)."""
    return np.float32 if spec.precision == "float32" and spec.mode == "spiking" else np.float64


def _test_weights(net: Network, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """The weights a spiking test reads; float32 weights run the whole test in float32."""
    sim = simulation_dtype(spec)
    if sim is np.float64:
        return net.w, net.b
    return net.w.astype(sim), net.b.astype(sim)


_TEST_SET_DIGESTS: "weakref.WeakKeyDictionary[Dataset, bytes]" = weakref.WeakKeyDictionary()


def _test_set_digest(data: Dataset) -> bytes:
    # A dataset's arrays are read-only (see Dataset), so one digest per object stays true.
    d = _TEST_SET_DIGESTS.get(data)
    if d is None:
        h = hashlib.blake2b(digest_size=16)
        for a in (data.test_images, data.test_labels):
            h.update(repr((a.dtype.str, a.shape)).encode())
            h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
        d = _TEST_SET_DIGESTS[data] = h.digest()
    return d


def key_of_test(net: Network, spec: ModelSpec, prm: np.ndarray, kappa: np.ndarray, data: Dataset,
                indices: np.ndarray, seed: int) -> str:
    """A digest of everything :func:`test_network` reads: equal digests give equal results.

    Test spikes are drawn from (seed, image index) alone and a test starts from a reset state, so
    a server holding many copies of one run (a class that opened the same link) can measure each
    of its example counts once.  The whole spec is part of it, although a few fields (e.g. the
    learning rates) do not change a test: a needless miss costs a test, a wrong hit a wrong number.
    """
    h = hashlib.blake2b(digest_size=20)
    h.update(spec.to_json().encode())
    h.update(repr((int(seed), _test_set_digest(data))).encode())
    for a in (net.w, net.b, net.y, net.c, prm, kappa, np.asarray(indices, dtype=np.int64)):
        a = np.ascontiguousarray(a)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def test_network(net: Network, spec: ModelSpec, prm: np.ndarray, kappa: np.ndarray, data: Dataset,
                 indices: np.ndarray, seed: int) -> TestResult:
    indices = np.asarray(indices, dtype=np.int64)
    labels = np.asarray(data.test_labels)[indices]
    t0 = time.perf_counter()
    if spec.mode == "rate":
        scores = np.empty((indices.size, spec.n_outputs))
        for s in range(0, indices.size, RATE_TEST_BATCH):
            part = indices[s:s + RATE_TEST_BATCH]
            scores[s:s + part.size] = rate_forward_batch(net, spec, data.test_images[part])[-1]
    else:
        scores = np.zeros((indices.size, spec.n_outputs))
        w0 = spec.test_steps - 220 if spec.test_window == "last220" else spec.settle_steps
        w, b = _test_weights(net, spec)
        test_spiking(net.layout, prm, kappa, w, b, net.y, net.c, data.test_images, indices,
                     spec.test_steps, max(0, w0), spec.psp == "exact", np.uint64(seed), spec.psp_taps, scores)
    wall = time.perf_counter() - t0
    pred = scores.argmax(axis=1)
    err = float(100.0 * np.mean(pred != labels)) if indices.size else float("nan")
    return TestResult(err, int(indices.size), pred, labels, scores, wall)
