"""The engine program: layer table rows, DRAM layout and buffer sizes, prepared for the templates.

Everything the templates print comes from here as plain ints and strings; templates never compute.
DRAM layout and banking rules live in :mod:`fpga_model.layout` (shared with the simulator); DRAM
offsets in the layer table are in beats of the m_axi ports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cgap.fixed_point import reciprocal
from cgap_ir import INPUT
from cgap_ir.errors import CgapError
from fpga_model import dram, layout
from fpga_model.cost import conv_tiles, conv_transfers
from fpga_model.engine_program import EngineProgram
from fpga_model.engine_sim import PIPELINE_DEPTH
from fpga_model.geometry import buffer_geometry, compiled_kinds, divider_bits, fixed_divisor
from fpga_model.hw import HwConfig
from fpga_model.schedule import EngineLayer, tiles

KIND_CODES: dict[str, int] = {"conv": 0, "pool": 1, "gap": 2, "add": 3}
"""Engine layer kinds -> the CGAP_KIND_* codes of the layer table."""

POOL_CODES: dict[str | None, int] = {None: 0, "max": 1, "avg": 2}
"""Pool modes -> the CGAP_POOL_* codes of the layer table."""

LAYER_FIELDS: tuple[str, ...] = (
    "kind", "relu", "pool", "count_pad", "has_res", "in_off", "out_off", "res_off", "w_off", "b_off",
    "nif", "niy", "nix", "nof", "noy", "nox", "ooy", "oox", "kh", "kw", "sh", "sw", "pt", "pl", "pb", "pr",
    "pkh", "pkw", "toy", "tof", "tox", "tif", "tix", "in_shift", "res_shift", "out_shift", "div_m", "div_s",
)
"""Fields of the C ``LayerDesc`` struct, in order (the struct is rendered from this tuple)."""

FIELD_TYPES: dict[str, str] = {"div_m": "unsigned long long"}
"""C types of the fields that are not ``int``."""


@dataclass(frozen=True)
class Program:
    """A network compiled for the engine: table rows, DRAM layout (beats), weight image, sizing constants."""

    name: str
    layers: list[EngineLayer]
    rows: list[dict[str, int]]
    offsets: dict[str, int]      # engine tensor -> first beat in the feature-map region
    fmap_beats: int
    weights: np.ndarray          # int64 words, each within weight_bits (two's complement), whole beats
    constants: dict[str, int]
    recip_rom: list[tuple[int, int]]   # (m, s) of x / n for n = 0 .. MAX_WIN (standalone average pools)
    input_tensor: str
    output_tensor: str
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]

    @property
    def input_words(self) -> int:
        """Return the words of one input image (dense CHW, as the testbench files hold it)."""
        return int(np.prod(self.input_shape))

    @property
    def output_words(self) -> int:
        """Return the words of one output (dense CHW)."""
        return int(np.prod(self.output_shape))


def _fmap_layout(layers: list[EngineLayer], input_shape: tuple[int, int, int], hw: HwConfig) -> tuple[dict[str, int], int]:
    """Return (first beat of every engine tensor in the feature-map region, total beats): padded rows."""
    v = layout.act_lanes(hw)
    offsets, top = {INPUT: 0}, layout.tensor_words(input_shape, hw) // v
    for layer in layers:
        if layer.output not in offsets:      # the parts of a Concat share one tensor
            offsets[layer.output] = top
            top += layout.tensor_words(layer.tensor_shape, hw) // v
    return offsets, top


def _bias_split(bias: np.ndarray, hw: HwConfig) -> np.ndarray:
    """Return (Nof, bias_words) signed weight words, low word first, of accumulator-wide biases."""
    nb, w = layout.bias_words(hw), hw.weight_bits
    b = np.asarray(bias, dtype=np.int64)
    words = np.stack([(b >> np.int64(k * w)) & ((1 << w) - 1) for k in range(nb)], axis=1)
    return np.where(words >= 1 << (w - 1), words - (1 << w), words)


def conv_weight_words(weight: np.ndarray, hw: HwConfig) -> np.ndarray:
    """Return a layer's weights (Nof, Nif, kh, kw) in image order [group][step][lane] (layout module doc)."""
    nof, steps = weight.shape[0], int(np.prod(weight.shape[1:]))
    groups = math.ceil(nof / hw.pof)
    image = np.zeros((groups * hw.pof, steps), dtype=np.int64)
    image[:nof] = weight.reshape(nof, steps)
    lanes = image.reshape(groups, hw.pof, steps).transpose(0, 2, 1)
    padded = np.zeros((groups, steps, layout.weight_row_words(hw)), dtype=np.int64)
    padded[:, :, :hw.pof] = lanes
    return padded.reshape(-1)


def conv_bias_words(bias: np.ndarray, hw: HwConfig) -> np.ndarray:
    """Return a layer's biases in image order: per Pof group, bias_slot_words words a lane, groups padded."""
    nof, nb, slot = len(bias), layout.bias_words(hw), layout.bias_slot_words(hw)
    groups = math.ceil(nof / hw.pof)
    slots = np.zeros((groups * hw.pof, slot), dtype=np.int64)
    slots[:nof, :nb] = _bias_split(bias, hw)
    out = np.zeros((groups, layout.bias_group_words(hw)), dtype=np.int64)
    out[:, :hw.pof * slot] = slots.reshape(groups, hw.pof * slot)
    return out.reshape(-1)


def _weight_image(program: EngineProgram) -> tuple[np.ndarray, dict]:
    """Return (the weight DRAM image in words, {layer: (w_off, b_off) in beats}): per conv layer weights, biases."""
    hw = program.hw
    vw = layout.weight_lanes(hw)
    parts, offsets, top = [], {}, 0
    for p in program.layers:
        layer, lq = p.layer, p.quant
        if layer.kind != "conv":
            offsets[layer.name] = (0, 0)
            continue
        w = conv_weight_words(lq.weight, hw)
        b = conv_bias_words(lq.bias, hw)
        offsets[layer.name] = (top // vw, (top + w.size) // vw)
        parts += [w, b]
        top += w.size + b.size
    image = np.concatenate(parts) if parts else np.zeros(vw, dtype=np.int64)
    return image.astype(np.int64), offsets


def _row(layer: EngineLayer, lq, offsets: dict[str, int], woff: tuple[int, int],  # noqa: ANN001 - LayerQuant
         div_bits: int, hw: HwConfig) -> dict[str, int]:
    nif, niy, nix = layer.in_shape
    nof, noy, nox = layer.conv_out
    pkh, pkw = layer.pool_kernel if layer.kind == "conv" and layer.pool else (1, 1)
    divisor = fixed_divisor(layer)
    div_m, div_s = reciprocal(divisor, div_bits) if divisor else (0, 0)
    return dict(
        kind=KIND_CODES[layer.kind], relu=int(layer.relu), pool=POOL_CODES[layer.pool],
        count_pad=int(layer.count_include_pad), has_res=int(layer.residual is not None),
        in_off=offsets[layer.input],
        out_off=offsets[layer.output] + layer.out_offset * layer.out_shape[1] * layout.row_beats(layer.out_shape[2], hw),
        res_off=offsets[layer.residual] if layer.residual else 0, w_off=woff[0], b_off=woff[1],
        nif=nif, niy=niy, nix=nix, nof=nof, noy=noy, nox=nox, ooy=layer.out_shape[1], oox=layer.out_shape[2],
        kh=layer.kernel[0], kw=layer.kernel[1], sh=layer.stride[0], sw=layer.stride[1],
        pt=layer.pads[0], pl=layer.pads[1], pb=layer.pads[2], pr=layer.pads[3], pkh=pkh, pkw=pkw,
        toy=layer.toy, tof=layer.tof, tox=layer.x_tile, tif=layer.i_tile, tix=layer.tix, in_shift=lq.in_shift, res_shift=lq.res_shift, out_shift=lq.out_shift,
        div_m=div_m, div_s=div_s)


_CONV_TRIPCOUNTS = ("MAX_GROUPS", "MAX_WBEATS", "MAX_BBEATS", "MAX_ISEGS", "MAX_IBEATS", "MAX_RSEGS", "MAX_RBEATS",
                    "MAX_OSEGS", "MAX_SITERS", "MAX_CONV_ITERS", "MAX_TILE_STEPS")


def _conv_tripcounts(layer: EngineLayer, hw: HwConfig) -> dict[str, int]:
    """Return the LOOP_TRIPCOUNT maxima of one conv layer's loops over its tiles (the cost model's transfers)."""
    t = conv_tiles(layer)
    x = conv_transfers(layer, hw, t)
    drain = hw.poy * hw.pox
    blocks = -(-t.tf // hw.pof) * -(-t.ty // hw.poy) * -(-t.tx // hw.pox)
    steps = t.ti * layer.kernel[0] * layer.kernel[1]
    window = layer.pool_kernel[0] * layer.pool_kernel[1]
    split = layer.split_channels
    top = lambda a: int(a.max()) if a.size else 1  # noqa: E731
    return {"MAX_GROUPS": top(-(-t.tf // hw.pof)) if split else 1, "MAX_WBEATS": top(x["weights"][0]),
            "MAX_BBEATS": top(x["biases"][0]), "MAX_ISEGS": top(x["input"][1]), "MAX_IBEATS": top(x["input"][0]),
            "MAX_RSEGS": top(x["residual"][1]) if layer.residual else 1,
            "MAX_RBEATS": top(x["residual"][0]) if layer.residual else 1,
            "MAX_OSEGS": top(x["output"][1]), "MAX_SITERS": top(x["output"][0]) * window,
            "MAX_CONV_ITERS": top(blocks * np.maximum(steps, drain) + drain), "MAX_TILE_STEPS": len(t.tf) + 2}


def _tripcounts(layers: list[EngineLayer], rows: list[dict[str, int]], hw: HwConfig) -> dict[str, int]:
    """Return the LOOP_TRIPCOUNT bounds of the engine's variable loops, maxima over the layer table (>= 1)."""
    pairs = list(zip(layers, rows, strict=True))
    flat = [r for lay, r in pairs if lay.kind != "conv"]
    rpb = lambda w: layout.row_beats(w, hw)  # noqa: E731
    c: dict[str, list[int]] = {key: [] for key in _CONV_TRIPCOUNTS}
    for lay in layers:
        if lay.kind == "conv":
            for key, value in _conv_tripcounts(lay, hw).items():
                c.setdefault(key, []).append(value)
    c |= {
        "MAX_FTILE_STEPS": [len(tiles(r["nof"], r["tof"])) + 2 for r in flat],
        "MAX_WIN": [r["kh"] * r["kw"] for r in flat],
        "MAX_EITERS": [r["tof"] * max(r["ooy"] * rpb(r["oox"]) * r["kh"] * r["kw"], r["niy"] * rpb(r["nix"]))
                       for r in flat],
        "MAX_FBEATS": [r["tof"] * r["niy"] * rpb(r["nix"]) for r in flat],
        "MAX_FOBEATS": [r["tof"] * r["ooy"] * rpb(r["oox"]) for r in flat],
    }
    return {k: max(values, default=1) or 1 for k, values in c.items()}


def _reciprocal_rom(layers: list[EngineLayer], div_bits: int) -> list[tuple[int, int]]:
    """Return the (m, s) ROM of the standalone average pools' counts n = 0 .. MAX_WIN (n = 0 unused)."""
    max_win = max((lay.kernel[0] * lay.kernel[1] for lay in layers if lay.kind == "pool"), default=1)
    return [(0, 0)] + [reciprocal(n, div_bits) for n in range(1, max_win + 1)]


def _constants(layers: list[EngineLayer], rows: list[dict[str, int]], hw: HwConfig) -> dict[str, int]:
    """Return every CGAP_* constant of the config header but the network's sizes: lanes, layout, DRAM timing,
    divider widths, compiled kinds, buffer geometry and loop tripcount bounds."""
    lanes = {"V": layout.act_lanes(hw), "VW": layout.weight_lanes(hw), "WROW": layout.weight_row_words(hw),
             "BSLOT": layout.bias_slot_words(hw), "BGROUP": layout.bias_group_words(hw),
             "BIAS_WORDS": layout.bias_words(hw), "BLOCK_WORDS": hw.macs, "PIPELINE_DEPTH": PIPELINE_DEPTH}
    return (lanes | divider_bits(layers, hw) | compiled_kinds(layers) | dram.timing_constants(hw)
            | _tripcounts(layers, rows, hw) | buffer_geometry(layers, hw))


def build_program(program: EngineProgram) -> Program:
    """Return the template data (:class:`Program`) of a quantised engine program: table rows, DRAM layout,
    weight image and every sizing constant."""
    if not program.quantized:
        raise CgapError(f"program {program.name!r} is not quantised (cgap.lower.quantize)")
    layers, hw = program.engine_layers, program.hw
    offsets, fmap_beats = _fmap_layout(layers, program.input_shape, hw)
    image, woffs = _weight_image(program)
    div_bits = divider_bits(layers, hw)["DIV_ABITS"]
    rows = [_row(p.layer, p.quant, offsets, woffs[p.layer.name], div_bits, hw) for p in program.layers]
    shapes = {lay.output: lay.tensor_shape for lay in layers}
    return Program(name=program.name, layers=layers, rows=rows, offsets=offsets, fmap_beats=fmap_beats, weights=image,
                   constants=_constants(layers, rows, hw), recip_rom=_reciprocal_rom(layers, div_bits), input_tensor=INPUT,
                   output_tensor=program.output, input_shape=program.input_shape, output_shape=shapes[program.output])
