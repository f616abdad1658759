"""Resource model: device presets, DSP packing, BRAM partition formula, Ma et al. VGG-16 check, errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fpga_model.devices import DEVICES, DeviceError, device_for_part, get_device
from fpga_model.hw import PRESETS, HwConfig
from fpga_model.resources import (
    GEOMETRY_KEYS,
    bank_cost,
    blocks_for,
    buffer_cost,
    dsp_blocks,
    estimate,
    estimate_generated,
    generated_buffers,
    lutram_luts,
    macs_per_dsp,
)


def _hw(pox: int, poy: int, pof: int, bits: int = 16, **kw) -> HwConfig:
    return HwConfig(pox=pox, poy=poy, pof=pof, act_bits=bits, weight_bits=bits, acc_bits=32 if bits == 8 else 48, **kw)


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


def test_ma_et_al_vgg16_on_arria10():
    """Ma et al. FPGA'17: 7x7x64 = 3,136 16-bit MACs on the Arria 10 GX 1150 (1,518 DSP blocks).

    Two 18x19 multipliers per block (Intel 683461) give 3,036 hard multipliers: the all-DSP mapping
    needs 1,568 blocks (103%), so 100 MACs must go to logic, which fills every DSP block.
    """
    dev = get_device("arria10")
    hw = _hw(7, 7, 64, part=dev.part)
    assert hw.macs == 3136 and dev.dsp * macs_per_dsp(dev.dsp_kind, 16) == 3036
    hard = estimate(hw, dev)
    assert hard.used["dsp"] == 1568 and not hard.fits and hard.percent()["dsp"] > 100
    soft = estimate(hw, dev, soft_macs=True)
    assert soft.used["dsp"] == 1518 and soft.soft_macs == 100 and soft.percent()["dsp"] == 100.0
    assert soft.detail["lut"]["soft_mac"] > 0


def test_bram_partition_formula_by_hand():
    # 64 KiB ping-pong, 16-bit words, 4 partitions: 32 KiB per half / 4 = 65,536 bits = 4,096 words per
    # partition = 4 blocks of 1Kx18 (RAMB18) or 1Kx20 (M20K); x 4 partitions x 2 halves = 32.
    assert buffer_cost(64, 16, 4, "RAMB18") == (32, 0)
    assert buffer_cost(64, 16, 4, "M20K") == (32, 0)
    assert buffer_cost(64, 8, 4, "RAMB18") == (32, 0)            # 8,192 8-bit words per partition in 2Kx9 blocks
    assert blocks_for(65_536, 36, "RAMB18") == 4                 # 1,821 words of 36 bits: 512x36 blocks
    # 4 KiB over 64 partitions: 256 bits each -> LUTRAM, 16 words x 16 bits = 1 x 6 RAM64M = 24 LUT6
    assert lutram_luts(256, 16) == 24
    assert buffer_cost(4, 16, 64, "RAMB18") == (0, 2 * 64 * 24)


def test_estimate_counts_every_buffer_and_reports():
    dev = get_device("xczu9eg")
    hw = _hw(8, 8, 16, input_buffer_kib=128, weight_buffer_kib=64, output_buffer_kib=32)
    rep = estimate(hw, dev)
    assert rep.detail["bram"]["input"] == buffer_cost(128, 16, 64, "RAMB18")[0]
    assert rep.detail["bram"]["weight"] == buffer_cost(64, 16, 16, "RAMB18")[0]
    assert rep.used["bram"] == sum(rep.detail["bram"].values())
    assert rep.used["dsp"] == 1024 and rep.fits
    doc = json.loads(json.dumps(rep.to_dict()))
    assert set(doc) == {"device", "fits", "used", "available", "percent", "soft_macs", "detail"}
    assert set(doc["used"]) == {"dsp", "bram", "lut", "ff"}


def test_bigger_arrays_and_buffers_never_use_less():
    dev = get_device("xcu250")
    small = estimate(_hw(4, 4, 8), dev)
    for change in ({"pof": 16}, {"pox": 8}, {"input_buffer_kib": 1024}, {"weight_buffer_kib": 1024}):
        big = estimate(dataclasses.replace(_hw(4, 4, 8), **change), dev)
        assert all(big.used[k] >= small.used[k] for k in small.used), change


def test_too_big_design_does_not_fit_small_device():
    rep = estimate(_hw(16, 16, 16), get_device("xc7z020"))
    assert not rep.fits and rep.used["dsp"] == 4096 and rep.available["dsp"] == 220


def test_bank_cost_is_register_lutram_or_block_ram_by_size():
    assert bank_cost(16, 16, 10, "RAMB18") == (0, 0, 160)                  # one word per bank: 16-bit registers
    assert bank_cost(64 * 16, 16, 10, "RAMB18") == (0, 10 * 24, 0)        # 64x16 = 1 Kib: RAM64M, 6 x 4 LUTs
    assert bank_cost(100 * 16, 16, 10, "RAMB18") == (10, 0, 0)            # 1,600 bits: one 1Kx18 block each


def test_generated_buffers_follow_the_engine_partition_pragmas():
    hw = _hw(4, 3, 8)
    g = dict(IB_R=6, IB_C=4, IBUF_DEPTH=50, WBUF_DEPTH=90, BBUF_DEPTH=2, NB=5, OBUF_DEPTH=700, RBUF_DEPTH=1,
             FB=5, FBUF_DEPTH=1, FBUF_B_DEPTH=1, FOBUF_BEATS=1)
    assert set(g) == set(GEOMETRY_KEYS)
    assert generated_buffers(g, hw) == {
        "input": (48, 50, 16), "weight": (16, 90, 16), "bias": (16, 2, 48), "output": (2 * 8 * 5, 700, 16),
        "residual": (2 * 8 * 5, 1, 16), "planes": (10, 1, 16), "planes_b": (10, 1, 16), "planes_out": (2, 1, 128)}
    r = estimate_generated(hw, DEVICES["xczu9eg"], g)
    # input: 800-bit banks -> LUTRAM ceil(50/64)*ceil(16/3)*4 = 24 LUTs each; weight 1,440 bits -> 1 RAMB18 each;
    # bias 96 bits -> LUTRAM 1*16*4 = 64; output 11,200 bits -> 1 block each (1Kx18 holds 700 words) in each of
    # the Pof x NB = 40 banks of both copies; residual and planes: one word per bank -> registers
    assert r.detail["bram"] == {"input": 0, "weight": 16, "bias": 0, "output": 80, "residual": 0, "planes": 0,
                                "planes_b": 0, "planes_out": 0, "axi": 4}
    assert r.detail["lut"]["lutram"] == 48 * 24 + 16 * 64
    assert r.detail["ff"]["buffer_registers"] == 80 * 16 + 20 * 16 + 2 * 128
    base = estimate(hw, DEVICES["xczu9eg"])
    assert r.used["dsp"] == base.used["dsp"] and r.detail["lut"]["mac"] == base.detail["lut"]["mac"]


def test_strided_standalone_pool_uses_a_port_wide_element_wise_unit():
    """plain_net has a 3x3 stride-2 standalone max pool.  The element-wise unit is V lanes wide (V = 4 words a
    beat on pynq-z2-16b's 64-bit port), its input planes in FB = 5 column banks (the least n >= 4 coprime with the
    stride 2) — not Pof x 2Poy x 2Pox = 512 banks as in the first engine — and both nets fit the xc7z020."""
    import numpy as np

    from cgap.hls import compile_network
    from tests.hls_nets import plain_net, residual_net

    hw, dev = PRESETS["pynq-z2-16b"], DEVICES["xc7z020"]
    reports = {}
    for make in (plain_net, residual_net):
        net = make()
        c = compile_network(net, hw, np.random.default_rng(0).normal(0, 1, (100, *net.input_shape)), "r")
        geometry = {k: c.program.constants[k] for k in GEOMETRY_KEYS}
        reports[make.__name__] = (geometry, estimate_generated(hw, dev, geometry))
    g, plain = reports["plain_net"]
    assert g["FB"] == 5 and generated_buffers(g, hw)["planes"][0] == 2 * 5
    assert plain.fits
    assert reports["residual_net"][1].fits
