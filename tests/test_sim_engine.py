"""Engine simulator: contract with schedule.py, report schema, properties (Hypothesis), errors."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cgap.cli import main
from cgap_ir import INPUT, Network, Node, ops
from cgap_ir.fold_bn import fold_bn
from fpga_model.cost import fast_layer_cycles, pingpong_cycles, tile_costs
from fpga_model.engine_sim import PIPELINE_DEPTH, simulate, simulate_layer
from fpga_model.hw import PRESETS, HwConfig, HwConfigError, load_hw
from fpga_model.loopnest import EngineLayer
from fpga_model.report import ENERGY_KEYS, to_csv, to_dict
from fpga_model.schedule import (
    ScheduleError,
    TilingTable,
    buffer_limits,
    candidate_tilings,
    choose_tiles,
    compute_iterations,
    fuse,
    input_rows,
    schedule,
    tiling_key,
    with_tiling,
)
from fpga_model.testnets import lenet5, resnet_cifar, vgg

NETS = [resnet_cifar(20), resnet_cifar(20, widths=(5, 11, 23)), vgg("vgg11", 0.125), lenet5()]
HWS = [PRESETS["tiny-test"], PRESETS["pynq-z2-16b"], PRESETS["zcu102-8b"]]


@pytest.mark.parametrize("hw", HWS, ids=lambda h: h.name)
@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_conv_write_out_hides_behind_the_mac_steps(net, hw):
    """A conv block's write-out (Poy*Pox cycles) overlaps the next block's MAC steps: compute cycles are the MAC
    iterations plus, per tile, one pipeline fill and one last write-out, unless a block has fewer MAC steps than
    write-out cycles (then the write-out sets the pace)."""
    layers = schedule(net, hw)
    report = simulate(layers, hw, pipeline_depth=5)
    drain = hw.poy * hw.pox
    for layer, r in zip(layers, report.layers, strict=True):
        assert r.iterations == compute_iterations(layer, hw) and r.cycles >= r.compute_cycles
        if layer.kind != "conv":
            continue
        steps = layer.in_shape[0] * layer.kernel[0] * layer.kernel[1]
        busy = r.iterations if steps >= drain else r.iterations // steps * drain
        assert r.compute_cycles == busy + r.tiles * (5 + drain), layer.name


def test_multi_tile_layers_overlap_transfers():
    hw = PRESETS["tiny-test"]
    layers = schedule(resnet_cifar(20), hw)
    multi = [layer for layer in layers if simulate_layer(layer, hw).tiles > 1]
    assert multi, "tiny-test should force several tiles somewhere"
    fast = dataclasses.replace(hw, dram=dataclasses.replace(hw.dram, bandwidth_gbps=1e4, port_bits=1024,
                                                            latency_cycles=0))
    r = simulate_layer(multi[0], fast)
    # With near-free DRAM only the first load and last store are exposed: at most a few cycles each.
    assert r.stall_cycles < 0.05 * r.cycles


def test_input_rows_cover_halo_without_padding():
    net = resnet_cifar(20)
    layer = dataclasses.replace(schedule(net, PRESETS["tiny-test"])[0], toy=8)
    rows = input_rows(layer)
    assert rows[0] == (0, 9) and rows[1] == (7, 17) and rows[-1] == (23, 32)


def test_json_schema_and_sums():
    report = simulate(resnet_cifar(20), PRESETS["pynq-z2-16b"])
    doc = json.loads(json.dumps(to_dict(report)))
    total = doc["total"]
    for key in ("cycles", "latency_us", "compute_cycles", "stall_cycles", "utilisation", "roofline_cycles",
                "dram_read_bytes", "dram_write_bytes", "dram_read_weight_bytes", "dram_read_act_bytes", "gops",
                "buffer_read_bytes", "buffer_write_bytes", "energy_pj"):
        assert key in total, key
    for row in doc["layers"]:
        for key in ("name", "cycles", "compute_cycles", "stall_cycles", "dram_read_bytes", "dram_write_bytes",
                    "energy_pj"):
            assert key in row, key
        assert row["stall_cycles"] == row["cycles"] - row["compute_cycles"] >= 0
        assert row["energy_pj"]["total"] == pytest.approx(sum(row["energy_pj"][k] for k in ENERGY_KEYS))
    assert total["cycles"] == sum(r["cycles"] for r in doc["layers"])
    assert total["dram_read_bytes"] == total["dram_read_weight_bytes"] + total["dram_read_act_bytes"]
    assert total["energy_pj"]["total"] == pytest.approx(sum(total["energy_pj"][k] for k in ENERGY_KEYS))
    weights = sum(n.op.params() for n in resnet_cifar(20).nodes if n.op.kind in ("Conv2d", "Linear"))
    assert total["dram_read_weight_bytes"] >= weights * 2      # every weight loaded at least once (16-bit)
    lines = to_csv(report).splitlines()
    assert len(lines) == len(doc["layers"]) + 2 and lines[-1].startswith("TOTAL,")


def test_energy_table_overrides_by_toml(tmp_path):
    path = tmp_path / "hw.toml"
    path.write_text('preset = "pynq-z2-16b"\n[dram]\npreset = "HBM2"\n[energy]\nstatic_power_w = 0.0\n')
    hw = load_hw(path)
    assert hw.energy.dram_pj_per_bit == 3.9 and hw.dram.kind == "HBM2"
    base = simulate(lenet5(), PRESETS["pynq-z2-16b"]).total()["energy_pj"]
    hbm = simulate(lenet5(), hw).total()["energy_pj"]
    assert hbm["static"] == 0 and hbm["dram"] < base["dram"] / 10


# --------------------------------------------------------------------------------------------- properties

def _conv_net(c_in: int, size: int, widths: list[int], kernels: list[int], strides: list[int],
              residual: bool, pool: bool) -> Network:
    """Return conv-BN-ReLU layers (optionally a residual block at the end and a pool), then GAP + linear."""
    nodes, x, cin = [], INPUT, c_in
    for i, (w, k, s) in enumerate(zip(widths, kernels, strides, strict=True)):
        p = k // 2
        nodes += [Node(f"c{i}", ops.Conv2d(cin, w, (k, k), (s, s), (p, p, p, p)), (x,)),
                  Node(f"b{i}", ops.BatchNorm(w), (f"c{i}",)), Node(f"r{i}", ops.ReLU(), (f"b{i}",))]
        x, cin = f"r{i}", w
    if residual:
        nodes += [Node("rc", ops.Conv2d(cin, cin, (3, 3), pads=(1, 1, 1, 1)), (x,)), Node("ra", ops.Add(), ("rc", x)),
                  Node("rr", ops.ReLU(), ("ra",))]
        x = "rr"
    if pool:
        nodes.append(Node("mp", ops.MaxPool((2, 2), (2, 2)), (x,)))
        x = "mp"
    nodes += [Node("gap", ops.GlobalAvgPool(), (x,)), Node("fl", ops.Flatten(), ("gap",)),
              Node("fc", ops.Linear(cin, 10), ("fl",))]
    return Network("h", (c_in, size, size), tuple(nodes), "fc")


@st.composite
def nets(draw):
    n = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    kernels = draw(st.lists(st.sampled_from([1, 3, 5]), min_size=n, max_size=n))
    strides = draw(st.lists(st.sampled_from([1, 1, 2]), min_size=n, max_size=n))
    size = draw(st.sampled_from([8, 12, 16]))
    final = size
    for s in strides:
        final = -(-final // s)
    return dict(c_in=draw(st.integers(1, 8)), size=size, widths=widths, kernels=kernels, strides=strides,
                residual=draw(st.booleans()), pool=final >= 2 and draw(st.booleans()))


hws = st.sampled_from(HWS)


def _sim(net: Network, hw: HwConfig):
    """Return simulate(net, hw), discarding the example when the net fits no tile on hw."""
    try:
        return simulate(net, hw)
    except ScheduleError:
        assume(False)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(spec=nets(), hw=hws)
def test_cycles_at_least_roofline(spec, hw):
    for r in _sim(_conv_net(**spec), hw).layers:
        assert r.cycles >= r.roofline_cycles >= 0
        assert r.cycles >= r.macs / hw.macs


@FAST
@given(spec=nets(), hw=hws, data=st.data())
def test_removing_channels_never_costs_more(spec, hw, data):
    i = data.draw(st.integers(0, len(spec["widths"]) - 1))
    cut = data.draw(st.integers(1, spec["widths"][i]))
    small_widths = list(spec["widths"])
    small_widths[i] = cut
    big = _sim(_conv_net(**spec), hw).total()
    small = simulate(_conv_net(**{**spec, "widths": small_widths}), hw).total()
    # The tile chooser minimises each layer's cycles, and the big net's tiling (or its whole-tensor variant) is
    # always open to the smaller one: fewer channels never take more cycles (compute or DRAM traffic alone may
    # grow when the smaller layer is better off with more, smaller tiles).
    assert small["cycles"] <= big["cycles"]


@FAST
@given(spec=nets(), hw=hws)
def test_energy_is_sum_of_parts(spec, hw):
    report = _sim(_conv_net(**spec), hw)
    for r in report.layers:
        assert r.energy_pj["total"] == pytest.approx(sum(r.energy_pj[k] for k in ENERGY_KEYS), rel=1e-12)
        assert min(r.energy_pj.values()) >= 0
    total = report.total()["energy_pj"]
    assert total["total"] == pytest.approx(sum(r.energy_pj["total"] for r in report.layers), rel=1e-12)


@FAST
@given(spec=nets(), hw=hws, port=st.booleans())
def test_doubling_bandwidth_never_slows_a_layer(spec, hw, port):
    dram = dataclasses.replace(hw.dram, bandwidth_gbps=2 * hw.dram.bandwidth_gbps,
                               port_bits=min(1024, hw.dram.port_bits * (2 if port else 1)))
    fast = dataclasses.replace(hw, dram=dram)
    net = _conv_net(**spec)
    for slow_r, fast_r in zip(_sim(net, hw).layers, simulate(net, fast).layers, strict=True):
        assert fast_r.cycles <= slow_r.cycles


# --------------------------------------------------------------------------------------------- errors

def test_buffers_too_small_name_layer_key_and_the_budget_that_works():
    hw = HwConfig(name="mini", pox=8, poy=8, pof=64, input_buffer_kib=1, weight_buffer_kib=1, output_buffer_kib=1)
    with pytest.raises(ScheduleError, match=r"layer 'bn\d+'.*smallest tile.*set buffers\.\w+_kib >= \d+") as err:
        simulate(resnet_cifar(20), hw)  # BN folded: the layer keeps the BN's name
    message = str(err.value)
    wants = {f"{k}_buffer_kib": int(v) for k, v in re.findall(r"buffers\.(\w+)_kib >= (\d+)", message)}
    name = re.search(r"layer '(\w+)'", message).group(1)
    layer = next(lay for lay in fuse(fold_bn(resnet_cifar(20))) if lay.name == name)
    with pytest.raises(ScheduleError):
        choose_tiles(layer, dataclasses.replace(hw, **{k: v - 1 for k, v in wants.items()}))
    assert choose_tiles(layer, dataclasses.replace(hw, **wants)).toy >= 1   # the budget named is enough


@pytest.mark.parametrize("text, needle", [
    ("[dram]\nport_bits = 96\n", "dram.port_bits"),
    ("[dram]\npreset = \"DDR9\"\n", "dram.preset"),
    ("[dram]\nrow_miss_ns = -1\n", "dram.row_miss_ns"),
    ("[energy]\nmac_pj_16bit = \"x\"\n", "energy.mac_pj_16bit"),
    ("[energy]\nbogus = 1\n", "energy.bogus"),
    ("[array\npox = 2\n", "not valid TOML"),
    ("[array]\npox = 0\n", "pox"),
])
def test_bad_hw_toml(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(HwConfigError, match=needle) as exc:
        load_hw(path)
    assert "\n" not in str(exc.value)


def test_hw_round_trip_with_dram_and_energy_fields(tmp_path):
    from fpga_model.hw import hw_to_toml
    hw = dataclasses.replace(PRESETS["pynq-z2-16b"], name="rt",
                             dram=dataclasses.replace(PRESETS["pynq-z2-16b"].dram, row_bytes=2048, row_miss_ns=36.0))
    path = tmp_path / "rt.toml"
    path.write_text(hw_to_toml(hw))
    assert load_hw(path) == hw


def test_cli_engine_errors_exit_nonzero(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[buffers]\ninput_kib = -1\n")
    assert main(["sim", "--arch", "resnet20", "--hw", str(bad)]) == 2
    assert "input_buffer_kib" in capsys.readouterr().err
    assert main(["sim", "nothing.txt"]) == 2
    assert main(["sim"]) == 2


def test_negative_pipeline_depth_rejected(capsys):
    assert PIPELINE_DEPTH == 8
    assert main(["sim", "--arch", "lenet5", "--pipeline-depth", "-1"]) == 2
    assert "--pipeline-depth" in capsys.readouterr().err


@pytest.mark.parametrize("net", NETS[:2], ids=lambda n: n.name)
def test_ping_pong_never_slower_than_sequential(net):
    hw = PRESETS["tiny-test"]
    seq = simulate(net, hw, overlap=False).layers
    for a, b in zip(simulate(net, hw).layers, seq, strict=True):
        assert a.cycles <= b.cycles and a.compute_cycles == b.compute_cycles
    assert sum(r.cycles for r in seq) > sum(r.cycles for r in simulate(net, hw).layers)


def test_unfusable_relus_become_one_by_one_max_pools_with_relu():
    from fpga_model.schedule import fuse
    from tests.hls_nets import relu_net

    layers = {lay.name: lay for lay in fuse(relu_net())}
    for name in ("in_relu", "pre_relu", "gap_relu"):
        lay = layers[name]
        assert (lay.kind, lay.pool, lay.kernel, lay.stride, lay.pads, lay.relu) == \
            ("pool", "max", (1, 1), (1, 1), (0, 0, 0, 0), True), lay
    assert layers["c1"].nodes == ("c1",) and not layers["c1"].relu     # c1 also feeds the residual add
    assert layers["c2"].residual == "c1" and layers["c2"].input == "pre_relu"


# ------------------------------------------------------------------------------- the compressed cycle sum

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nif=st.integers(1, 40), nof=st.integers(1, 40), side=st.integers(3, 40), k=st.sampled_from([1, 3]),
       stride=st.sampled_from([1, 2]), residual=st.booleans(), pick=st.integers(0, 10_000),
       preset=st.sampled_from(["tiny-test", "pynq-z2-16b", "zcu102-8b"]))
def test_block_compressed_cycles_equal_the_per_tile_sum(nif, nof, side, k, stride, residual, pick, preset):
    hw = dataclasses.replace(PRESETS[preset], input_buffer_kib=1024, weight_buffer_kib=1024, output_buffer_kib=1024)
    out = (side + 2 * (k // 2) - k) // stride + 1
    layer = EngineLayer(name="c", kind="conv", nodes=("c",), input="input", output="c", residual="r" if residual else None,
                        in_shape=(nif, side, side), conv_out=(nof, out, out), out_shape=(nof, out, out), kernel=(k, k),
                        stride=(stride, stride), pads=(k // 2,) * 4, relu=True)
    tilings = candidate_tilings(layer, hw)
    tiled = with_tiling(layer, tilings[pick % len(tilings)])
    t = tile_costs(tiled, hw)
    assert fast_layer_cycles(tiled, hw, compress_above=0) == (  # every layer of >= 2 tiles a block: compressed
        pingpong_cycles(t, hw), int((t.weight_beats + t.act_read_beats + t.write_beats).sum()))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nif=st.integers(1, 40), nof=st.integers(1, 40), side=st.integers(3, 30), k=st.sampled_from([1, 3]),
       kib=st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 64)),
       preset=st.sampled_from(["tiny-test", "pynq-z2-16b", "zcu102-8b"]))
def test_pruned_choice_is_the_exact_minimum_and_bounds_hold(nif, nof, side, k, kib, preset):
    """The chooser keys candidates in order of a cycle bound and stops early: its answer is the minimum key over
    every considered tiling, and the bound never exceeds a tiling's simulated cycles."""
    hw = dataclasses.replace(PRESETS[preset], input_buffer_kib=kib[0], weight_buffer_kib=kib[1],
                             output_buffer_kib=kib[2])
    layer = EngineLayer(name="c", kind="conv", nodes=("c",), input="input", output="c", residual=None,
                        in_shape=(nif, side, side), conv_out=(nof, side, side), out_shape=(nof, side, side),
                        kernel=(k, k), pads=(k // 2,) * 4, relu=True)
    table = TilingTable(layer, hw)
    considered = table.considered(buffer_limits(hw))
    keys = {int(i): tiling_key(layer, hw, table.tilings[i]) for i in considered}
    assert all(table.bounds[i] <= key[0] for i, key in keys.items())
    assert table.choose(buffer_limits(hw)) == (min(keys, key=keys.get) if keys else None)
