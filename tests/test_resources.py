"""Resource model: device presets, DSP packing and dividers, banked buffers, the logic counted from Yosys
measurements (every constant pinned to benchmarks/yosys/results.json), the shared geometry, fits of real projects."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from fpga_model.devices import DEVICES, DeviceError, device_for_part, get_device
from fpga_model.geometry import GEOMETRY_KEYS, geometry, network_geometry
from fpga_model.hw import PRESETS, HwConfig
from fpga_model.resources import (
    DIV_TILE,
    LUT6_MUX_INPUTS,
    YOSYS_FITS,
    bank_cost,
    blocks_for,
    dsp_blocks,
    estimate,
    fitted,
    generated_buffers,
    logic_cost,
    lutram_luts,
    macs_per_dsp,
    multiplier_dsps,
    mux_luts,
)
from fpga_model.testnets import lenet5, resnet_cifar

YOSYS = Path(__file__).resolve().parent.parent / "benchmarks" / "yosys"
RESULTS = json.loads((YOSYS / "results.json").read_text())
FLAT_PARTS = ("flat_pool", "flat_gap", "flat_add", "flat_io")


def _synth_luts():
    """Return benchmarks/yosys/synth_luts.py as a module (its fitting code, not Yosys, is used)."""
    spec = importlib.util.spec_from_file_location("synth_luts", YOSYS / "synth_luts.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["synth_luts"] = module
    spec.loader.exec_module(module)
    return module


def _hw(pox: int, poy: int, pof: int, bits: int = 16, **kw) -> HwConfig:
    return HwConfig(pox=pox, poy=poy, pof=pof, act_bits=bits, weight_bits=bits, acc_bits=32 if bits == 8 else 48, **kw)


def _geometry(**values: int) -> dict[str, int]:
    """Return a conv-only geometry of one-word banks with ``values`` overriding (DIV for a 3x3 average)."""
    kinds = {"HAS_POOL": 0, "HAS_GAP": 0, "HAS_ADD": 0, "HAS_FLAT": 0, "HAS_PSUM": 0}
    return dict.fromkeys(GEOMETRY_KEYS, 1) | {"DIV_ABITS": 21, "DIV_MBITS": 22} | kinds | values


# ------------------------------------------------------------------------------------ devices and DSPs

def test_device_lookup_aliases_and_parts():
    assert get_device("ZCU102") is DEVICES["xczu9eg"]
    assert get_device("pynq-z2") is DEVICES["xc7z020"]
    assert get_device("xczu9eg-ffvb1156-2-e") is DEVICES["xczu9eg"]
    assert device_for_part(PRESETS["pynq-z2-16b"].part) is DEVICES["xc7z020"]
    assert device_for_part("xc7a35t") is None
    for dev in DEVICES.values():
        HwConfig(part=dev.part, dram=dev.dram, clock_mhz=dev.clock_mhz)     # each preset makes a valid HwConfig
        assert device_for_part(dev.part) is dev


def test_unknown_device_names_nearest():
    with pytest.raises(DeviceError) as err:
        get_device("xczu9e")
    msg = str(err.value)
    assert "did you mean 'xczu9eg'" in msg and "xc7z020" in msg and "\n" not in msg


@pytest.mark.parametrize(("kind", "bits", "pof", "expect"), [
    ("DSP48E1", 16, 64, 3136), ("DSP48E1", 8, 64, 3136),
    ("DSP48E2", 16, 64, 3136), ("DSP48E2", 8, 64, 1568), ("DSP48E2", 8, 5, 49 * 3),
    ("A10_VPDSP", 16, 64, 1568), ("A10_VPDSP", 8, 5, 123),
])
def test_dsp_packing(kind, bits, pof, expect):
    assert dsp_blocks(_hw(7, 7, pof, bits), kind) == expect


def test_divider_dsps_follow_the_measured_multiplier_tiling():
    """Every div_recip synthesised on xc7 (DSP48E1) and xcup (DSP48E2) used as many DSPs as the tiling rule."""
    cases = [r for r in RESULTS["cases"] if r["block"] == "div_recip"]
    assert {r["family"] for r in cases} == {"xc7", "xcup"} and len(cases) >= 10
    for r in cases:
        kind = {"xc7": "DSP48E1", "xcup": "DSP48E2"}[r["family"]]
        assert multiplier_dsps(r["params"]["ABITS"], r["params"]["MBITS"], kind) == r["dsp"], r
    assert multiplier_dsps(24, 25, "A10_VPDSP") == 1 and DIV_TILE["A10_VPDSP"] == (26, 26)
    for r in (r for r in RESULTS["cases"] if r["block"] == "mac_lane"):      # one MAC per block at 8 and 16 bits
        assert r["dsp"] == 1


def test_ma_et_al_vgg16_on_arria10():
    """Ma et al. FPGA'17: 7x7x64 = 3,136 16-bit MACs on the Arria 10 GX 1150 (1,518 DSP blocks).

    Two 18x19 multipliers per block (Intel 683461) give 3,036 hard multipliers: the all-DSP mapping
    needs 1,568 blocks (103%) plus the dividers' blocks; with soft MACs every block the dividers leave holds
    two MACs and the rest go to logic.
    """
    dev = get_device("arria10")
    hw = _hw(7, 7, 64, part=dev.part, dram=dev.dram)
    g = _geometry(IB_R=7, IB_C=16, NB=16)                      # a conv-only net: V = 256 / 16 store dividers
    div = 256 // 16 * multiplier_dsps(21, 22, "A10_VPDSP")
    assert hw.macs == 3136 and dev.dsp * macs_per_dsp(dev.dsp_kind, 16) == 3036 and div == 16
    hard = estimate(hw, dev, g)
    assert hard.used["dsp"] == 1568 + div and not hard.fits
    soft = estimate(hw, dev, g, soft_macs=True)
    assert soft.used["dsp"] == 1518 and soft.detail["dsp"]["mac_array"] == 1518 - div
    assert soft.soft_macs == 3136 - 2 * (1518 - div) and soft.detail["lut"]["soft_mac"] > 0


# ------------------------------------------------------------------------------------------- memories

def test_bram_and_lutram_formulas_by_hand():
    # 4,096 16-bit words: 4 blocks of 1Kx18 (RAMB18) or 1Kx20 (M20K); 8-bit words: 2 blocks of 2Kx9
    assert blocks_for(65_536, 16, "RAMB18") == 4 and blocks_for(65_536, 16, "M20K") == 4
    assert blocks_for(65_536, 8, "RAMB18") == 4
    assert blocks_for(65_536, 36, "RAMB18") == 4                 # 1,821 words of 36 bits: 512x36 blocks
    assert lutram_luts(256, 16) == 24                            # 16 words x 16 bits = 6 x RAM64M = 24 LUT6


def test_bank_cost_is_register_lutram_or_block_ram_by_size():
    assert bank_cost(16, 16, 10, "RAMB18") == (0, 0, 160)                  # one word per bank: 16-bit registers
    assert bank_cost(64 * 16, 16, 10, "RAMB18") == (0, 10 * 24, 0)        # 64x16 = 1 Kib: RAM64M, 6 x 4 LUTs
    assert bank_cost(100 * 16, 16, 10, "RAMB18") == (10, 0, 0)            # 1,600 bits: one 1Kx18 block each


def test_generated_buffers_follow_the_engine_partition_pragmas():
    hw = _hw(4, 3, 8)
    g = _geometry(IB_R=6, IB_C=4, IBUF_DEPTH=50, WBUF_DEPTH=90, BBUF_DEPTH=2, NB=5, OBUF_DEPTH=700, RBUF_DEPTH=1,
                  FB=5, HAS_POOL=1, HAS_ADD=1, HAS_FLAT=1)
    assert generated_buffers(g, hw) == {
        "input": (48, 50, 16), "weight": (16, 90, 16), "bias": (16, 2, 48), "output": (2 * 8 * 5, 700, 16),
        "residual": (2 * 8 * 5, 1, 16), "planes": (10, 1, 16), "planes_out": (2, 1, 128), "planes_b": (10, 1, 16)}
    with_psum = generated_buffers(g | {"HAS_PSUM": 1, "PSUM_DEPTH": 700}, hw)
    assert with_psum["psum"] == (8 * 5, 700, 48)           # one copy of Pof x NB accumulator banks
    r = estimate(hw, DEVICES["xczu9eg"], g)
    # input: 800-bit banks -> LUTRAM ceil(50/64)*ceil(16/3)*4 = 24 LUTs each; weight 1,440 bits -> 1 RAMB18 each;
    # bias 96 bits -> LUTRAM 1*16*4 = 64; output 11,200 bits -> 1 block each (1Kx18 holds 700 words) in each of
    # the Pof x NB = 40 banks of both copies; residual and planes: one word per bank -> registers
    assert r.detail["bram"] == {"input": 0, "weight": 16, "bias": 0, "output": 80, "residual": 0, "planes": 0,
                                "planes_out": 0, "planes_b": 0, "axi": 4}
    assert r.detail["lut"]["lutram"] == 48 * 24 + 16 * 64
    assert r.detail["ff"]["buffer_registers"] == 80 * 16 + 20 * 16 + 2 * 128
    assert r.used["bram"] == sum(r.detail["bram"].values()) and r.used["lut"] == sum(r.detail["lut"].values())
    conv_only = generated_buffers(g | {"HAS_POOL": 0, "HAS_ADD": 0, "HAS_FLAT": 0}, hw)
    assert set(conv_only) == {"input", "weight", "bias", "output", "residual"}       # #if CGAP_HAS_FLAT


def test_estimate_needs_every_engine_constant():
    g = _geometry()
    del g["DIV_ABITS"]
    with pytest.raises(KeyError, match="DIV_ABITS"):
        estimate(_hw(2, 2, 4), DEVICES["xc7z020"], g)


# ----------------------------------------------------------------------------- Yosys-measured logic

def test_every_logic_constant_is_pinned_to_the_yosys_measurements():
    """YOSYS_FITS equal the fits recorded in benchmarks/yosys/results.json, and re-fitting the recorded cases
    (synth_luts.py's own least squares) gives the same coefficients."""
    assert RESULTS["yosys"].startswith("Yosys 0.23") and "synth_xilinx" in RESULTS["command"]
    refit = _synth_luts().fit_all(RESULTS["cases"])
    for name, (features, coefficients) in YOSYS_FITS.items():
        recorded = RESULTS["fits"][name]
        assert recorded["features"] == list(features), name
        assert recorded["coefficients"] == pytest.approx(coefficients, abs=1e-3), name
        assert refit[name]["coefficients"] == pytest.approx(coefficients, abs=1e-3), name
        assert recorded["cases"] >= 3, name


def test_fits_track_their_measurements():
    """Each fit predicts every case it was fitted on within its recorded worst error, and the lane fits (the
    element-wise unit's bulk) within 15%."""
    synth = _synth_luts()
    for name in YOSYS_FITS:
        block, value, _, where = synth.FITS[name]
        bound = RESULTS["fits"][name]["max_rel_error"] + 1e-3
        assert name not in ("drain_lut", "add_lut", "pool_lut", "store_lut") or bound <= 0.15, name
        for case in synth.select(RESULTS["cases"], block, where):
            params = dict(case["params"])
            if name == "window_lut":
                params["MUX"] = synth.mux_luts(params["BR"] * params["BC"], params["W"], list(YOSYS_FITS["mux_lut"][1]))
            assert abs(fitted(name, **params) - case[value]) <= bound * max(case[value], 1), (name, case["params"])


def test_small_muxes_are_one_lut_per_bit_and_wide_ones_follow_the_fit():
    for case in (r for r in RESULTS["cases"] if r["block"] == "mux_lane"):
        n, w = case["params"]["N"], case["params"]["W"]
        if n <= LUT6_MUX_INPUTS:
            assert case["lut"] == w == mux_luts(n, w)
    assert mux_luts(1, 16) == 0
    # the issue's measurement: a 196:1 lane of 16 bits (a stride-2 window on 7x7 lanes) ~1,300 LUTs
    assert 1_250 <= mux_luts(196, 16) <= 1_400


def test_xc7_measurements_do_not_exceed_the_xcup_fits():
    """The fits come from -family xcup and are used for every device; xc7 runs of the same blocks are no larger."""
    synth = _synth_luts()
    checked = 0
    for name in YOSYS_FITS:
        block, value, _, where = synth.FITS[name]
        if where["family"] != "xcup":
            continue
        for case in (r for r in RESULTS["cases"] if r["block"] == block and r["family"] == "xc7"):
            p = case["params"]
            model = mux_luts(p["N"], p["W"]) if name == "mux_lut" else fitted(name, **p)
            assert case[value] <= 1.05 * model, (name, p)
            checked += 1
    assert checked >= 5


def test_logic_counts_follow_the_engine_structure():
    """Instance counts by hand on a 2x2x4 array with V = 4: a stride-2 conv window is 4 lanes of 16:1, the drain
    Pof lanes, the element-wise unit V lanes (only the kinds compiled in); the window grows with the stride, the
    drain with Pof."""
    hw = _hw(2, 2, 4, dram=dataclasses.replace(PRESETS["tiny-test"].dram, port_bits=64))    # V = 4
    g = _geometry(IB_R=4, IB_C=4, NB=4, FB=5, HAS_POOL=1, HAS_FLAT=1)
    lut, ff = logic_cost(hw, "DSP48E1", g)
    c_lane, c_site = YOSYS_FITS["window_lut"][1]
    assert lut["conv_window"] == math.ceil(c_lane * 4 * mux_luts(16, 16) + c_site)
    drain = 4 * (mux_luts(4, 48) + mux_luts(4, 16) + fitted("drain_lut", ACC=48, ACT=16))
    assert lut["drain"] == math.ceil(drain)
    assert lut["loads"] == (4 + 4) * 16                                         # IB_C + NB columns of 4:1
    assert lut["pingpong"] == 16 * 16 + 4 * 16 + 4 * 48 + 2 * 4 * 4 * 16        # ibuf, wbuf, bbuf, obuf+rbuf
    assert ff["mac"] == 16 * 48                                                 # held copies (acc in the DSP)
    pool = 4 * (mux_luts(5, 16) + fitted("pool_lut", ACC=48, ACT=16) + fitted("div_lut", ABITS=21))
    assert lut["flat_pool"] == math.ceil(pool) and ff["flat_pool"] == math.ceil(4 * fitted("pool_ff", ACC=48, ACT=16))
    assert lut["flat_io"] == 5 * (16 + 16) + 64                                 # FB banks: 4:1 load, 2:1 ping-pong
    assert "flat_gap" not in lut and "flat_add" not in lut
    wide, _ = logic_cost(dataclasses.replace(hw, pof=8), "DSP48E1", g)
    assert wide["drain"] == math.ceil(2 * drain) and wide["flat_pool"] == lut["flat_pool"]     # V lanes, not Pof
    stride1, _ = logic_cost(hw, "DSP48E1", g | {"IB_R": 2, "IB_C": 4})
    assert stride1["conv_window"] < lut["conv_window"]
    assert not set(FLAT_PARTS) & set(logic_cost(hw, "DSP48E1", g | {"HAS_POOL": 0, "HAS_FLAT": 0})[0])


def test_accumulator_leaves_the_dsp_when_packed_or_wider_than_p():
    hw8, hw16 = _hw(2, 2, 4, bits=8), _hw(2, 2, 4)
    g = _geometry()
    assert logic_cost(hw16, "DSP48E2", g)[0]["mac"] == 0                       # in the P register
    assert logic_cost(hw8, "DSP48E2", g)[0]["mac"] == math.ceil(16 * fitted("mac_acc_lut", ACC=32))   # packed
    assert logic_cost(hw16, "A10_VPDSP", g)[0]["mac"] > 0
    assert logic_cost(dataclasses.replace(hw16, acc_bits=56), "DSP48E1", g)[0]["mac"] > 0


# -------------------------------------------------------------------------------- real networks

def test_geometry_equals_the_generated_project_constants():
    """fpga_model.geometry (what the DSE and the resource model use) gives the constants codegen compiles the
    project with, from the unquantised network's schedule."""
    from cgap.hls import compile_network
    from tests.hls_nets import plain_net, relu_net, residual_net

    for make in (plain_net, residual_net, relu_net):
        net = make()
        for hw in (PRESETS["pynq-z2-16b"], PRESETS["zcu102-8b"]):
            c = compile_network(net, hw, np.random.default_rng(0).normal(0, 1, (100, *net.input_shape)), "r")
            want = {k: c.program.constants[k] for k in GEOMETRY_KEYS}
            assert geometry(c.layers, hw) == want == network_geometry(net, hw), (net.name, hw.name)


def test_the_element_wise_unit_is_counted_for_the_kinds_compiled_in():
    """lenet5 (pools fused) compiles no element-wise unit; resnet20 only the GAP (one divider beside the V of the
    conv store); residual_net pool, GAP and add."""
    from tests.hls_nets import residual_net

    hw = PRESETS["zcu102-16b"]
    dev = device_for_part(hw.part)
    parts = {}
    for net in (lenet5(), resnet_cifar(20), residual_net()):
        rep = estimate(hw, dev, network_geometry(net, hw))
        parts[net.name] = ({k for k in FLAT_PARTS if k in rep.detail["lut"]}, rep.detail["dsp"]["dividers"])
    v = 128 // 16
    assert parts["lenet5"] == (set(), v * multiplier_dsps(18, 19, "DSP48E2"))
    assert parts["resnet20"] == ({"flat_gap", "flat_io"}, (v + 1) * multiplier_dsps(24, 25, "DSP48E2"))
    assert parts["resnet_toy0"][0] == set(FLAT_PARTS) and parts["resnet_toy0"][1] == (2 * v + 1) * 2


@pytest.mark.parametrize(("net", "preset"), [(resnet_cifar(20), "zcu102-16b"), (lenet5(), "pynq-z2-16b")])
def test_acceptance_nets_fit(net, preset):
    """Issue 13: the generated projects of resnet20 on zcu102-16b and lenet5 on pynq-z2-16b fit their parts by
    the estimate that counts crossbars, drains, stores, dividers and the element-wise unit."""
    hw = PRESETS[preset]
    dev = device_for_part(hw.part)
    rep = estimate(hw, dev, network_geometry(net, hw))
    assert rep.fits and rep.used["lut"] <= 0.8 * dev.lut
    assert rep.detail["lut"]["conv_window"] > 2_000 and rep.detail["lut"]["drain"] > 10_000


def test_bigger_arrays_never_use_less():
    net = resnet_cifar(8, widths=(8, 12, 24))
    dev = get_device("xcu250")
    base = _hw(4, 4, 8, part=dev.part, dram=dev.dram)
    small = estimate(base, dev, network_geometry(net, base))
    for change in ({"pof": 16}, {"pox": 8}, {"poy": 8}):
        hw = dataclasses.replace(base, **change)
        big = estimate(hw, dev, network_geometry(net, hw))
        assert all(big.used[k] >= small.used[k] for k in ("dsp", "lut")), change


def test_strided_standalone_pool_and_gap_add_nets():
    """plain_net (3x3 stride-2 standalone max pool) on pynq-z2-16b: FB = 5 column banks (the least n >= V = 4
    coprime with the stride) and V pool lanes with their dividers; residual_net (pool, GAP, add) on zcu102-16b.
    Both fit."""
    from tests.hls_nets import plain_net, residual_net

    hw = PRESETS["pynq-z2-16b"]
    g = network_geometry(plain_net(), hw)
    assert g["FB"] == 5 and g["HAS_POOL"] == 1 and generated_buffers(g, hw)["planes"][0] == 2 * 5
    rep = estimate(hw, DEVICES["xc7z020"], g)
    assert rep.fits and rep.detail["dsp"]["dividers"] == 2 * 4 * multiplier_dsps(g["DIV_ABITS"], g["DIV_MBITS"], "DSP48E1")
    zcu = PRESETS["zcu102-16b"]
    assert estimate(zcu, DEVICES["xczu9eg"], network_geometry(residual_net(), zcu)).fits
