"""Fixed-point quantisation: per-tensor binary points chosen from calibration data.

``quantize(net, hw, calib)`` folds BN, fuses the network into engine layers (``fpga_model.schedule.fuse``),
runs the float executor on the calibration images and returns the folded network with
``meta["quant"]`` holding a :class:`QuantSpec`: the integer weights and biases of every engine
layer and the binary point of every engine tensor.

Formats (``frac`` = fractional bits; value = int * 2**-frac):

* activations ``act_bits`` wide, one frac per engine tensor, the largest that holds the calibrated
  max |value| of the tensor the layer saturates (the last fused node before a pool);
* weights ``weight_bits`` wide, one frac per layer from max |w|;
* conv accumulator frac = in_frac + w_frac (``acc_bits`` wide); bias stored at that frac;
* pool and gap layers keep their input's frac; an ``add`` accumulates at the larger input frac.

Constraints that keep every shift inside the accumulator (so C++ and numpy agree bit for bit):
0 <= acc_frac - out_frac <= acc_bits - 1, and a residual is shifted left by at most
acc_bits - act_bits - 1 and the bias must fit the accumulator (w_frac is lowered when needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cgap.errors import CgapError
from cgap.fixed_point import frac_for, int_range, to_fixed
from cgap.ir import INPUT, Network, executor
from cgap.passes.fold_bn import fold_bn
from fpga_model.hw import HwConfig
from fpga_model.schedule import EngineLayer, fuse


class QuantError(CgapError):
    """Calibration data or weights that cannot be quantised."""


@dataclass(frozen=True)
class LayerQuant:
    """Fixed-point parameters of one engine layer (shifts are what the engine's table holds)."""

    in_frac: int
    out_frac: int
    res_frac: int = 0
    w_frac: int = 0
    acc_frac: int = 0
    in_shift: int = 0          # add: left shift of the input into the accumulator (negative = round right)
    res_shift: int = 0         # conv/add: left shift of the residual into the accumulator
    out_shift: int = 0         # requantisation right shift acc -> output (>= 0)
    weight: np.ndarray | None = field(default=None, repr=False, compare=False)   # int64 (Nof, Nif, kh, kw)
    bias: np.ndarray | None = field(default=None, repr=False, compare=False)     # int64 at acc_frac


@dataclass(frozen=True)
class QuantSpec:
    """The quantisation of a network: widths, the frac of every engine tensor, per-layer parameters."""

    act_bits: int
    weight_bits: int
    acc_bits: int
    tensor_frac: dict[str, int]
    layers: dict[str, LayerQuant]
    ranges: dict[str, float]
    calib_images: int


def _frac_bounds(bits: int) -> tuple[int, int]:
    return -bits, 2 * bits


def _conv_fast(op, x: np.ndarray) -> np.ndarray:
    """Return an ungrouped Conv2d as one float32 matmul over im2col windows (calibration only)."""
    if op.groups != 1:
        return executor.conv2d(x, op)
    top, left, bottom, right = op.pads
    x = np.pad(x.astype(np.float32), ((0, 0), (0, 0), (top, bottom), (left, right)))
    win = sliding_window_view(x, op.kernel, axis=(2, 3))[:, :, ::op.stride[0], ::op.stride[1]]
    n, c, oh, ow, kh, kw = win.shape
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
    y = cols @ op.weight.reshape(op.out_channels, -1).astype(np.float32).T
    if op.bias is not None:
        y += op.bias.astype(np.float32)
    return y.reshape(n, oh, ow, op.out_channels).transpose(0, 3, 1, 2)


_CALIB_KERNELS = {**executor.KERNELS, "Conv2d": lambda op, x: _conv_fast(op, x)}
"""The executor's kernels with a float32 im2col convolution: ranges need no float64, and it is ~5x faster."""


def _forward_all(net: Network, x: np.ndarray) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {INPUT: x}
    for node in net.nodes:
        values[node.name] = _CALIB_KERNELS[node.op.kind](node.op, *(values[s] for s in node.inputs))
    return values


def calibrate(net: Network, calib: np.ndarray, batch: int = 25) -> dict[str, float]:
    """Return max |value| of every node output (and ``"input"``) of ``net`` over the calibration images."""
    calib = np.asarray(calib, dtype=np.float64)
    if calib.ndim != 4 or calib.shape[0] == 0:
        raise QuantError(f"calibration data must be a non-empty (N, C, H, W) array, got shape {calib.shape}")
    if not np.all(np.isfinite(calib)):
        raise QuantError("calibration data contains NaN or inf")
    ranges: dict[str, float] = {}
    for start in range(0, len(calib), batch):
        for name, value in _forward_all(net, calib[start:start + batch]).items():
            ranges[name] = max(ranges.get(name, 0.0), float(np.max(np.abs(value))))
    return ranges


def range_nodes(net: Network) -> list[str]:
    """Return the nodes of a BN-folded ``net`` whose calibrated ranges :func:`quant_spec` reads (plus INPUT)."""
    return [INPUT] + [_value_node(net, layer) for layer in fuse(net)]


def _value_node(net: Network, layer: EngineLayer) -> str:
    """Return the fused node whose output the layer saturates (the last one before a pool)."""
    names = [n for n in layer.nodes if net.node(n).op.kind not in ("MaxPool", "AvgPool")]
    return names[-1] if names else layer.nodes[-1]


def _out_frac(max_abs: float, acc_frac: int, hw: HwConfig) -> int:
    lo, hi = _frac_bounds(hw.act_bits)
    frac = frac_for(max_abs, hw.act_bits, lo, hi)
    return min(max(frac, acc_frac - hw.acc_bits + 1), acc_frac)


def _conv_weights(net: Network, layer: EngineLayer) -> tuple[np.ndarray, np.ndarray]:
    """Return float64 (weight (Nof, Nif, kh, kw), bias (Nof,)) of a folded conv/linear engine layer."""
    op = net.node(layer.nodes[0]).op
    if op.kind == "BatchNorm" or (len(layer.nodes) > 1 and net.node(layer.nodes[1]).op.kind == "BatchNorm"):
        raise QuantError(f"layer {layer.name!r}: BatchNorm not folded")
    weight = np.asarray(op.weight, dtype=np.float64)
    weight = weight.reshape(weight.shape[0], *layer.in_shape) if weight.ndim == 2 else weight
    bias = np.asarray(op.bias, dtype=np.float64) if op.bias is not None else np.zeros(weight.shape[0])
    return weight, bias


def _quant_conv(net: Network, layer: EngineLayer, fracs: dict[str, int], ranges: dict, hw: HwConfig) -> LayerQuant:
    weight, bias = _conv_weights(net, layer)
    in_frac = fracs[layer.input]
    w_frac = frac_for(float(np.max(np.abs(weight))), hw.weight_bits, *_frac_bounds(hw.weight_bits))
    res_frac = fracs[layer.residual] if layer.residual else 0
    if layer.residual:
        w_frac = min(w_frac, res_frac + hw.acc_bits - hw.act_bits - 1 - in_frac)
    bias_frac = frac_for(float(np.max(np.abs(bias), initial=0.0)), hw.acc_bits, -hw.acc_bits, 2 * hw.acc_bits)
    w_frac = min(w_frac, bias_frac - in_frac)
    acc_frac = in_frac + w_frac
    out_frac = _out_frac(ranges[_value_node(net, layer)], acc_frac, hw)
    wq, _ = to_fixed(weight, w_frac, hw.weight_bits)
    bq, bias_sat = to_fixed(bias, acc_frac, hw.acc_bits)
    if bias_sat:
        raise QuantError(f"layer {layer.name!r}: bias does not fit {hw.acc_bits}-bit accumulator at frac {acc_frac}")
    return LayerQuant(in_frac=in_frac, out_frac=out_frac, res_frac=res_frac, w_frac=w_frac, acc_frac=acc_frac,
                      res_shift=acc_frac - res_frac if layer.residual else 0, out_shift=acc_frac - out_frac,
                      weight=wq, bias=bq)


def _quant_add(net: Network, layer: EngineLayer, fracs: dict[str, int], ranges: dict, hw: HwConfig) -> LayerQuant:
    fa, fb = fracs[layer.input], fracs[layer.residual]
    acc_frac = min(max(fa, fb), min(fa, fb) + hw.acc_bits - hw.act_bits - 1)
    out_frac = _out_frac(ranges[_value_node(net, layer)], acc_frac, hw)
    return LayerQuant(in_frac=fa, out_frac=out_frac, res_frac=fb, acc_frac=acc_frac, in_shift=acc_frac - fa,
                      res_shift=acc_frac - fb, out_shift=acc_frac - out_frac)


def _quant_layer(net: Network, layer: EngineLayer, fracs: dict[str, int], ranges: dict, hw: HwConfig) -> LayerQuant:
    if layer.kind == "conv":
        return _quant_conv(net, layer, fracs, ranges, hw)
    if layer.kind == "add":
        return _quant_add(net, layer, fracs, ranges, hw)
    in_frac = fracs[layer.input]
    return LayerQuant(in_frac=in_frac, out_frac=in_frac, acc_frac=in_frac)


def quant_spec(net: Network, hw: HwConfig, calib: np.ndarray, ranges: dict[str, float] | None = None) -> QuantSpec:
    """Return the :class:`QuantSpec` of a BN-folded ``net`` on ``hw`` calibrated on ``calib``
    (or on ``ranges`` already computed by :func:`calibrate` on those images)."""
    ranges = calibrate(net, calib) if ranges is None else ranges
    lo, hi = _frac_bounds(hw.act_bits)
    fracs = {INPUT: frac_for(ranges[INPUT], hw.act_bits, lo, hi)}
    layers: dict[str, LayerQuant] = {}
    for layer in fuse(net):
        lq = _quant_layer(net, layer, fracs, ranges, hw)
        layers[layer.name] = lq
        fracs[layer.output] = lq.out_frac
    return QuantSpec(act_bits=hw.act_bits, weight_bits=hw.weight_bits, acc_bits=hw.acc_bits, tensor_frac=fracs,
                     layers=layers, ranges=ranges, calib_images=len(calib))


def quantize(net: Network, hw: HwConfig, calib: np.ndarray, ranges: dict[str, float] | None = None) -> Network:
    """Return ``net`` with BN folded and ``meta["quant"]`` = its :class:`QuantSpec` for ``hw``."""
    folded = fold_bn(net)
    return replace(folded, meta={**net.meta, "quant": quant_spec(folded, hw, calib, ranges)})


def dequantized(net: Network) -> Network:
    """Return a float network whose conv/linear weights and biases are snapped to the fixed-point grid of
    ``net.meta["quant"]`` (a fake-quantised model the float executor can run)."""
    spec: QuantSpec = net.meta["quant"]
    nodes = []
    for node in net.nodes:
        lq = spec.layers.get(node.name)
        if lq is not None and lq.weight is not None:
            w = (lq.weight * 2.0 ** -lq.w_frac).reshape(node.op.weight.shape)
            node = type(node)(node.name, replace(node.op, weight=w, bias=lq.bias * 2.0 ** -lq.acc_frac), node.inputs)
        nodes.append(node)
    return replace(net, nodes=tuple(nodes), meta=dict(net.meta))


__all__ = ["LayerQuant", "QuantError", "QuantSpec", "calibrate", "dequantized", "int_range", "quant_spec", "quantize"]
