"""The numpy integer golden model: exactly the bits the generated engine computes.

Per layer of a quantised :class:`~fpga_model.engine_program.EngineProgram`, in this order (``hls_templates/cgap_engine.h``
does the same):

``conv``  acc = bias + sum(w * x)                   (acc_bits, wraps; zero padding)
          acc += align(residual, res_shift)           (if a residual is fused)
          y = saturate(shift_round(acc, out_shift))   (act_bits; counted, but with ReLU only
          y = max(y, 0)                                positive overflows count: see saturate_relu)
          y = maxpool / avgpool (div_round) of y      (if a pool is fused; kernel == stride)
``pool``  max over valid window elements, or div_round(sum, count) (count = kh*kw if count_include_pad
          else the valid elements); frac unchanged; then ReLU
``gap``   div_round(sum over H*W, H*W); frac unchanged
``add``   y = saturate(shift_round(align(a, in_shift) + align(b, res_shift), out_shift)); ReLU

``align(v, s)`` is ``v << s`` for s >= 0 and ``shift_round(v, -s)`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cgap.fixed_point import div_round, saturate_relu, shift_round, to_fixed, wrap
from cgap_ir import INPUT
from fpga_model.engine_program import EngineProgram, LayerQuant
from fpga_model.loopnest import EngineLayer


@dataclass
class GoldenResult:
    """Integer tensors of every engine tensor (N, C, H, W) and per-layer saturation counts."""

    tensors: dict[str, np.ndarray]
    saturations: dict[str, int]


def align(v: np.ndarray, shift: int) -> np.ndarray:
    """Return ``v`` moved ``shift`` bits up (or rounded down for a negative shift)."""
    return shift_round(v, -shift)


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, ::stride[0], ::stride[1]]


def _pad(x: np.ndarray, pads: tuple[int, int, int, int], value: int = 0) -> np.ndarray:
    top, left, bottom, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _mac(x: np.ndarray, layer: EngineLayer, lq: LayerQuant) -> np.ndarray:
    """Return sum(w * x) over each window as exact int64 (float64 is exact below 2**53)."""
    w = lq.weight
    bound = float(np.abs(w).max(initial=0)) * float(np.abs(x).max(initial=0)) * w[0].size
    if bound >= 2.0 ** 53:
        raise ValueError(f"layer {layer.name!r}: MAC bound {bound:.3g} exceeds exact float64 range")
    x = x.reshape(x.shape[0], *layer.in_shape)
    win = _windows(_pad(x, layer.pads).astype(np.float64), layer.kernel, layer.stride)
    out = np.einsum("nchwij,ocij->nohw", win, w.astype(np.float64), optimize=True)
    return np.rint(out).astype(np.int64)


def _pool_store(y: np.ndarray, layer: EngineLayer) -> np.ndarray:
    """Return the fused kernel==stride pool of ``y`` (max, or div_round of the window sum)."""
    kh, kw = layer.pool_kernel
    n, c, h, w = y.shape
    blocks = y.reshape(n, c, h // kh, kh, w // kw, kw)
    if layer.pool == "max":
        return blocks.max(axis=(3, 5))
    return div_round(blocks.sum(axis=(3, 5)), kh * kw)


def conv_layer(layer: EngineLayer, lq: LayerQuant, bits: tuple[int, int], x: np.ndarray, res: np.ndarray | None):
    """Return (output tensor, saturations) of a ``conv`` engine layer."""
    acc = _mac(x, layer, lq) + lq.bias[None, :, None, None]
    if res is not None:
        acc = acc + align(res, lq.res_shift)
    act_bits, acc_bits = bits
    y, sat = saturate_relu(shift_round(wrap(acc, acc_bits), lq.out_shift), act_bits, layer.relu)
    if layer.pool:
        y = _pool_store(y, layer)
    return y, sat


def pool_layer(layer: EngineLayer, lq: LayerQuant, bits: tuple[int, int], x: np.ndarray, res: np.ndarray | None):
    """Return (output, 0) of a standalone ``pool`` layer (padding never wins a max nor counts unless asked)."""
    valid = _windows(_pad(np.ones_like(x[:1, :1]), layer.pads), layer.kernel, layer.stride)
    if layer.pool == "max":
        lo = np.iinfo(np.int64).min
        y = _windows(_pad(x, layer.pads, lo), layer.kernel, layer.stride).max(axis=(4, 5))
    else:
        total = _windows(_pad(x, layer.pads), layer.kernel, layer.stride).sum(axis=(4, 5))
        count = layer.kernel[0] * layer.kernel[1] if layer.count_include_pad else valid.sum(axis=(4, 5))
        y = div_round(total, count)
    return (np.maximum(y, 0) if layer.relu else y), 0


def gap_layer(layer: EngineLayer, lq: LayerQuant, bits: tuple[int, int], x: np.ndarray, res: np.ndarray | None):
    """Return (output, 0) of a global average pool."""
    _, h, w = layer.in_shape
    return div_round(x.sum(axis=(2, 3), keepdims=True), h * w), 0


def add_layer(layer: EngineLayer, lq: LayerQuant, bits: tuple[int, int], x: np.ndarray, res: np.ndarray | None):
    """Return (output, saturations) of a standalone residual add."""
    act_bits, acc_bits = bits
    acc = wrap(align(x, lq.in_shift) + align(res, lq.res_shift), acc_bits)
    return saturate_relu(shift_round(acc, lq.out_shift), act_bits, layer.relu)


LAYER_KERNELS: dict[str, Callable] = {"conv": conv_layer, "pool": pool_layer, "gap": gap_layer, "add": add_layer}


def quantize_input(x: np.ndarray, program: EngineProgram) -> np.ndarray:
    """Return the float input batch ``x`` as act_bits integers at the program's input frac."""
    q, _ = to_fixed(x, program.tensor_frac(INPUT), program.hw.act_bits)
    return q


def run_golden(program: EngineProgram, xq: np.ndarray) -> GoldenResult:
    """Return the integer result of every engine tensor of the quantised ``program`` for the input batch ``xq``."""
    bits = (program.hw.act_bits, program.hw.acc_bits)
    tensors = {INPUT: np.asarray(xq, dtype=np.int64)}
    sats: dict[str, int] = {}
    for p in program.layers:
        layer = p.layer
        x = tensors[layer.input]
        x = x.reshape(x.shape[0], *layer.in_shape)
        res = tensors[layer.residual].reshape(x.shape[0], *layer.conv_out) if layer.residual else None
        y, sats[layer.name] = LAYER_KERNELS[layer.kind](layer, program.quant(layer.name), bits, x, res)
        if layer.out_channels:      # one part of a Concat: its channels of the shared tensor
            whole = tensors.setdefault(layer.output, np.zeros((x.shape[0], *layer.tensor_shape), dtype=np.int64))
            whole[:, layer.out_offset:layer.out_offset + layer.out_shape[0]] = y.reshape(x.shape[0], *layer.out_shape)
        else:
            tensors[layer.output] = y.reshape(x.shape[0], *layer.out_shape)
    return GoldenResult(tensors, sats)
