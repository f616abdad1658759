"""BN folding and quantisation passes, checked by running the network before and after on the executor."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cgap.lower import lower_network, quantize
from cgap.passes import fold_bn
from cgap.passes.quantize import QuantError, calibrate, dequantized, value_node
from cgap_ir import BatchNorm, executor
from fpga_model.hw import PRESETS
from tests.hls_nets import plain_net, residual_net


@pytest.mark.parametrize("make", [residual_net, plain_net])
def test_fold_bn_preserves_function_and_removes_bn(make):
    net = make()
    x = np.random.default_rng(0).normal(0, 1, (8, *net.input_shape))
    folded = fold_bn(net)
    assert not any(isinstance(n.op, BatchNorm) for n in folded.nodes)
    assert len(folded.nodes) < len(net.nodes)
    np.testing.assert_allclose(executor.run(folded, x), executor.run(net, x), rtol=1e-10, atol=1e-10)
    assert folded.output == net.output


def test_fold_bn_is_pure():
    net = residual_net()
    before = [n.op.weight.copy() for n in net.nodes if getattr(n.op, "weight", None) is not None]
    fold_bn(net)
    after = [n.op.weight for n in net.nodes if getattr(n.op, "weight", None) is not None]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("bits", ["zcu102-16b", "zcu102-8b"])
def test_quantized_weights_stay_close(bits):
    hw = PRESETS[bits]
    net = residual_net()
    x = np.random.default_rng(1).normal(0, 1, (100, *net.input_shape))
    lowered = lower_network(net, hw)
    program = quantize(lowered, x)
    assert "quant" not in net.meta and not lowered.program.quantized and program.quantized
    fake = dequantized(lowered.net, program)
    err = np.abs(executor.run(fake, x) - executor.run(net, x)).max()
    scale = np.abs(executor.run(net, x)).max()
    assert err < scale * (2e-3 if hw.weight_bits == 16 else 0.1)
    assert err > 0  # weights really were snapped to the grid


def test_quant_spec_binary_points_cover_calibrated_range():
    hw = PRESETS["zcu102-16b"]
    net = plain_net()
    x = np.random.default_rng(2).normal(0, 1, (100, *net.input_shape))
    lowered = lower_network(net, hw)
    program = quantize(lowered, x)
    ranges = calibrate(lowered.net, x)
    assert ranges["input"] <= (2 ** 15 - 1) * 2.0 ** -program.input_frac
    for p in program.layers:
        assert ranges[value_node(p.layer)] <= (2 ** 15 - 1) * 2.0 ** -program.tensor_frac(p.layer.output)
    for lq in (p.quant for p in program.layers):
        assert 0 <= lq.out_shift < hw.acc_bits
        if lq.weight is not None:
            assert np.abs(lq.weight).max() <= 2 ** 15 - 1


def test_calibration_rejects_nan():
    net = plain_net()
    x = np.full((4, *net.input_shape), np.nan)
    with pytest.raises(QuantError, match="NaN"):
        quantize(lower_network(net, dataclasses.replace(PRESETS["tiny-test"])), x)


def test_fast_calibration_ranges_match_the_executor():
    net = fold_bn(residual_net())
    x = np.random.default_rng(4).normal(0, 1, (30, *net.input_shape))
    ranges = calibrate(net, x)
    ref = {k: float(np.abs(v).max()) for k, v in executor.run(net, x, keep=True).items()}
    assert ranges.keys() == ref.keys()
    for name, value in ref.items():
        assert abs(ranges[name] - value) <= 1e-5 * max(value, 1e-9), name
