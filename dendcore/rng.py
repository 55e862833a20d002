"""Explicit, splittable random numbers for the kernels.

The generator is xoshiro256++ seeded through splitmix64. Its whole state is a
``uint64[4]`` array that the caller owns, so saving a run saves its randomness,
a kernel can be handed any stream, and every test image can get a stream of its
own (derived from the run seed and the image index) which makes parallel
testing independent of scheduling.

The same functions serve the Numba kernels and the NumPy reference twins, so
both consume identical streams.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0

# Stream identifiers: each use of randomness in a run draws from its own stream,
# so e.g. testing more often never changes the training spikes.
STREAM_INIT = 1
STREAM_ORDER = 2
STREAM_TRAIN = 3
STREAM_TEST = 4
STREAM_FEEDBACK = 5


@njit(cache=True, nogil=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, nogil=True)
def _splitmix(x):
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def seed_state(state, key0, key1, key2):
    """Fill ``state`` from three integer keys (seed, stream, index)."""
    x = np.uint64(key0) * _MIX1 ^ np.uint64(key1) * _MIX2 ^ np.uint64(key2) * _GOLDEN
    for i in range(4):
        x = x + _GOLDEN
        state[i] = _splitmix(x)
    # xoshiro must never sit in the all-zero state
    if state[0] == 0 and state[1] == 0 and state[2] == 0 and state[3] == 0:
        state[0] = np.uint64(1)


@njit(cache=True, nogil=True, inline="always")
def _step(s0, s1, s2, s3):
    """One xoshiro256++ output from a state in four locals; returns (output, s0, s1, s2, s3)."""
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True, nogil=True)
def next_u64(s):
    result, s[0], s[1], s[2], s[3] = _step(s[0], s[1], s[2], s[3])
    return result


@njit(cache=True, nogil=True)
def uniform(s):
    """A double in [0, 1) with 53 random bits."""
    return float(next_u64(s) >> np.uint64(11)) * _TWO_POW_MINUS_53


@njit(cache=True, nogil=True, inline="always")
def uniform_words(s0, s1, s2, s3):
    """:func:`uniform` from a state held in four locals; returns (u, s0, s1, s2, s3).

    A kernel drawing once per spike keeps the state in locals: every call that is
    handed the state array takes and drops a reference to it, two atomic operations,
    which cost about a tenth of a training step when done per input spike.
    """
    result, s0, s1, s2, s3 = _step(s0, s1, s2, s3)
    return float(result >> np.uint64(11)) * _TWO_POW_MINUS_53, s0, s1, s2, s3


_SQRT2 = math.sqrt(2.0)
_LN2_HI = 0.6931471803691238      # ln 2 split so that e * _LN2_HI is exact for |e| < 2^20
_LN2_LO = 1.9082149292705877e-10
_EXP_BIAS = 4503599627370496.0 + 1023.0  # 2^52 + the exponent bias, exact (also builds 2^k in kernels)


@njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
def log_positive(x):
    """Natural logarithm of a positive, normal double, in plain arithmetic.

    Spiking neurons draw an Exp(1) per spike, and calling the C library's log
    from the spike loop forced every live vector register to be saved around
    the call: the loop ran at half speed. x = m 2^e with m in [sqrt(1/2), sqrt(2)),
    log m = 2 atanh(s) with s = (m - 1) / (m + 1), |s| < 0.172, summed to s^21.
    Within 3 ulp of the library log (tested).
    """
    bits = np.float64(x).view(np.uint64)
    # the biased exponent as a double without an integer conversion (AVX2 has none for 64-bit
    # lanes, so a loop over many draws would leave the vector unit): 2^52 + k has k in its low bits
    e = np.uint64((bits >> np.uint64(52)) | np.uint64(0x4330000000000000)).view(np.float64) - _EXP_BIAS
    m = np.uint64((bits & np.uint64(0x000FFFFFFFFFFFFF)) | np.uint64(0x3FF0000000000000)).view(np.float64)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1.0 if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    # sum of z^k / (2k + 1), k = 0..10: the small high-order terms in Estrin's order
    # (a spike waits for its draw, so a shallow chain beats fewer operations), the
    # leading ones by Horner so the rounding stays at the last place
    z2 = z * z
    z4 = z2 * z2
    tail = (((1.0 / 7 + z * (1.0 / 9)) + z2 * (1.0 / 11 + z * (1.0 / 13)))
            + z4 * ((1.0 / 15 + z * (1.0 / 17)) + z2 * (1.0 / 19 + z * (1.0 / 21))))
    series = 1.0 + z * (1.0 / 3 + z * (1.0 / 5 + z * tail))
    return e * _LN2_HI + (e * _LN2_LO + 2.0 * s * series)


@njit(cache=True, nogil=True)
def exponential(s):
    """Exp(1) by inversion; 1 - u lies in (0, 1] so the log is finite."""
    return -log_positive(1.0 - uniform(s))


@njit(cache=True, nogil=True, inline="always")
def fill_exponentials(buf, m, s0, s1, s2, s3):
    """The next ``m`` draws of :func:`exponential` into ``buf[:m]``; returns the new state (s0, s1, s2, s3).

    The same values from the same stream as ``m`` calls of :func:`exponential`:
    the uniforms are drawn one after another (the generator is serial), then
    their logarithms are taken in a separate loop, which vectorises.
    """
    for i in range(m):
        result, s0, s1, s2, s3 = _step(s0, s1, s2, s3)
        buf[i] = 1.0 - float(result >> np.uint64(11)) * _TWO_POW_MINUS_53
    for i in range(m):
        buf[i] = -log_positive(buf[i])
    return s0, s1, s2, s3


@njit(cache=True, nogil=True, inline="always")
def poisson_words(mu, s0, s1, s2, s3):
    """:func:`poisson` from a state in four locals; returns (count, s0, s1, s2, s3)."""
    total = 0
    while mu > 0.0:
        m = min(mu, 32.0)
        mu -= m
        u, s0, s1, s2, s3 = uniform_words(s0, s1, s2, s3)
        p = math.exp(-m)
        cdf = p
        k = 0
        while u > cdf and p > 0.0:
            k += 1
            p *= m / k
            cdf += p
        total += k
    return total, s0, s1, s2, s3


@njit(cache=True, nogil=True)
def poisson(s, mu):
    """Poisson count by inversion of the CDF, in pieces of mean <= 32 (no underflow)."""
    total, s[0], s[1], s[2], s[3] = poisson_words(mu, s[0], s[1], s[2], s[3])
    return total


@njit(cache=True, nogil=True)
def normal(s):
    """N(0, 1) by Box-Muller; always two uniforms, so stream use is predictable."""
    u1 = 1.0 - uniform(s)
    u2 = uniform(s)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True, nogil=True)
def wald(s, mean, scale):
    """Inverse-Gaussian draw (Michael, Schucany & Haas transformation)."""
    y = normal(s)
    y = mean * y * y
    x = mean + (mean / (2.0 * scale)) * (y - math.sqrt(4.0 * scale * y + y * y))
    if uniform(s) <= mean / (mean + x):
        return x
    return mean * mean / x


@njit(cache=True, nogil=True)
def randint(s, n):
    """Uniform integer in [0, n) (multiply-shift; bias below 2**-40 for our n)."""
    return int(uniform(s) * n)


@njit(cache=True, nogil=True)
def permutation(s, n):
    """Fisher-Yates shuffle of range(n)."""
    out = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = randint(s, i + 1)
        out[i], out[j] = out[j], out[i]
    return out


@njit(cache=True, nogil=True)
def fill_uniform(s, out):
    flat = out.reshape(-1)
    for i in range(flat.size):
        flat[i] = uniform(s)


def new_state(seed: int, stream: int, index: int = 0) -> np.ndarray:
    state = np.zeros(4, dtype=np.uint64)
    seed_state(state, int(seed) & 0xFFFFFFFFFFFFFFFF, int(stream), int(index))
    return state


def uniform_array(state: np.ndarray, shape) -> np.ndarray:
    out = np.empty(shape, dtype=np.float64)
    fill_uniform(state, out)
    return out
