"""The engine's loop nest: one engine layer (the layer-table row), its tiles and its II=1 trip counts.

The nest itself (which loops, in which order) is documented in :mod:`fpga_model.schedule`; this module holds
the value and the counts that fusion, tiling, the cost model and codegen all read, so that none of them
imports another to get them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cgap_ir.errors import CgapError
from fpga_model.hw import HwConfig
from fpga_model.layout import row_beats


class ScheduleError(CgapError):
    """The network cannot run on the engine (unsupported op pattern, or a layer fits no tile)."""


@dataclass(frozen=True)
class EngineLayer:
    """One entry of the engine's layer table.

    Tensor names are IR node names (or ``"input"``); ``nodes`` lists the IR nodes fused here.
    Shapes: input (Nif, Niy, Nix) before padding, output (Nof, Noy, Nox) after the fused pool;
    ``conv_out`` is (Nof, Noy, Nox) of the MAC array before pooling.
    """

    name: str
    kind: str
    nodes: tuple[str, ...]
    input: str
    output: str
    residual: str | None
    in_shape: tuple[int, int, int]
    conv_out: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    relu: bool = False
    pool: str | None = None          # "max" | "avg" for a pool fused on a conv's store (kernel == stride)
    pool_kernel: tuple[int, int] = (1, 1)
    count_include_pad: bool = False  # avg ``pool`` layers only (ONNX semantics)
    toy: int = 0
    tof: int = 0
    tox: int = 0                     # output-column tile of a conv (0: the whole width)
    tif: int = 0                     # input-channel tile of a conv (0: all input channels)
    out_offset: int = 0              # first channel written in the output tensor (a Concat's part)
    out_channels: int = 0            # channels of the whole output tensor (0: out_shape[0], no Concat)

    @property
    def tensor_shape(self) -> tuple[int, int, int]:
        """Return the (C, H, W) of the engine tensor this layer writes (all of a Concat it writes part of)."""
        return (self.out_channels or self.out_shape[0], *self.out_shape[1:])

    @property
    def tiy(self) -> int:
        """Return the input rows one output-row tile needs, halo included."""
        return (self.toy - 1) * self.stride[0] + self.kernel[0]

    @property
    def x_tile(self) -> int:
        """Return the output-column tile of a conv layer (Nox when untiled)."""
        return self.tox or self.conv_out[2]

    @property
    def i_tile(self) -> int:
        """Return the input-channel tile of a conv layer (Nif when untiled)."""
        return self.tif or self.in_shape[0]

    @property
    def tix(self) -> int:
        """Return the input columns (padding included) one output-column tile spans, halo included."""
        if self.x_tile >= self.conv_out[2]:
            return self.in_shape[2] + self.pads[1] + self.pads[3]
        return (self.x_tile - 1) * self.stride[1] + self.kernel[1]

    @property
    def split_channels(self) -> bool:
        """Return True when the input channels are tiled (partial sums stay on chip across channel tiles)."""
        return self.kind == "conv" and self.i_tile < self.in_shape[0]

    @property
    def macs(self) -> int:
        """Return the useful multiply-accumulates of this layer (0 for non-conv kinds)."""
        if self.kind != "conv":
            return 0
        nof, noy, nox = self.conv_out
        return nof * noy * nox * self.in_shape[0] * self.kernel[0] * self.kernel[1]


def tiles(total: int, size: int) -> list[int]:
    """Return the actual sizes of consecutive tiles of ``size`` covering ``total``."""
    return [min(size, total - start) for start in range(0, total, size)]


def compute_iterations(layer: EngineLayer, hw: HwConfig) -> int:
    """Return the trip count of the engine's MAC step (conv) or element-wise step (pool: one per output beat and
    window position; gap and add: one per input beat) summed over all tiles (see module doc)."""
    if layer.kind == "conv":
        nof, noy, nox = layer.conv_out
        per_f = sum(math.ceil(t / hw.pof) for t in tiles(nof, layer.tof))
        per_y = sum(math.ceil(t / hw.poy) for t in tiles(noy, layer.toy))
        per_x = sum(math.ceil(t / hw.pox) for t in tiles(nox, layer.x_tile))
        return per_f * per_y * per_x * layer.in_shape[0] * layer.kernel[0] * layer.kernel[1]
    if layer.kind in ("pool", "gap", "add"):
        return element_steps(layer, hw, layer.out_shape[0])
    raise ScheduleError(f"layer {layer.name!r}: unknown engine kind {layer.kind!r}")


def element_steps(layer: EngineLayer, hw: HwConfig, channels):  # noqa: ANN001, ANN201 - int or numpy array
    """Return the II=1 steps of a pool / gap / add layer's element-wise loop over ``channels`` channels: one per
    output beat and window position (pool), one per input beat (gap, add's output = input beats)."""
    _, oh, ow = layer.out_shape
    _, ih, iw = layer.in_shape
    if layer.kind == "pool":
        return channels * oh * row_beats(ow, hw) * layer.kernel[0] * layer.kernel[1]
    if layer.kind == "gap":
        return channels * ih * row_beats(iw, hw)
    return channels * oh * row_beats(ow, hw)


def _window_spans(n_in: int, n_out: int, tile: int, stride: int, kernel: int, pad: int) -> list[tuple[int, int]]:
    """Return, per tile of ``tile`` outputs along one axis, the inputs [lo, hi) its windows reach inside the image
    (the padding is made on chip, not read)."""
    spans, start = [], 0
    for t in tiles(n_out, tile):
        lo = start * stride - pad
        spans.append((max(0, lo), min(n_in, lo + (t - 1) * stride + kernel)))
        start += t
    return spans


def input_cols(layer: EngineLayer) -> list[tuple[int, int]]:
    """Return, per output-column tile of a conv layer, the input columns [lo, hi) its window reaches inside the
    image (padding columns are made on chip); an untiled width and non-conv layers read whole rows."""
    nix = layer.in_shape[2]
    if layer.kind != "conv" or layer.x_tile >= layer.conv_out[2]:
        return [(0, nix)]
    return _window_spans(nix, layer.conv_out[2], layer.x_tile, layer.stride[1], layer.kernel[1], layer.pads[1])


def input_rows(layer: EngineLayer) -> list[tuple[int, int]]:
    """Return, per output-row tile of a conv layer, the input rows [lo, hi) the engine reads from DRAM.

    Rows of the halo that fall in the zero padding are generated on chip, not loaded; non-conv
    layers (one row tile) read all input rows.
    """
    niy = layer.in_shape[1]
    if layer.kind != "conv":
        return [(0, niy)]
    return _window_spans(niy, layer.conv_out[1], layer.toy, layer.stride[0], layer.kernel[0], layer.pads[0])
