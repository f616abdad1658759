"""Fixed-point golden kernels of Concat, Clip/ReLU6, LeakyReLU, Affine and Pad against the float executor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cgap import golden_ops
from cgap.fixed_point import to_fixed, to_float
from cgap_ir import LRN, Affine, Clip, LeakyReLU, Pad, executor

RNG = np.random.default_rng(0)
BITS, ACC = 16, 32


def _q(v: np.ndarray, frac: int) -> np.ndarray:
    return to_fixed(v, frac, BITS)[0]


def test_concat_aligns_to_the_smaller_frac():
    a, b = RNG.uniform(-1, 1, (2, 3, 4, 4)), RNG.uniform(-60, 60, (2, 2, 4, 4))
    y, frac, sats = golden_ops.concat([_q(a, 12), _q(b, 9)], [12, 9], BITS)
    assert frac == 9 and sats == 0 and y.shape == (2, 5, 4, 4)
    ref = executor.concat(to_float(_q(a, 12), 12), to_float(_q(b, 9), 9))
    assert np.abs(to_float(y, frac) - ref).max() <= 2.0 ** -10  # half an LSB of the output format


@pytest.mark.parametrize("lo, hi", [(0.0, 6.0), (-0.5, None), (None, 1.25)])
def test_clip_and_relu6_are_exact_on_representable_bounds(lo, hi):
    frac = 11
    x = _q(RNG.uniform(-12, 12, (2, 3, 5, 5)), frac)
    y = golden_ops.clip(x, golden_ops.clip_bounds(lo, hi, frac, BITS))
    np.testing.assert_array_equal(to_float(y, frac), executor.clip(to_float(x, frac), Clip(lo, hi)))


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.0, 0.99), frac=st.integers(4, 12))
def test_leaky_relu_multiply_shift_is_within_half_an_lsb_plus_slope_rounding(alpha, frac):
    x = _q(RNG.uniform(-8, 8, (1, 4, 6, 6)), frac)
    y = golden_ops.leaky(x, golden_ops.leaky_alpha(alpha))
    ref = executor.KERNELS["LeakyReLU"](LeakyReLU(alpha), to_float(x, frac))
    bound = 2.0 ** -(frac + 1) + np.abs(to_float(x, frac)).max() * 2.0 ** -(golden_ops.ALPHA_SHIFT + 1)
    assert np.abs(to_float(y, frac) - ref).max() <= bound + 1e-12
    np.testing.assert_array_equal(y[x >= 0], x[x >= 0])


def test_leaky_relu_slope_outside_unit_interval_is_refused():
    with pytest.raises(golden_ops.GoldenOpError, match="alpha 1.5 is outside"):
        golden_ops.leaky_alpha(1.5)


def test_affine_matches_the_float_op_within_its_rounding():
    scale, shift = RNG.uniform(-3, 3, 4), RNG.uniform(-1, 1, 4)
    in_frac = 10
    x = _q(RNG.uniform(-4, 4, (3, 4, 5, 5)), in_frac)
    ref = executor.affine(to_float(x, in_frac), Affine(4, scale=scale, shift=shift))
    q = golden_ops.quantize_affine(scale, shift, in_frac, float(np.abs(ref).max()), BITS, ACC)
    y, sats = golden_ops.affine(x, q, BITS, ACC)
    assert sats == 0
    scale_err = np.abs(to_float(q.scale, q.scale_frac) - scale).max() * np.abs(to_float(x, in_frac)).max()
    assert np.abs(to_float(y, q.out_frac) - ref).max() <= 2.0 ** -(q.out_frac + 1) + scale_err + 2.0 ** -q.acc_frac


def test_affine_shift_that_cannot_fit_the_accumulator_is_refused():
    with pytest.raises(golden_ops.GoldenOpError, match="does not fit the 32-bit accumulator"):
        golden_ops.quantize_affine(np.array([1e-4]), np.array([1e6]), 12, 1e6, BITS, ACC)


def test_pad_is_zero_at_every_frac():
    x = _q(RNG.uniform(-2, 2, (1, 2, 3, 4)), 13)
    y = golden_ops.pad(x, (1, 0, 2, 3))
    np.testing.assert_array_equal(to_float(y, 13), executor.KERNELS["Pad"](Pad((1, 0, 2, 3)), to_float(x, 13)))


@pytest.mark.parametrize("op", [LRN(5, 1e-4, 0.75, 1.0), LRN(5, 5e-4, 0.75, 2.0), LRN(3, 0.5, 0.6, 1.5)])
def test_lrn_through_a_table_is_close_to_the_float_op(op):
    """AlexNet's and ZFNet's LRN (and a strong one): within 1% of the largest output plus half an LSB."""
    frac = 8
    x = _q(RNG.uniform(-60, 60, (2, 8, 5, 5)), frac)
    table = golden_ops.lrn_table(op, frac, float(np.abs(to_float(x, frac)).max()), BITS)
    y, sats = golden_ops.lrn(x, op, table, BITS)
    ref = executor.lrn(to_float(x, frac), op)
    assert sats == 0 and len(table.entries) < 3000
    assert np.abs(to_float(y, frac) - ref).max() <= 0.01 * np.abs(ref).max() + 2.0 ** -(frac + 1)


def test_lrn_index_buckets_are_contiguous_and_narrow():
    s = np.arange(0, 1 << 16)
    index = golden_ops.lrn_index(s)
    assert index[0] == 0 and np.all(np.diff(index) >= 0) and np.all(np.diff(index) <= 1)
    centres = golden_ops._bucket_centres(int(index[-1]) + 1)
    assert np.all(np.abs(centres[index] - s) <= np.maximum(s, 1) * 2.0 ** -golden_ops.LRN_MANTISSA_BITS)
