"""Integer primitives and the golden model against the float executor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cgap.fixed_point import div_round, frac_for, saturate, saturate_relu, shift_round, to_fixed, to_float, wrap
from cgap.golden import quantize_input, run_golden
from cgap.hls import compile_network
from cgap_ir import executor
from fpga_model.hw import PRESETS
from tests.hls_nets import plain_net, relu_net, residual_net

ints = st.integers(-(2 ** 40), 2 ** 40)


@given(ints, st.integers(1, 30))
def test_shift_round_is_round_half_up(x, s):
    assert int(shift_round(np.int64(x), s)) == (2 * x + 2 ** s) // 2 ** (s + 1)


@given(ints, st.integers(1, 1000))
def test_div_round_is_round_half_up(x, n):
    assert int(div_round(np.int64(x), n)) == (2 * x + n) // (2 * n)


@given(st.integers(-(2 ** 62), 2 ** 62))
def test_wrap_is_twos_complement(x):
    got = int(wrap(np.int64(x), 16))
    assert -(2 ** 15) <= got < 2 ** 15 and (got - x) % 2 ** 16 == 0


def test_saturate_counts_and_relu_variant():
    x = np.array([-40000, -5, 0, 5, 40000])
    y, n = saturate(x, 16)
    assert list(y) == [-32768, -5, 0, 5, 32767] and n == 2
    y, n = saturate_relu(x, 16, relu=True)
    assert list(y) == [0, 0, 0, 5, 32767] and n == 1


def test_to_fixed_round_trip_and_frac_choice():
    assert frac_for(1.0, 16, -16, 32) == 14
    assert frac_for(0.0, 16, -16, 32) == 32
    q, sat = to_fixed(np.array([0.5, -1.25, 3.0]), 14, 16)
    assert sat == 1 and list(to_float(q, 14)[:2]) == [0.5, -1.25]


@pytest.mark.parametrize("preset,tol", [("zcu102-16b", 1e-3), ("zcu102-8b", 0.1)])
@pytest.mark.parametrize("make", [residual_net, plain_net, relu_net])
def test_golden_close_to_float(make, preset, tol):
    net = make()
    x = np.random.default_rng(3).normal(0, 1, (100, *net.input_shape))
    c = compile_network(net, PRESETS[preset], x, "g")
    result = run_golden(c.engine, quantize_input(x, c.engine))
    out = result.tensors[c.engine.output].reshape(len(x), -1)
    got = to_float(out, c.engine.tensor_frac(c.engine.output))
    ref = executor.run(net, x).reshape(len(x), -1)
    assert np.abs(got - ref).max() < tol * max(1.0, np.abs(ref).max())
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= (0.99 if preset.endswith("16b") else 0.9)


@given(n=st.integers(1, 4096), bits=st.sampled_from([8, 16]), data=st.data())
@settings(max_examples=100, deadline=None)
def test_reciprocal_division_equals_div_round(n, bits, data):
    """The engine divides a sum of n act_bits-wide values by n with a multiply and a shift (no divider in an II=1
    loop); with the magnitude bits fpga_model.geometry gives, it is exact over the whole range, both signs."""
    from cgap.fixed_point import div_round_reciprocal, reciprocal

    abits = n.bit_length() + bits + 1
    m, s = reciprocal(n, abits)
    lo, hi = -n * (1 << (bits - 1)), n * ((1 << (bits - 1)) - 1)
    edges = list(range(lo, lo + 2 * n)) + list(range(hi - 2 * n, hi + 1))   # every residue mod 2n at both ends
    for x in edges + [0, -1, 1] + data.draw(st.lists(st.integers(lo, hi), min_size=20, max_size=20)):
        assert div_round_reciprocal(x, n, m, s) == int(div_round(np.int64(x), n)), (x, n)
