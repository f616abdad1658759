"""The generated engine's sizing constants from tiled engine layers: banked buffers, divider widths, compiled units.

A generated project is compiled with ``CGAP_*`` constants (cgap/hls/program.py renders them into
cgap_config.h); those the resource model reads are :data:`GEOMETRY_KEYS`.  They depend only on layer shapes,
tiles and the HwConfig, not on quantisation, so the DSE (which has no calibrated network) and codegen compute
them here, with the same code:

* conv input tile: ``IB_R x IB_C`` banks of ``IBUF_DEPTH`` words, IB_R = Poy * (largest conv row stride),
  IB_C = max(Pox * (largest conv column stride), V) (:func:`fpga_model.layout.input_column_banks`);
* weights ``Pof x WBUF_DEPTH``, biases ``Pof x BBUF_DEPTH``;
* conv output / residual tiles ``Pof x NB`` banks of ``OBUF_DEPTH`` / ``RBUF_DEPTH``
  (:func:`fpga_model.layout.output_banks`); the partial sums of a channel-tiled conv the same banks of
  ``PSUM_DEPTH`` accumulator words (one copy: only the compute stage touches them);
* element-wise unit: input planes in ``FB`` column banks of ``FBUF_DEPTH`` words (``FBUF_B_DEPTH`` for an
  add's second operand; :func:`fpga_model.layout.element_banks`), output planes ``FOBUF_BEATS`` port beats;
* ``DIV_ABITS``: magnitude bits of the reciprocal division of sums of at most n act_bits-wide values by the
  largest divisor n (a fused average pool's area, a GAP plane, a standalone pool's window): bits(n) + act_bits
  + 1, since |2x + n| + 2n - 1 < n * (2**act_bits + 3) <= n * 2**(act_bits + 1) (the one place this formula
  lives; ``cgap.hls.program`` reads it); ``DIV_MBITS`` the reciprocal's bits, always
  DIV_ABITS + 1 (``reciprocal``: m = ceil(2**s / 2n) with 2**s / 2n in [2**abits, 2**(abits+1)), the rounding
  never reaching 2**(abits+1) for n < 2**abits);
* ``HAS_POOL``, ``HAS_GAP``, ``HAS_ADD``, ``HAS_FLAT``: which element-wise kinds are compiled in (1 or 0).

Depths are maxima over the layer table of per-layer needs (:func:`layer_depths`), at least 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cgap_ir import Network
from fpga_model import layout
from fpga_model.hw import HwConfig
from fpga_model.loopnest import EngineLayer

BANK_KEYS = ("IB_R", "IB_C", "NB", "FB")
"""Bank counts: fixed by the network's strides and pool widths and the HwConfig, not by tiles."""

DEPTH_KEYS = ("IBUF_DEPTH", "WBUF_DEPTH", "BBUF_DEPTH", "OBUF_DEPTH", "RBUF_DEPTH", "PSUM_DEPTH", "FBUF_DEPTH",
              "FBUF_B_DEPTH", "FOBUF_BEATS")
"""Words (beats for FOBUF_BEATS) per bank: maxima of :func:`layer_depths` over the layer table."""

KIND_KEYS = ("HAS_POOL", "HAS_GAP", "HAS_ADD", "HAS_FLAT", "HAS_PSUM")
"""Element-wise kinds and the partial-sum path compiled into the engine (the ``#if CGAP_HAS_*`` of cgap_engine.h)."""

GEOMETRY_KEYS = ("IB_R", "IB_C", "IBUF_DEPTH", "WBUF_DEPTH", "BBUF_DEPTH", "NB", "OBUF_DEPTH", "RBUF_DEPTH",
                 "PSUM_DEPTH", "FB", "FBUF_DEPTH", "FBUF_B_DEPTH", "FOBUF_BEATS", "DIV_ABITS", "DIV_MBITS", *KIND_KEYS)
"""Every constant :func:`geometry` returns (the ``CGAP_*`` names of cgap_config.h)."""


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _max_stride(layers: Iterable[EngineLayer], axis: int) -> int:
    return max((lay.stride[axis] for lay in layers if lay.kind == "conv"), default=1)


def bank_counts(layers: Sequence[EngineLayer], hw: HwConfig) -> dict[str, int]:
    """Return {IB_R, IB_C, NB, FB} of the engine compiled for ``layers`` (tiles not needed)."""
    conv_pool_widths = (lay.pool_kernel[1] if lay.pool else 1 for lay in layers if lay.kind == "conv")
    return {"IB_R": hw.poy * _max_stride(layers, 0),
            "IB_C": layout.input_column_banks(_max_stride(layers, 1), hw),
            "NB": layout.output_banks(conv_pool_widths, hw),
            "FB": layout.element_banks((lay.stride[1] for lay in layers if lay.kind == "pool"), hw)}


def layer_depths(layer: EngineLayer, hw: HwConfig, banks: dict[str, int]) -> dict[str, int]:
    """Return the words per bank {DEPTH_KEYS} that the tiled ``layer`` needs (1 where it uses none)."""
    out = dict.fromkeys(DEPTH_KEYS, 1)
    toy, tof = layer.toy, layer.tof
    nif, niy, nix = layer.in_shape
    if layer.kind != "conv":
        left = layer.pads[1] if layer.kind == "pool" else 0
        plane = tof * niy * _cdiv(nix + left, banks["FB"])
        _, ooy, oox = layer.out_shape
        out.update(FBUF_DEPTH=plane, FBUF_B_DEPTH=plane if layer.kind == "add" else 1,
                   FOBUF_BEATS=tof * ooy * layout.row_beats(oox, hw))
        return out
    groups = _cdiv(tof, hw.pof)
    kh, kw = layer.kernel
    tif = layer.i_tile
    odepth = groups * toy * _cdiv(layer.x_tile, banks["NB"])
    out.update(IBUF_DEPTH=_cdiv(tif * layer.tiy, banks["IB_R"]) * _cdiv(layer.tix, banks["IB_C"]),
               WBUF_DEPTH=tif * kh * kw * groups, BBUF_DEPTH=groups, OBUF_DEPTH=odepth,
               RBUF_DEPTH=odepth if layer.residual is not None else 1,
               PSUM_DEPTH=odepth if layer.split_channels else 1)
    return out


def fixed_divisor(layer: EngineLayer) -> int:
    """Return the constant divisor of a layer's average (fused avg pool area, GAP plane), or 0 when it has none."""
    if layer.kind == "conv" and layer.pool == "avg":
        return layer.pool_kernel[0] * layer.pool_kernel[1]
    if layer.kind == "gap":
        return layer.in_shape[1] * layer.in_shape[2]
    return 0


def divider_bits(layers: Sequence[EngineLayer], hw: HwConfig) -> dict[str, int]:
    """Return {DIV_ABITS, DIV_MBITS}: the widths of the engine's reciprocal multipliers (module doc)."""
    windows = [lay.kernel[0] * lay.kernel[1] for lay in layers if lay.kind == "pool"]
    largest = max([fixed_divisor(lay) for lay in layers] + [max(windows, default=1)])
    abits = max(1, largest).bit_length() + hw.act_bits + 1
    return {"DIV_ABITS": abits, "DIV_MBITS": abits + 1}


def compiled_kinds(layers: Sequence[EngineLayer]) -> dict[str, int]:
    """Return {KIND_KEYS}: 1 for each element-wise kind the engine compiles in, and HAS_PSUM when some conv layer
    tiles its input channels (the partial-sum buffer and its adders).  Untiled layers (toy = 0) count as whole."""
    kinds = {lay.kind for lay in layers}
    return {"HAS_POOL": int("pool" in kinds), "HAS_GAP": int("gap" in kinds), "HAS_ADD": int("add" in kinds),
            "HAS_FLAT": int(bool(kinds - {"conv"})), "HAS_PSUM": int(any(lay.split_channels for lay in layers))}


def buffer_geometry(layers: Sequence[EngineLayer], hw: HwConfig) -> dict[str, int]:
    """Return the bank counts and depths {BANK_KEYS, DEPTH_KEYS} of the tiled ``layers`` on ``hw``."""
    banks = bank_counts(layers, hw)
    depths = dict.fromkeys(DEPTH_KEYS, 1)
    for lay in layers:
        for key, words in layer_depths(lay, hw, banks).items():
            depths[key] = max(depths[key], words)
    return banks | depths


def geometry(layers: Sequence[EngineLayer], hw: HwConfig) -> dict[str, int]:
    """Return {GEOMETRY_KEYS} of the engine compiled for the tiled ``layers`` on ``hw`` (module doc)."""
    merged = buffer_geometry(layers, hw) | divider_bits(layers, hw) | compiled_kinds(layers)
    return {key: merged[key] for key in GEOMETRY_KEYS}


def network_geometry(net: Network, hw: HwConfig) -> dict[str, int]:
    """Return the :func:`geometry` of ``net`` scheduled on ``hw`` (``fpga_model.schedule.schedule``: shapes and
    tiles only, so an unquantised network gives what its exported project is compiled with)."""
    from fpga_model.schedule import schedule

    return geometry(schedule(net, hw), hw)
