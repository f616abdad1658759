"""The engine program: layer table rows, DRAM layout and buffer sizes, prepared for the templates.

Everything the templates print comes from here as plain ints and strings; templates never compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cgap.errors import CgapError
from cgap.ir import INPUT
from cgap.passes.quantize import QuantSpec
from fpga_model.hw import HwConfig
from fpga_model.schedule import EngineLayer, tiles

KIND_CODES: dict[str, int] = {"conv": 0, "pool": 1, "gap": 2, "add": 3}
"""Engine layer kinds -> the CGAP_KIND_* codes of the layer table."""

POOL_CODES: dict[str | None, int] = {None: 0, "max": 1, "avg": 2}
"""Pool modes -> the CGAP_POOL_* codes of the layer table."""

LAYER_FIELDS: tuple[str, ...] = (
    "kind", "relu", "pool", "count_pad", "has_res", "in_off", "out_off", "res_off", "w_off", "b_off",
    "nif", "niy", "nix", "nof", "noy", "nox", "ooy", "oox", "kh", "kw", "sh", "sw", "pt", "pl", "pb", "pr",
    "pkh", "pkw", "toy", "tof", "in_shift", "res_shift", "out_shift",
)
"""Fields of the C ``LayerDesc`` struct, in order (the struct is rendered from this tuple)."""


@dataclass(frozen=True)
class Program:
    """A network compiled for the engine: table rows, DRAM layout, weight image, sizing constants."""

    name: str
    layers: list[EngineLayer]
    rows: list[dict[str, int]]
    offsets: dict[str, int]
    fmap_words: int
    weights: np.ndarray          # int64 words, each within weight_bits (two's complement)
    bias_words: int
    constants: dict[str, int]
    input_tensor: str
    output_tensor: str
    input_words: int
    output_words: int


def bias_words(hw: HwConfig) -> int:
    """Return how many weight words hold one accumulator-wide bias."""
    return math.ceil(hw.acc_bits / hw.weight_bits)


def _fmap_layout(layers: list[EngineLayer], input_words: int) -> tuple[dict[str, int], int]:
    """Return (offset of every engine tensor in the feature-map DRAM region, total words)."""
    offsets, top = {INPUT: 0}, input_words
    for layer in layers:
        offsets[layer.output] = top
        top += int(np.prod(layer.out_shape))
    return offsets, top


def _bias_split(bias: np.ndarray, hw: HwConfig) -> np.ndarray:
    """Return (Nof, bias_words) signed weight words, low word first, of accumulator-wide biases."""
    nb, w = bias_words(hw), hw.weight_bits
    b = np.asarray(bias, dtype=np.int64)
    words = np.stack([(b >> np.int64(k * w)) & ((1 << w) - 1) for k in range(nb)], axis=1)
    return np.where(words >= 1 << (w - 1), words - (1 << w), words)


def _weight_image(layers: list[EngineLayer], spec: QuantSpec, hw: HwConfig) -> tuple[np.ndarray, dict]:
    """Return (the weight DRAM image, {layer: (w_off, b_off)}): per conv layer weights [f][i][ky][kx], then biases."""
    parts, offsets, top = [], {}, 0
    for layer in layers:
        lq = spec.layers[layer.name]
        if layer.kind != "conv":
            offsets[layer.name] = (0, 0)
            continue
        w = lq.weight.reshape(-1)
        b = _bias_split(lq.bias, hw).reshape(-1)
        offsets[layer.name] = (top, top + w.size)
        parts += [w, b]
        top += w.size + b.size
    image = np.concatenate(parts) if parts else np.zeros(1, dtype=np.int64)
    return image.astype(np.int64), offsets


def _row(layer: EngineLayer, spec: QuantSpec, offsets: dict[str, int], woff: tuple[int, int]) -> dict[str, int]:
    lq = spec.layers[layer.name]
    nif, niy, nix = layer.in_shape
    nof, noy, nox = layer.conv_out
    pkh, pkw = layer.pool_kernel if layer.kind == "conv" and layer.pool else (1, 1)
    return dict(
        kind=KIND_CODES[layer.kind], relu=int(layer.relu), pool=POOL_CODES[layer.pool],
        count_pad=int(layer.count_include_pad), has_res=int(layer.residual is not None),
        in_off=offsets[layer.input], out_off=offsets[layer.output],
        res_off=offsets[layer.residual] if layer.residual else 0, w_off=woff[0], b_off=woff[1],
        nif=nif, niy=niy, nix=nix, nof=nof, noy=noy, nox=nox, ooy=layer.out_shape[1], oox=layer.out_shape[2],
        kh=layer.kernel[0], kw=layer.kernel[1], sh=layer.stride[0], sw=layer.stride[1],
        pt=layer.pads[0], pl=layer.pads[1], pb=layer.pads[2], pr=layer.pads[3], pkh=pkh, pkw=pkw,
        toy=layer.toy, tof=layer.tof, in_shift=lq.in_shift, res_shift=lq.res_shift, out_shift=lq.out_shift)


def _constants(layers: list[EngineLayer], rows: list[dict[str, int]], hw: HwConfig) -> dict[str, int]:
    """Return buffer sizes (words) and loop tripcount bounds, each at least 1."""
    conv = [(lay, r) for lay, r in zip(layers, rows, strict=True) if lay.kind == "conv"]
    pad = lambda t: math.ceil(t / hw.pof) * hw.pof  # noqa: E731
    pw = lambda r: r["nix"] + r["pl"] + r["pr"]  # noqa: E731
    steps = lambda r: r["nif"] * r["kh"] * r["kw"]  # noqa: E731
    c = {
        "IBUF_WORDS": [r["nif"] * lay.tiy * pw(r) for lay, r in conv],
        "WBUF_WORDS": [steps(r) * pad(r["tof"]) for _, r in conv],
        "BBUF_WORDS": [pad(r["tof"]) for _, r in conv],
        "OBUF_WORDS": [r["toy"] * r["nox"] * r["tof"] for _, r in conv],
        "MAX_TOF": [r["tof"] for r in rows], "MAX_STEPS": [steps(r) for _, r in conv],
        "MAX_CH": [r["nif"] for r in rows], "MAX_ROWS": [max(r["niy"], lay.tiy) for lay, r in zip(layers, rows, strict=True)],
        "MAX_COLS": [pw(r) for r in rows], "MAX_WIN": [max(r["kh"] * r["kw"], r["pkh"] * r["pkw"]) for r in rows],
        "MAX_FTILES": [len(tiles(r["nof"], r["tof"])) for r in rows],
        "MAX_YTILES": [len(tiles(r["noy"], r["toy"])) for _, r in conv],
        "MAX_FBLOCKS": [math.ceil(r["tof"] / hw.pof) for r in rows],
        "MAX_YBLOCKS": [math.ceil(max(r["toy"], r["niy"], r["ooy"]) / hw.poy) for r in rows],
        "MAX_XBLOCKS": [math.ceil(max(r["nox"], r["nix"]) / hw.pox) for r in rows],
    }
    return {k: max(v, default=1) or 1 for k, v in c.items()}


def build_program(name: str, layers: list[EngineLayer], spec: QuantSpec, hw: HwConfig, output: str) -> Program:
    """Return the :class:`Program` of tiled engine ``layers`` quantised by ``spec``; ``output`` is the net's output tensor."""
    if any(layer.toy <= 0 or layer.tof <= 0 for layer in layers):
        raise CgapError("build_program needs tiled layers (fpga_model.schedule.schedule)")
    shapes = {lay.output: lay.out_shape for lay in layers}
    input_words = int(np.prod(next(lay.in_shape for lay in layers if lay.input == INPUT)))
    offsets, fmap_words = _fmap_layout(layers, input_words)
    image, woffs = _weight_image(layers, spec, hw)
    rows = [_row(lay, spec, offsets, woffs[lay.name]) for lay in layers]
    return Program(name=name, layers=layers, rows=rows, offsets=offsets, fmap_words=fmap_words, weights=image,
                   bias_words=bias_words(hw), constants=_constants(layers, rows, hw), input_tensor=INPUT,
                   output_tensor=output, input_words=input_words, output_words=int(np.prod(shapes[output])))
