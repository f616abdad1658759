"""Fixed-point quantisation of an engine program: per-tensor binary points chosen from calibration data.

``quantize_program(program, ranges, calib_images)`` is a pure ``EngineProgram -> EngineProgram`` transform
(``cgap.lower``): given the calibrated max |value| of the IR nodes each layer saturates (:func:`calibrate`
on the BN-folded network, or onnxruntime probes on :func:`range_nodes`), it returns the program with every
layer's :class:`~fpga_model.engine_program.LayerQuant`: integer weights and biases and the shifts the
engine's table holds.

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

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cgap.fixed_point import frac_for, int_range, to_fixed
from cgap_ir import INPUT, Network, executor
from cgap_ir.errors import CgapError
from fpga_model.engine_program import EngineProgram, LayerQuant, ProgramLayer
from fpga_model.hw import HwConfig
from fpga_model.loopnest import EngineLayer


class QuantError(CgapError):
    """Calibration data or weights that cannot be quantised."""


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


def range_nodes(layers: Sequence[EngineLayer]) -> list[str]:
    """Return the IR nodes (of the BN-folded network) whose calibrated ranges :func:`quantize_program` reads
    for these engine layers (``fpga_model.schedule.fuse`` of the folded network, tiled or not), plus INPUT."""
    return [INPUT] + [value_node(layer) for layer in layers]


def value_node(layer: EngineLayer) -> str:
    """Return the fused IR node whose output the layer saturates: the last one before a fused pool."""
    if layer.kind == "conv" and layer.pool is not None:
        return layer.nodes[-2]
    return layer.nodes[-1]


def _out_frac(max_abs: float, acc_frac: int, hw: HwConfig, forced: int | None = None) -> int:
    lo, hi = _frac_bounds(hw.act_bits)
    frac = frac_for(max_abs, hw.act_bits, lo, hi) if forced is None else forced
    return min(max(frac, acc_frac - hw.acc_bits + 1), acc_frac)


def _quant_conv(p: ProgramLayer, fracs: dict[str, int], ranges: dict, hw: HwConfig,
                forced: int | None = None) -> LayerQuant:
    layer = p.layer
    if p.weight is None or p.bias is None:
        raise QuantError(f"layer {layer.name!r}: the program has no weights to quantise (lowered without them)")
    weight, bias = np.asarray(p.weight, dtype=np.float64), np.asarray(p.bias, dtype=np.float64)
    in_frac = fracs[layer.input]
    w_frac = frac_for(float(np.max(np.abs(weight))), hw.weight_bits, *_frac_bounds(hw.weight_bits))
    res_frac = fracs[layer.residual] if layer.residual else 0
    if layer.residual:
        w_frac = min(w_frac, res_frac + hw.acc_bits - hw.act_bits - 1 - in_frac)
    bias_frac = frac_for(float(np.max(np.abs(bias), initial=0.0)), hw.acc_bits, -hw.acc_bits, 2 * hw.acc_bits)
    w_frac = min(w_frac, bias_frac - in_frac)
    acc_frac = in_frac + w_frac
    out_frac = _out_frac(ranges[value_node(layer)], acc_frac, hw, forced)
    wq, _ = to_fixed(weight, w_frac, hw.weight_bits)
    bq, bias_sat = to_fixed(bias, acc_frac, hw.acc_bits)
    if bias_sat:
        raise QuantError(f"layer {layer.name!r}: bias does not fit {hw.acc_bits}-bit accumulator at frac {acc_frac}")
    return LayerQuant(in_frac=in_frac, out_frac=out_frac, res_frac=res_frac, w_frac=w_frac, acc_frac=acc_frac,
                      res_shift=acc_frac - res_frac if layer.residual else 0, out_shift=acc_frac - out_frac,
                      weight=wq, bias=bq)


def _quant_add(layer: EngineLayer, fracs: dict[str, int], ranges: dict, hw: HwConfig,
               forced: int | None = None) -> LayerQuant:
    fa, fb = fracs[layer.input], fracs[layer.residual]
    acc_frac = min(max(fa, fb), min(fa, fb) + hw.acc_bits - hw.act_bits - 1)
    out_frac = _out_frac(ranges[value_node(layer)], acc_frac, hw, forced)
    return LayerQuant(in_frac=fa, out_frac=out_frac, res_frac=fb, acc_frac=acc_frac, in_shift=acc_frac - fa,
                      res_shift=acc_frac - fb, out_shift=acc_frac - out_frac)


def _quant_layer(p: ProgramLayer, fracs: dict[str, int], ranges: dict, hw: HwConfig,
                 forced: int | None = None) -> LayerQuant:
    layer = p.layer
    if layer.kind == "conv":
        return _quant_conv(p, fracs, ranges, hw, forced)
    if layer.kind == "add":
        return _quant_add(layer, fracs, ranges, hw, forced)
    in_frac = fracs[layer.input]
    return LayerQuant(in_frac=in_frac, out_frac=in_frac, acc_frac=in_frac)


def quantize_program(program: EngineProgram, ranges: dict[str, float], calib_images: int) -> EngineProgram:
    """Return ``program`` with every layer quantised for its hw from the calibrated ``ranges`` (max |value| of
    at least the :func:`range_nodes`, measured on ``calib_images`` images); raises :class:`QuantError` naming
    the range or layer that cannot be quantised."""
    hw = program.hw
    missing = [n for n in range_nodes(program.engine_layers) if n not in ranges]
    if missing:
        raise QuantError(f"program {program.name!r}: no calibrated range for {missing[0]!r}")
    lo, hi = _frac_bounds(hw.act_bits)
    forced: dict[str, int] = {}
    for _ in range(2):      # the parts of a Concat share a binary point: the least any part wants, on a second pass
        fracs = {INPUT: frac_for(ranges[INPUT], hw.act_bits, lo, hi)}
        layers, wanted = [], {}
        for p in program.layers:
            lq = _quant_layer(p, fracs, ranges, hw, forced.get(p.layer.output))
            fracs[p.layer.output] = lq.out_frac
            layers.append(replace(p, quant=lq))
            if p.layer.out_channels:
                wanted[p.layer.output] = min(wanted.get(p.layer.output, lq.out_frac), lq.out_frac)
        if all(lay.quant.out_frac == wanted.get(lay.layer.output, lay.quant.out_frac) for lay in layers):
            break
        forced = wanted
    for p in layers:
        if p.layer.out_channels and p.quant.out_frac != wanted[p.layer.output]:
            raise QuantError(f"layer {p.layer.name!r}: the parts of Concat {p.layer.output!r} cannot share one binary "
                             f"point ({p.layer.kind} layers keep their input's)")
    return replace(program, layers=tuple(layers), input_frac=fracs[INPUT], calib_images=int(calib_images))


def dequantized(net: Network, program: EngineProgram) -> Network:
    """Return the BN-folded float ``net`` with each conv/linear layer's weights and bias snapped to the
    fixed-point grid of the quantised ``program`` (a fake-quantised model the float executor can run)."""
    nodes = []
    for node in net.nodes:
        match = [p.quant for p in program.layers if p.layer.nodes[0] == node.name and p.quant and p.quant.weight is not None]
        if match:
            lq = match[0]
            w = (lq.weight * 2.0 ** -lq.w_frac).reshape(node.op.weight.shape)
            node = type(node)(node.name, replace(node.op, weight=w, bias=lq.bias * 2.0 ** -lq.acc_frac), node.inputs)
        nodes.append(node)
    return replace(net, nodes=tuple(nodes), meta=dict(net.meta))


__all__ = ["LayerQuant", "QuantError", "calibrate", "dequantized", "int_range", "quantize_program", "range_nodes",
           "value_node"]
