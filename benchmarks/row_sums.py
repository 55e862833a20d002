"""Ordered sums four at a time against one at a time: ``python -m benchmarks.row_sums``.

Two per-example sums of the spiking training are computed four at a time, each still in its own order
(so bit for bit as before): ``dendcore.kernels.learning._row_sums``, W^T e for each hidden layer
(backprop's error, which the angle to backprop reads; feedback alignment's error too), and
``dendcore.kernels.spiking._slot_dots``, the dot of a layer's input rates with each slot of the spike
ring when an update shifts the basal filter states.  Both versions run in this one process, in turns,
on the sizes of 784-500-10 and 784-500-100-10, so a noisy machine slows both alike; they must agree bit
for bit.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from dendcore.kernels.learning import _row_sums
from dendcore.kernels.spiking import _slot_dots


@njit(cache=True)
def one_row_at_a_time(M, v, out, reps):
    nr, nc = M.shape
    for _ in range(reps):
        for n in range(nr):
            a = 0.0
            for m in range(nc):
                a += M[n, m] * v[m]
            out[n] = a


@njit(cache=True)
def four_rows_at_a_time(M, v, out, reps):
    for _ in range(reps):
        _row_sums(M, v, 0, out, 0)


@njit(cache=True)
def one_slot_at_a_time(hist, v, lo, hi, out, reps):
    taps = hist.shape[0]
    for k in range(reps):
        t_last = k
        for d in range(taps):
            r = (t_last - d) % taps
            a = 0.0
            for i in range(lo, hi):
                a += v[i] * hist[r, i]
            out[d] = a


@njit(cache=True)
def four_slots_at_a_time(hist, v, lo, hi, out, reps):
    for k in range(reps):
        _slot_dots(hist, k, hist.shape[0], v, lo, hi, out)


def _best_of(rounds, calls, pair):
    best = [np.inf, np.inf]
    for _ in range(rounds):
        for k, run in enumerate(pair):
            t0 = time.perf_counter()
            run(calls)
            best[k] = min(best[k], (time.perf_counter() - t0) / calls)
    return best


def _report(what, best, rounds):
    print(f"{what}: one at a time {best[0] * 1e6:.1f} us, four {best[1] * 1e6:.1f} us "
          f"({best[0] / best[1]:.2f}x), best of {rounds}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    for rows, cols, what in [(500, 10, "784-500-10: 500 hidden neurons, 10 outputs"),
                             (500, 100, "784-500-100-10: the first hidden layer under the second")]:
        M = rng.standard_normal((rows, cols))
        v = rng.standard_normal(cols)
        a, b = np.zeros(rows), np.zeros(rows)
        one_row_at_a_time(M, v, a, 1)
        four_rows_at_a_time(M, v, b, 1)
        assert np.array_equal(a, b), "the two orders must agree bit for bit"
        best = _best_of(args.rounds, args.calls, (lambda k: one_row_at_a_time(M, v, a, k),
                                                  lambda k: four_rows_at_a_time(M, v, b, k)))
        _report(f"W^T e, {what} ({rows} x {cols})", best, args.rounds)
    # the spike ring of 784-500-10 in float32 (10 slots, the default truncated PSP kernel), the input
    # rates of one example (background pixels fire at no rate), and the hidden layer's rates
    n_total = 784 + 500 + 10
    hist = (rng.random((10, n_total)) < 0.05).astype(np.float32)
    sf = rng.random(n_total) * (rng.random(n_total) < 0.3)
    for lo, hi, what in [(0, 784, "784 inputs"), (784, 1284, "500 hidden neurons")]:
        a, b = np.zeros(10), np.zeros(10)
        one_slot_at_a_time(hist, sf, lo, hi, a, 1)
        four_slots_at_a_time(hist, sf, lo, hi, b, 1)
        assert np.array_equal(a, b), "the two orders must agree bit for bit"
        best = _best_of(args.rounds, args.calls, (lambda k: one_slot_at_a_time(hist, sf, lo, hi, a, k),
                                                  lambda k: four_slots_at_a_time(hist, sf, lo, hi, b, k)))
        _report(f"ring slot dots, 10 slots of {what}", best, args.rounds)


if __name__ == "__main__":
    main()
