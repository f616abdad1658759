"""How busy the engine's MAC array is and how close each network comes to its roofline, per network and preset.

    python benchmarks/engine_efficiency.py [--baseline-root DIR] [--out benchmarks/results/engine_efficiency.md]

For each (network, hw) it prints the simulated cycles (which the generated engine's C-simulation counts
identically, see verify.json ``cycles_match``), the MAC iterations, the MAC bound MACs / (Pox·Poy·Pof), the
roofline bound (per layer max(MAC bound, DRAM bytes / sustained bytes per cycle), summed) and the ratios the
engine-v2 issue sets targets on:

* compute / iterations: cycles the compute stages take per MAC step (1.0 = no fill or write-out exposed);
* conv compute / MAC bound: for ImageNet VGG-16 (target <= 1.10);
* cycles / roofline: whole-network efficiency, with the DRAM time of the roofline counted two ways for both
  engines alike: over the engine's three ports (the tight bound the simulator reports) and, as the engine-v2
  issue states its target (<= 2 for ResNet-20 on zcu102-16b), all bytes over one port's width.

``--baseline-root`` runs the same measurement on another checkout (e.g. ``git worktree add /tmp/v1 <commit>``)
in a subprocess and prints its rows next to ours, so before/after come from one run.  The VGG-16 ImageNet row
uses Ma et al.'s array (FPGA'17: 7×7×64 16-bit MACs at 150 MHz) with buffers and DRAM of their device
(:data:`MA_BUFFERS_KIB`); Ma et al. report 47.97 ms per image on an Arria 10 GX 1150.  The ImageNet rows on
zcu102-16b (VGG-16, and the onnx wheel's VGG-19 and ResNet-50) run on its 256 KiB buffers through the engine's
column and input-channel tiling.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MA_ET_AL_MS = 47.97
MA_BUFFERS_KIB = (1024, 2048, 1536)
"""Input, weight and output buffers of the Ma et al. row: 4.5 MiB of the Arria 10 GX 1150's 6.6 MiB of M20K
(2,713 blocks x 20 Kib, Intel Arria 10 device overview), ping-pong copies included.  DRAM: one 64-bit DDR4-2133
bank (17.0 GB/s peak; an assumption about their board) behind a 512-bit port."""


def _vgg16_imagenet(ops, network, node, input_name: str):
    """Return ImageNet VGG-16 (13 3×3 convs + ReLU, five 2×2 max pools, FC 25088-4096-4096-1000) as IR."""
    nodes, x, cin, side, count = [], input_name, 3, 224, 0

    def add(op, *inputs):
        nonlocal count
        count += 1
        nodes.append(node(f"n{count}", op, inputs))
        return f"n{count}"

    for item in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if item == "M":
            x, side = add(ops.MaxPool((2, 2), (2, 2)), x), side // 2
        else:
            x, cin = add(ops.ReLU(), add(ops.Conv2d(cin, item, (3, 3), pads=(1, 1, 1, 1)), x)), item
    x = add(ops.Flatten(), x)
    for fan_in, fan_out in ((cin * side * side, 4096), (4096, 4096)):
        x = add(ops.ReLU(), add(ops.Linear(fan_in, fan_out), x))
    out = add(ops.Linear(4096, 1000), x)
    return network("vgg16-imagenet", (3, 224, 224), tuple(nodes), out)


def _cases():
    try:   # a baseline checkout from before the IR had its own package
        from cgap.ir import INPUT, Network, Node, ops
    except ImportError:
        from cgap_ir import INPUT, Network, Node, ops
    from fpga_model.hw import PRESETS, DramConfig
    from fpga_model.testnets import lenet5, resnet_cifar, vgg

    ma = dataclasses.replace(PRESETS["zcu102-16b"], name="ma-7x7x64-150MHz", pox=7, poy=7, pof=64, clock_mhz=150.0,
                             input_buffer_kib=MA_BUFFERS_KIB[0], weight_buffer_kib=MA_BUFFERS_KIB[1],
                             output_buffer_kib=MA_BUFFERS_KIB[2],
                             dram=DramConfig(kind="DDR4", port_bits=512, bandwidth_gbps=17.0, latency_cycles=64))
    imagenet = _imagenet_cases(PRESETS["zcu102-16b"])
    return [("resnet20 3x32x32", resnet_cifar(20), PRESETS["zcu102-16b"]),
            ("resnet20 3x32x32", resnet_cifar(20), PRESETS["pynq-z2-16b"]),
            ("resnet110 3x32x32", resnet_cifar(110), PRESETS["zcu102-16b"]),
            ("vgg11 x0.5 3x32x32", vgg("vgg11", 0.5), PRESETS["zcu102-8b"]),
            ("lenet5 1x28x28", lenet5(), PRESETS["pynq-z2-16b"]),
            ("vgg16 3x224x224", _vgg16_imagenet(ops, Network, Node, INPUT), ma), *imagenet]


def _imagenet_cases(hw):  # noqa: ANN001, ANN202 - HwConfig of either checkout
    """Return the onnx wheel's VGG-19, ResNet-50 and SqueezeNet (224x224) and a VGG-16 on ``hw``: the engine's
    input-channel and column tiling runs them on 256 KiB buffers, SqueezeNet's Concats as addressing (a checkout
    without the tiling cannot, so it gets no rows)."""
    try:
        from fpga_model.schedule import tiling_of  # noqa: F401 - present since the four-loop tiling
        from fpga_model.testnets import vgg_imagenet
    except ImportError:
        return []
    import onnx

    from cgap_ir.from_onnx import from_onnx
    light = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    return [("vgg16 3x224x224", vgg_imagenet("vgg16"), hw),
            ("vgg19 (onnx wheel) 3x224x224", from_onnx(light / "light_vgg19.onnx"), hw),
            ("resnet50 (onnx wheel) 3x224x224", from_onnx(light / "light_resnet50.onnx"), hw),
            ("squeezenet (onnx wheel) 3x224x224", from_onnx(light / "light_squeezenet.onnx"), hw)]


def measure() -> list[dict]:
    """Return one row per (network, hw) of the engine in the importable ``fpga_model`` (see module doc)."""
    from fpga_model.engine_sim import simulate
    from fpga_model.schedule import schedule

    rows = []
    for name, net, hw in _cases():
        try:
            layers = schedule(net, hw)
        except Exception as err:  # noqa: BLE001 - a checkout whose tiling cannot run this case (its ScheduleError)
            rows.append({"network": name, "hw": hw.name, "error": str(err).split(";")[0]})
            continue
        results = simulate(layers, hw).layers
        fc = [r for lay, r in zip(layers, results, strict=True) if lay.kind == "conv" and lay.conv_out[1:] == (1, 1)]
        conv = [r for lay, r in zip(layers, results, strict=True) if lay.kind == "conv" and r not in fc]
        rows.append({
            "network": name, "hw": hw.name, "cycles": sum(r.cycles for r in results),
            "compute": sum(r.compute_cycles for r in results), "iterations": sum(r.iterations for r in results),
            "roofline": sum(_roofline(r, hw, ports=3) for r in results),
            "roofline_one_port": sum(_roofline(r, hw, ports=1) for r in results),
            "conv_compute": sum(r.compute_cycles for r in conv), "conv_mac_bound": sum(r.macs for r in conv) / hw.macs,
            "fc_cycles": sum(r.cycles for r in fc), "stalls": sum(r.cycles - r.compute_cycles for r in results),
            "ms": sum(r.cycles for r in results) / hw.clock_mhz / 1e3})
    return rows


def _roofline(r, hw, ports: int) -> float:  # noqa: ANN001 - LayerResult, HwConfig (of either checkout)
    """Return a layer's roofline bound computed the same way for both engines: max(MAC bound, DRAM time), the DRAM
    time either over three ports (weights, feature-map reads, writes: each one beat a cycle, the device at its
    sustained rate) or, as the engine-v2 issue states it, all bytes over one port's width."""
    port = hw.dram.port_bits / 8
    device = hw.dram.bandwidth_gbps * hw.dram.efficiency * 1e3 / hw.clock_mhz
    moved = (r.dram_read_weight_bytes, r.dram_read_act_bytes, r.dram_write_bytes)
    dram_cycles = max(max(moved) / port, sum(moved) / device) if ports == 3 else sum(moved) / min(port, device)
    return max(r.macs / hw.macs, dram_cycles)


def _baseline(root: Path) -> list[dict]:
    code = (f"import sys, json; sys.path.insert(0, {str(root)!r}); sys.path.insert(1, {str(ROOT / 'benchmarks')!r}); "
            "import engine_efficiency as e; print(json.dumps(e.measure()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict], label: str) -> list[str]:
    """Return markdown table lines of ``rows`` with the ratios of the module doc."""
    lines = ["| engine | network | hw | cycles | ms | compute / iterations | cycles / roofline (3 ports) | "
             "cycles / roofline (1 port) | conv compute / MAC bound | FC cycles | stall cycles |", "|" + "---|" * 11]
    for r in rows:
        if "error" in r:
            lines.append(f"| {label} | {r['network']} | {r['hw']} | does not run: {r['error']} |" + " |" * 7)
            continue
        conv = f"{r['conv_compute'] / r['conv_mac_bound']:.2f}" if r["conv_mac_bound"] else "-"
        lines.append(f"| {label} | {r['network']} | {r['hw']} | {r['cycles']:,} | {r['ms']:.3f} | "
                     f"{r['compute'] / r['iterations']:.2f} | {r['cycles'] / r['roofline']:.2f} | "
                     f"{r['cycles'] / r['roofline_one_port']:.2f} | {conv} | "
                     f"{r['fc_cycles']:,} | {r['stalls']:,} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-root", type=Path, help="another checkout to measure side by side")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    lines = table(measure(), "this")
    if args.baseline_root:
        lines += table(_baseline(args.baseline_root.resolve()), "baseline")[2:]
    lines.append(f"\nMa et al. (FPGA'17), VGG-16 on the same 7x7x64 array at 150 MHz: {MA_ET_AL_MS} ms per image.")
    print("\n".join(lines))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
