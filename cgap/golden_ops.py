"""Fixed-point golden semantics of the ops the ONNX zoo brought into the IR: Concat, Clip (ReLU6), LeakyReLU,
Affine and Pad (AvgPool with ``count_include_pad`` both ways is :func:`cgap.golden.pool_layer` already).

These are the integer kernels the engine's new datapath must reproduce bit for bit, with the choice of their
parameters from calibration (like :mod:`cgap.passes.quantize` for conv/pool/gap/add).  The engine does not run
these ops yet (``fpga_model.schedule`` refuses them by node and op); once its layer table carries them,
:mod:`cgap.golden` calls these kernels.  Values are int64 numpy arrays (N, C, H, W) holding ``act_bits`` integers
with ``frac`` fractional bits; ``shift_round`` is round-half-up (:mod:`cgap.fixed_point`).

``concat``  y_i = saturate(align(x_i, out_frac - frac_i)) per input, stacked on channels (out_frac = the smallest
            input frac, so nothing saturates unless an input was already at the limit)
``clip``    y = min(max(x, lo_q), hi_q), bounds round(lo * 2**frac) (ReLU6: [0, 6 * 2**frac]); frac unchanged
``leaky``   y = x for x >= 0, shift_round(x * alpha_q, ALPHA_SHIFT) otherwise; alpha_q = round(alpha * 2**15)
``affine``  acc = x * scale_q[c] + shift_q[c] (acc_frac = frac + scale_frac, wraps at acc_bits);
            y = saturate(shift_round(acc, acc_frac - out_frac))
``pad``     zero rows/columns around H and W (0 is exact at every frac); frac unchanged
``lrn``     s = sum of x**2 over the channel window (exact, int64); y = saturate(shift_round(x * T[lrn_index(s)],
            T.frac)): a table of (bias + alpha/size * s)**-beta at the centre of each bucket of s, buckets indexed
            like a float (exponent, 6 mantissa bits) up to the calibrated range; frac unchanged.  The table is data
            (the same entries would be written into the C++), so C-sim can match it bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cgap.fixed_point import frac_for, saturate, shift_round, to_fixed, wrap
from cgap_ir import LRN
from cgap_ir.errors import CgapError

ALPHA_SHIFT = 15
"""Fractional bits of LeakyReLU's slope multiplier (a 16-bit signed constant for 0 <= alpha < 1)."""


class GoldenOpError(CgapError):
    """Parameters of a new op that do not fit the fixed-point formats."""


def concat(xs: list[np.ndarray], fracs: list[int], act_bits: int) -> tuple[np.ndarray, int, int]:
    """Return (channel concatenation of ``xs`` at the smallest of their ``fracs``, that frac, saturations)."""
    out_frac = min(fracs)
    parts, sats = [], 0
    for x, frac in zip(xs, fracs, strict=True):
        y, s = saturate(shift_round(x, frac - out_frac), act_bits)
        parts.append(y)
        sats += s
    return np.concatenate(parts, axis=1), out_frac, sats


def clip_bounds(lo: float | None, hi: float | None, frac: int, act_bits: int) -> tuple[int, int]:
    """Return the integer bounds of a Clip at ``frac`` (a missing bound is the act_bits range limit)."""
    full_lo, full_hi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    lo_q = full_lo if lo is None else int(to_fixed(np.array(lo), frac, act_bits)[0])
    hi_q = full_hi if hi is None else int(to_fixed(np.array(hi), frac, act_bits)[0])
    return lo_q, hi_q


def clip(x: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    """Return ``x`` clamped to the integer ``bounds`` (frac unchanged; never saturates)."""
    return np.clip(np.asarray(x, dtype=np.int64), bounds[0], bounds[1])


def leaky_alpha(alpha: float) -> int:
    """Return LeakyReLU's slope as the integer multiplier at :data:`ALPHA_SHIFT` fractional bits."""
    if not 0.0 <= alpha < 1.0:
        raise GoldenOpError(f"LeakyReLU alpha {alpha} is outside [0, 1): no fixed-point multiplier for it")
    return int(np.floor(alpha * 2.0 ** ALPHA_SHIFT + 0.5))


def leaky(x: np.ndarray, alpha_q: int) -> np.ndarray:
    """Return LeakyReLU of ``x``: negatives times ``alpha_q``, shifted right by ALPHA_SHIFT (frac unchanged)."""
    x = np.asarray(x, dtype=np.int64)
    return np.where(x >= 0, x, shift_round(x * np.int64(alpha_q), ALPHA_SHIFT))


@dataclass(frozen=True)
class AffineQuant:
    """Integer per-channel scale (``scale_frac`` fractional bits) and shift (at acc_frac = in_frac + scale_frac)."""

    in_frac: int
    out_frac: int
    scale_frac: int
    scale: np.ndarray = field(repr=False, compare=False)
    shift: np.ndarray = field(repr=False, compare=False)

    @property
    def acc_frac(self) -> int:
        """Return the accumulator's fractional bits."""
        return self.in_frac + self.scale_frac


def quantize_affine(scale: np.ndarray, shift: np.ndarray, in_frac: int, out_max_abs: float, act_bits: int,
                    acc_bits: int) -> AffineQuant:
    """Return the fixed-point form of y = x * scale + shift for inputs at ``in_frac`` and a calibrated output range
    ``out_max_abs`` (scale at weight precision act_bits; shift must fit the accumulator)."""
    scale, shift = np.asarray(scale, np.float64), np.asarray(shift, np.float64)
    scale_frac = frac_for(float(np.max(np.abs(scale), initial=0.0)), act_bits, -act_bits, 2 * act_bits)
    out_frac = min(frac_for(out_max_abs, act_bits, -act_bits, 2 * act_bits), in_frac + scale_frac)
    out_frac = max(out_frac, in_frac + scale_frac - acc_bits + 1)
    scale_q, _ = to_fixed(scale, scale_frac, act_bits)
    shift_q, sat = to_fixed(shift, in_frac + scale_frac, acc_bits)
    if sat:
        raise GoldenOpError(f"Affine shift does not fit the {acc_bits}-bit accumulator at frac {in_frac + scale_frac}")
    return AffineQuant(in_frac, out_frac, scale_frac, scale_q, shift_q)


def affine(x: np.ndarray, q: AffineQuant, act_bits: int, acc_bits: int) -> tuple[np.ndarray, int]:
    """Return (Affine of ``x`` at ``q.out_frac``, saturations)."""
    per_channel = (1, -1, 1, 1)
    acc = np.asarray(x, dtype=np.int64) * q.scale.reshape(per_channel) + q.shift.reshape(per_channel)
    return saturate(shift_round(wrap(acc, acc_bits), q.acc_frac - q.out_frac), act_bits)


def pad(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Return ``x`` with zero rows/columns added (top, left, bottom, right); frac unchanged."""
    top, left, bottom, right = pads
    return np.pad(np.asarray(x, dtype=np.int64), ((0, 0), (0, 0), (top, bottom), (left, right)))


LRN_MANTISSA_BITS = 6
"""Mantissa bits of the LRN table index: buckets of square sums are at most 2**-6 of their value wide."""


@dataclass(frozen=True)
class LrnTable:
    """The LRN normaliser table: ``entries[i]`` = (bias + alpha/size * s)**-beta at ``frac`` fractional bits, at
    the centre of the integer square sums s in bucket i (:func:`lrn_index`)."""

    frac: int
    entries: np.ndarray = field(repr=False, compare=False)


def lrn_index(s: np.ndarray) -> np.ndarray:
    """Return the table index of integer square sums ``s`` (< 2**53): s itself below 2**M (M mantissa bits), else
    2**M * (e + 1) + (s >> e) - 2**M with e = bit_length(s) - M - 1, like a float's exponent and mantissa."""
    s = np.asarray(s, dtype=np.int64)
    m = LRN_MANTISSA_BITS
    e = np.maximum(np.frexp(s.astype(np.float64))[1] - m - 1, 0).astype(np.int64)   # frexp: exact bit length
    return np.where(s < (1 << m), s, (e + 1) * (1 << m) + (s >> e) - (1 << m))


def _bucket_centres(count: int) -> np.ndarray:
    """Return the mid-point of the integer square sums of each of the first ``count`` buckets."""
    m = LRN_MANTISSA_BITS
    index = np.arange(count, dtype=np.int64)
    e = np.maximum(index // (1 << m) - 1, 0)
    low = np.where(index < (1 << m), index, ((index % (1 << m)) + (1 << m)) << e)
    return low + (2.0 ** e - 1) / 2.0


def lrn_table(op: LRN, in_frac: int, max_abs_in: float, act_bits: int) -> LrnTable:
    """Return the table of ``op`` for inputs at ``in_frac`` whose calibrated max |value| is ``max_abs_in``."""
    max_sum = op.size * int(np.ceil(max_abs_in * 2.0 ** in_frac)) ** 2
    centres = _bucket_centres(int(lrn_index(np.array([max_sum]))[0]) + 1)
    factor = (op.bias + op.alpha / op.size * centres * 2.0 ** (-2 * in_frac)) ** -op.beta
    frac = frac_for(float(factor.max()), act_bits, 0, 2 * act_bits)
    return LrnTable(frac, to_fixed(factor, frac, act_bits)[0])


def lrn(x: np.ndarray, op: LRN, table: LrnTable, act_bits: int) -> tuple[np.ndarray, int]:
    """Return (LRN of ``x`` through ``table`` at x's frac, saturations); sums beyond the table use its last entry."""
    x = np.asarray(x, dtype=np.int64)
    before, after = (op.size - 1) // 2, -(-(op.size - 1) // 2)
    squares = np.pad(x * x, ((0, 0), (before, after), (0, 0), (0, 0)))
    sums = sliding_window_view(squares, op.size, axis=1).sum(axis=-1)
    index = np.minimum(lrn_index(sums), len(table.entries) - 1)
    return saturate(shift_round(x * table.entries[index], table.frac), act_bits)
