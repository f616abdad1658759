"""Every cycle and DRAM term of the engine model pinned by hand on one small conv layer (numbers derived in the
comments from the rules in fpga_model/SIMULATOR.md, not from the code under test)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cgap.hls import export_fpga
from cgap_ir import INPUT, Network, Node, ops
from fpga_model import dram
from fpga_model.engine_sim import simulate_layer, tile_costs
from fpga_model.hw import DramConfig, HwConfig
from fpga_model.schedule import fuse

# 2x2x4 MAC array, 16-bit data, 48-bit accumulators; a 64-bit port (V = VW = 4 words a beat) at 100 MHz (10 ns).
# DRAM: 0.4 GB/s sustained = 4 B/cycle, so a beat (8 B) holds the device 2 cycles (beat_x1024 = 2048); latency
# 10 cycles a burst; 64-byte rows (8 beats) at 30 ns a miss = 3 cycles; 20 ns turnaround = 2 cycles.
HW = HwConfig(name="terms", pox=2, poy=2, pof=4, act_bits=16, weight_bits=16, acc_bits=48, input_buffer_kib=64,
              weight_buffer_kib=64, output_buffer_kib=64, clock_mhz=100.0,
              dram=DramConfig(kind="DDR3", port_bits=64, bandwidth_gbps=0.4, efficiency=1.0, latency_cycles=10,
                              turnaround_ns=20.0, row_bytes=64, row_miss_ns=30.0))


def _network(seed: int = 0) -> Network:
    w = np.random.default_rng(seed).normal(0, 0.3, (5, 2, 3, 3))
    conv = ops.Conv2d(2, 5, (3, 3), (1, 1), (1, 1, 1, 1), has_bias=False, weight=w)
    return Network("terms", (2, 6, 6), (Node("c", conv, (INPUT,)), Node("r", ops.ReLU(), ("c",))), "r")


def _layer():
    """Return a 3x3 pad-1 conv 2 -> 5 channels on 6x6 with ReLU, tiled (Toy, Tof) = (3, 4): four tiles
    (f0, y0) = (0, 0), (0, 3), (4, 0), (4, 3) of 4, 4, 1, 1 output channels."""
    return dataclasses.replace(fuse(_network())[0], toy=3, tof=4)


def test_dram_unit_terms():
    assert dram.beat_cycles_x1024(HW) == 2048
    assert (dram.miss_cycles(HW), dram.turnaround_cycles(HW), dram.row_bytes(HW)) == (3, 2, 64)
    assert dram.burst_cycles(np.array([18, 0]), np.array([1, 0]), HW).tolist() == [28, 0]     # 10 + 18
    assert dram.row_misses(np.array([18, 8, 9]), np.array([1, 2, 1]), HW).tolist() == [3, 2, 2]  # 144/64, 2x64/64
    # 38 read beats x 2 + 24 write beats x 2 + 10 misses x 3 + a turnaround each way (2 x 2)
    assert dram.device_cycles(np.array([38]), np.array([24]), np.array([10]), HW).tolist() == [76 + 48 + 30 + 4]


def test_per_tile_stage_cycles_by_hand():
    t = tile_costs(_layer(), HW, pipeline_depth=8)
    # compute: 2 channels x 3 x 3 = 18 MAC steps >= Poy*Pox = 4 write-out cycles, so a block takes 18; blocks per
    # tile = 1 group x ceil(3/2) row blocks x ceil(6/2) column blocks = 6; + 8 fill + 4 for the last write-out.
    assert t.compute.tolist() == [8 + 6 * 18 + 4] * 4
    # weights: 1 group x 18 steps x 4 lanes (already whole beats) = 18 beats; biases: 4 lanes x 4-word slots
    # (3 words for 48 bits, rounded to a power of two) = 16 words = 4 beats; first row tile of each channel tile.
    assert t.weight_beats.tolist() == [22, 0, 22, 0]
    # input: tile rows -1..3 and 2..6 of the padded map -> 4 image rows each; a row of 6 words is padded to 8 =
    # 2 beats; not the whole height, so one burst per channel: 2 x 8 beats.
    assert t.act_read_beats.tolist() == [16] * 4
    assert t.load.tolist() == [(10 + 18) + (10 + 4) + 2 * (10 + 8), 2 * (10 + 8)] * 2
    # store: 3 rows x 2 beats per channel, one burst per channel (the tile is not the whole height)
    assert t.write_beats.tolist() == [24, 24, 6, 6]
    assert t.store.tolist() == [4 * (10 + 6), 4 * (10 + 6), 10 + 6, 10 + 6]
    # row misses: weights 144 B -> 3 rows, biases 32 B -> 1, each input burst 64 B -> 1; each store burst 48 B -> 1
    assert t.read_misses.tolist() == [6, 2, 6, 2] and t.write_misses.tolist() == [4, 4, 1, 1]


def test_layer_cycles_by_hand():
    r = simulate_layer(_layer(), HW, pipeline_depth=8)
    # step: max(load s, compute s-1, store s-2, device); device = 2 per beat read/written + 3 per miss + 4 turnaround
    steps = [max(78, 38 * 2 + 6 * 3),                              # load tile 0 only: device 94
             max(36, 120, 16 * 2 + 2 * 3),                         # 120
             max(78, 120, 64, 38 * 2 + 24 * 2 + (6 + 4) * 3 + 4),  # device 158
             max(36, 120, 64, 16 * 2 + 24 * 2 + (2 + 4) * 3 + 4),  # 120
             max(120, 16, 6 * 2 + 1 * 3),                          # 120
             max(16, 6 * 2 + 1 * 3)]                               # 16
    assert steps == [94, 120, 158, 120, 120, 16]
    assert r.cycles == sum(steps) == 628 and r.compute_cycles == 480 and r.tiles == 4
    assert (r.dram_read_weight_bytes, r.dram_read_act_bytes, r.dram_write_bytes) == (44 * 8, 64 * 8, 60 * 8)
    assert r.iterations == 4 * 6 * 18


def test_sequential_tiles_by_hand():
    r = simulate_layer(_layer(), HW, pipeline_depth=8, overlap=False)
    # per tile: max(load, device reads) + compute + max(store, device writes) + 2 turnarounds
    tiles = [max(78, 94) + 120 + max(64, 48 + 12) + 4, max(36, 38) + 120 + max(64, 60) + 4,
             max(78, 94) + 120 + max(16, 12 + 3) + 4, max(36, 38) + 120 + max(16, 15) + 4]
    assert r.cycles == sum(tiles) == 920


@pytest.mark.parametrize("field, value", [("latency_cycles", 0), ("turnaround_ns", 0.0), ("row_miss_ns", 0.0)])
def test_each_dram_timing_term_changes_the_cycles(field, value):
    """Dropping latency, turnaround or row misses from the model must show in the pinned layer's cycles."""
    hw = dataclasses.replace(HW, dram=dataclasses.replace(HW.dram, **{field: value}))
    assert simulate_layer(_layer(), hw, pipeline_depth=8).cycles < 628


def test_generated_engine_counts_the_same_628_cycles(tmp_path, monkeypatch):
    """The C engine, compiled and run, counts the hand-derived cycles of this layer.  The tile chooser only
    offers Toy in multiples of Poy, so the export's schedule is replaced by the same table tiled (3, 4): the
    engine must run any tiling the table holds."""
    monkeypatch.setattr("cgap.lower.choose_tiles", lambda layer, hw: dataclasses.replace(layer, toy=3, tof=4))
    net = _network()
    x = np.random.default_rng(1).normal(0, 1, (100, *net.input_shape))
    report = export_fpga(net, HW, tmp_path, x, "terms", verify_images=x[:2], opt="-O1")["verify"]
    layer = report["layers"][0]
    assert report["bit_exact"] and report["cycles_match"]
    assert (layer["cycles"], layer["compute_cycles"]) == (628, 480)
    assert layer["dram_bytes"] == [44 * 8, 64 * 8, 60 * 8]


def test_buffer_traffic_by_hand():
    """On-chip bytes the energy model prices: per MAC step the array reads Pox*Poy = 4 input and Pof = 4 weight
    words (432 steps, 2 bytes each); the write-out writes each of the 4*3*6*2 + 1*3*6*2 = 180 outputs once and
    the stores read them back; loads write what their beats carry (64 input beats, 44 weight beats of 8 bytes)."""
    r = simulate_layer(_layer(), HW, pipeline_depth=8)
    assert r.buffer_read_bytes == {"input": 432 * 4 * 2, "weight": 432 * 4 * 2, "output": 180 * 2}
    assert r.buffer_write_bytes == {"input": 64 * 8, "weight": 44 * 8, "output": 180 * 2}
    assert r.alu_ops == 180 * 2                                   # requantise + ReLU per output
