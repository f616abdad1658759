"""Lowering: an IR network -> the engine program, once (``fpga_model.engine_program``).

``lower(net, hw)`` folds zero Pad nodes and BN (:func:`engine_network`), fuses the nodes into engine layers and chooses every layer's tiles for ``hw``
(fewest simulated cycles under the buffer budget); conv/linear layers carry their folded float weights.
``quantize(program, net, calib)`` calibrates the folded network on images (or takes ranges computed
elsewhere, e.g. by onnxruntime) and returns the quantised program (``quantize_program``, a pure
EngineProgram -> EngineProgram transform).  Codegen, the golden model, the simulator and the DSE read the
result; nothing downstream fuses, tiles or quantises again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cgap.passes.quantize import QuantError, calibrate, quantize_program
from cgap_ir import Network
from cgap_ir.fold_bn import fold_bn
from cgap_ir.fold_pad import fold_pad
from fpga_model.engine_program import EngineProgram, ProgramLayer
from fpga_model.hw import HwConfig
from fpga_model.loopnest import EngineLayer
from fpga_model.schedule import choose_tiles, fuse, output_tensor


@dataclass(frozen=True)
class Lowered:
    """A lowered network: the BN-folded float network (the reference quantisation is checked against) and
    its engine program."""

    net: Network
    program: EngineProgram


def _float_weights(net: Network, layer: EngineLayer) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Return a conv/linear layer's folded float (weight (Nof, Nif, kh, kw), bias (Nof,)), or (None, None)."""
    if layer.kind != "conv":
        return None, None
    op = net.node(layer.nodes[0]).op
    if len(layer.nodes) > 1 and net.node(layer.nodes[1]).op.kind == "BatchNorm":
        raise QuantError(f"layer {layer.name!r}: BatchNorm not folded")
    if op.weight is None:
        return None, None
    weight = np.asarray(op.weight, dtype=np.float64)
    weight = weight.reshape(weight.shape[0], *layer.in_shape) if weight.ndim == 2 else weight
    bias = np.asarray(op.bias, dtype=np.float64) if op.bias is not None else np.zeros(weight.shape[0])
    return weight, bias


def engine_network(net: Network) -> Network:
    """Return ``net`` as the engine is fused from: zero Pad nodes folded into their readers, BN into its producer."""
    return fold_bn(fold_pad(net))


def lower_network(net: Network, hw: HwConfig, name: str | None = None) -> Lowered:
    """Return ``net`` folded (:func:`engine_network`) and its float :class:`EngineProgram` on ``hw`` (fused and
    tiled, once)."""
    folded = engine_network(net)
    layers = [choose_tiles(layer, hw) for layer in fuse(folded)]
    rows = tuple(ProgramLayer(layer, None, *_float_weights(folded, layer)) for layer in layers)
    program = EngineProgram(name or net.name, hw, tuple(net.input_shape), output_tensor(folded, layers), rows)
    return Lowered(folded, program)


def lower(net: Network, hw: HwConfig, name: str | None = None) -> EngineProgram:
    """Return the float engine program of ``net`` on ``hw`` (see :func:`lower_network`)."""
    return lower_network(net, hw, name).program


def quantize(lowered: Lowered, calib: np.ndarray, ranges: dict[str, float] | None = None) -> EngineProgram:
    """Return the lowered program quantised on the calibration images ``calib`` (or on ``ranges`` already
    computed from them, keyed by the folded network's node names)."""
    ranges = calibrate(lowered.net, calib) if ranges is None else ranges
    return quantize_program(lowered.program, ranges, len(calib))
