"""Integer arithmetic shared by the quantiser and the golden model (numpy, int64).

Every function here has a line-for-line twin in ``hls_templates/cgap_fixed.h``; the two must
compute identical bits.  Conventions:

* a value with ``frac`` fractional bits is stored as the integer ``round(v * 2**frac)``;
* rounding is round-half-up (towards +inf on ties), i.e. ``floor(x + 1/2)``;
* requantisation saturates to the signed range of the target width and counts saturations;
* accumulators are two's-complement ``acc_bits`` wide and wrap (as ``ap_int`` does).
"""

from __future__ import annotations

import numpy as np


def int_range(bits: int) -> tuple[int, int]:
    """Return (min, max) of a signed ``bits``-bit integer."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Return ``x`` wrapped to signed ``bits`` bits (two's complement), as int64."""
    x = np.asarray(x, dtype=np.int64)
    if bits >= 64:
        return x
    half = np.int64(1) << np.int64(bits - 1)
    return ((x + half) & ((half << np.int64(1)) - 1)) - half


def saturate(x: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """Return (``x`` clipped to signed ``bits`` bits, number of clipped elements)."""
    lo, hi = int_range(bits)
    x = np.asarray(x, dtype=np.int64)
    count = int(np.count_nonzero((x < lo) | (x > hi)))
    return np.clip(x, lo, hi), count


def saturate_relu(x: np.ndarray, bits: int, relu: bool) -> tuple[np.ndarray, int]:
    """Return (saturate then optional ReLU of ``x``, saturations that survive the ReLU).

    With ReLU a value clipped at the negative limit becomes 0 either way, so only positive
    overflows count.
    """
    if not relu:
        return saturate(x, bits)
    hi = int_range(bits)[1]
    x = np.asarray(x, dtype=np.int64)
    return np.clip(x, 0, hi), int(np.count_nonzero(x > hi))


def shift_round(x: np.ndarray, shift: int) -> np.ndarray:
    """Return ``x * 2**-shift`` rounded half-up: ``((x >> (shift-1)) + 1) >> 1`` for shift > 0, ``x << -shift`` else."""
    x = np.asarray(x, dtype=np.int64)
    if shift > 0:
        return ((x >> np.int64(shift - 1)) + 1) >> np.int64(1)
    return x << np.int64(-shift)


def div_round(x: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """Return ``x / n`` rounded half-up (n > 0): ``floor((2x + n) / 2n)``."""
    x = np.asarray(x, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    return (2 * x + n) // (2 * n)


def to_fixed(v: np.ndarray, frac: int, bits: int) -> tuple[np.ndarray, int]:
    """Return (``v`` quantised to ``bits``-bit integers with ``frac`` fractional bits, saturations)."""
    scaled = np.floor(np.asarray(v, dtype=np.float64) * 2.0 ** frac + 0.5)
    lo, hi = int_range(bits)
    count = int(np.count_nonzero((scaled < lo) | (scaled > hi)))
    return np.clip(scaled, lo, hi).astype(np.int64), count


def to_float(q: np.ndarray, frac: int) -> np.ndarray:
    """Return the real values of integers ``q`` with ``frac`` fractional bits."""
    return np.asarray(q, dtype=np.float64) * 2.0 ** -frac


def frac_for(max_abs: float, bits: int, lo: int, hi: int) -> int:
    """Return the most fractional bits (clamped to [lo, hi]) that represent ``max_abs`` without saturating."""
    if not np.isfinite(max_abs) or max_abs <= 0:
        return hi
    frac = int(np.floor(np.log2(((1 << (bits - 1)) - 1) / max_abs)))
    return int(min(max(frac, lo), hi))


def reciprocal(n: int, magnitude_bits: int) -> tuple[int, int]:
    """Return (m, s) such that ``(a * m) >> s == a // (2 * n)`` for every 0 <= a < 2**magnitude_bits.

    ``m = ceil(2**s / 2n)`` with ``s = magnitude_bits + ceil(log2(2n))``: the error m*2n - 2**s is below 2n,
    so a*error < 2**s and the product never crosses the next multiple (Granlund & Montgomery, PLDI'94).
    The engine divides by a constant this way (no divider in an II=1 loop); see :func:`div_round_reciprocal`.
    """
    if n < 1 or magnitude_bits < 1:
        raise ValueError(f"reciprocal needs n >= 1 and magnitude_bits >= 1, got {n}, {magnitude_bits}")
    d = 2 * n
    s = magnitude_bits + (d - 1).bit_length()
    return -(-(1 << s) // d), s


def div_round_reciprocal(x: int, n: int, m: int, s: int) -> int:
    """Return :func:`div_round` of one integer computed as the engine does: floor((2x + n) / 2n) by the
    reciprocal (m, s) of :func:`reciprocal`, with the magnitude of a negative numerator rounded up first."""
    a = 2 * int(x) + int(n)
    if a >= 0:
        return (a * m) >> s
    return -(((-a + 2 * n - 1) * m) >> s)

