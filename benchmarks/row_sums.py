"""The error back-projection's row sums, four rows at a time against one: ``python -m benchmarks.row_sums``.

``dendcore.kernels.learning._row_sums`` computes W^T e for each hidden layer of every example (backprop's
error, which the angle to backprop reads; feedback alignment's error too).  Both versions run in this one
process, in turns, on the layer sizes of 784-500-10 and 784-500-100-10, so a noisy machine slows both
alike; they must agree bit for bit.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from dendcore.kernels.learning import _row_sums


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
        best = {"one": np.inf, "four": np.inf}
        for _ in range(args.rounds):
            for name, f, out in (("one", one_row_at_a_time, a), ("four", four_rows_at_a_time, b)):
                t0 = time.perf_counter()
                f(M, v, out, args.calls)
                best[name] = min(best[name], (time.perf_counter() - t0) / args.calls)
        print(f"{what} ({rows} x {cols}): one row at a time {best['one'] * 1e6:.1f} us, "
              f"four {best['four'] * 1e6:.1f} us ({best['one'] / best['four']:.2f}x), best of {args.rounds}")


if __name__ == "__main__":
    main()
