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
from fpga_model.schedule import EngineLayer, bias_words, tiles

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


def _bank_factors(layers: list[EngineLayer], rows: list[dict[str, int]], hw: HwConfig, kinds: tuple[str, ...]) -> tuple[int, int]:
    """Return (row, column) bank counts of a banked tile buffer: Poy (Pox) times the largest stride of ``kinds``."""
    strides = [(r["sh"], r["sw"]) for lay, r in zip(layers, rows, strict=True) if lay.kind in kinds]
    return hw.poy * max((s[0] for s in strides), default=1), hw.pox * max((s[1] for s in strides), default=1)


def buffer_geometry(layers: list[EngineLayer], rows: list[dict[str, int]], hw: HwConfig) -> dict[str, int]:
    """Return the banked tile buffers' shapes (see hls_templates/cgap_engine.h; each buffer exists twice).

    IB_R x IB_C banks of IBUF_DEPTH words (conv input tile), Pof x WBUF_DEPTH weights, Pof x BBUF_DEPTH
    biases, OBUF_WORDS / RBUF_WORDS (conv output / residual tile), Pof x FB_R x FB_C banks of FBUF_DEPTH
    (pool / gap / add input and output tiles).
    """
    cd, fb = lambda a, b: -(-a // b), lambda t: -(-t // hw.pof)  # noqa: E731
    pairs = list(zip(layers, rows, strict=True))
    conv = [(lay, r) for lay, r in pairs if lay.kind == "conv"]
    flat = [(lay, r) for lay, r in pairs if lay.kind != "conv"]
    ib_r, ib_c = _bank_factors(layers, rows, hw, ("conv",))
    fb_r, fb_c = _bank_factors(layers, rows, hw, ("pool",))
    fdepth = []
    for lay, r in flat:
        top, left = (r["pt"], r["pl"]) if lay.kind == "pool" else (0, 0)
        fdepth += [cd(fb(r["tof"]) * (r["niy"] + top), fb_r) * cd(r["nix"] + left, fb_c),
                   cd(fb(r["tof"]) * r["ooy"], fb_r) * cd(r["oox"], fb_c)]
    steps = [r["nif"] * r["kh"] * r["kw"] for _, r in conv]
    return {
        "IB_R": ib_r, "IB_C": ib_c,
        "IBUF_DEPTH": max((cd(r["nif"] * lay.tiy, ib_r) * cd(r["nix"] + r["pl"] + r["pr"], ib_c) for lay, r in conv), default=1),
        "WBUF_DEPTH": max((st * fb(r["tof"]) for st, (_, r) in zip(steps, conv, strict=True)), default=1),
        "BBUF_DEPTH": max((fb(r["tof"]) for _, r in conv), default=1),
        "OBUF_WORDS": max((r["toy"] * r["nox"] * r["tof"] for _, r in conv), default=1),
        "RBUF_WORDS": max((r["toy"] * r["nox"] * r["tof"] for _, r in conv if r["has_res"]), default=1),
        "FB_R": fb_r, "FB_C": fb_c, "FBUF_DEPTH": max(fdepth, default=1),
    }


def _constants(layers: list[EngineLayer], rows: list[dict[str, int]], hw: HwConfig) -> dict[str, int]:
    """Return buffer geometry (words) and loop tripcount bounds, each at least 1."""
    pairs = list(zip(layers, rows, strict=True))
    conv = [(lay, r) for lay, r in pairs if lay.kind == "conv"]
    flat = [r for lay, r in pairs if lay.kind != "conv"]
    pw = lambda r: r["nix"] + r["pl"] + r["pr"]  # noqa: E731
    steps = lambda r: r["nif"] * r["kh"] * r["kw"]  # noqa: E731
    c = {
        "MAX_TOF": [r["tof"] for r in rows], "MAX_STEPS": [steps(r) for _, r in conv],
        "MAX_CH": [r["nif"] for _, r in conv],
        "MAX_WBURST": [r["tof"] * steps(r) for _, r in conv],
        "MAX_BBURST": [r["tof"] * bias_words(hw) for _, r in conv],
        "MAX_IPAD": [lay.tiy * pw(r) for lay, r in conv],
        "MAX_ISEG": [min(lay.tiy, r["niy"]) * r["nix"] for lay, r in conv],
        "MAX_OSEG": [r["toy"] * r["nox"] for _, r in conv],
        "MAX_OROWS": [r["toy"] // r["pkh"] for _, r in conv],
        "MAX_OROW": [r["nox"] * r["pkh"] for _, r in conv],
        "MAX_OCOLS": [r["nox"] // r["pkw"] for _, r in conv],
        "MAX_WIN": [r["kh"] * r["kw"] for r in flat],
        "MAX_TILES": [len(tiles(r["nof"], r["tof"])) * len(tiles(r["noy"], r["toy"])) for _, r in conv],
        "MAX_FTILES": [len(tiles(r["nof"], r["tof"])) for r in flat],
        "MAX_FBLOCKS": [math.ceil(r["tof"] / hw.pof) for r in rows],
        "MAX_YBLOCKS": [math.ceil(max(r["toy"], r["niy"], r["ooy"]) / hw.poy) for r in rows],
        "MAX_XBLOCKS": [math.ceil(max(r["nox"], r["nix"]) / hw.pox) for r in rows],
        "MAX_FSEG": [r["tof"] * r["niy"] * r["nix"] for r in flat],
        "MAX_FOSEG": [r["tof"] * r["ooy"] * r["oox"] for r in flat],
    }
    consts = {k: max(v, default=1) or 1 for k, v in c.items()}
    return consts | buffer_geometry(layers, rows, hw)


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
