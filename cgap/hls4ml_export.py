"""``--target hls4ml``: hand a checkpoint to hls4ml (dataflow, all weights on chip) and verify its C-sim.

The PyTorch front end of hls4ml 1.3 is used (its ONNX front end needs qonnx and ten more packages to
clean the graph first).  Before conversion the model is traced with hls4ml's own torch.fx tracer and
rewritten so every zoo model converts: BatchNorm is folded into the conv before it (so every conv gets a
calibrated output type; hls4ml only fuses BN into layers whose output type is left ``auto``) and
``adaptive_avg_pool2d(x, 1)`` becomes an ``AvgPool2d`` over the whole map (hls4ml's PyTorch parser has no
adaptive pooling).  The rewritten graph is checked against the original model before it is used.

Precision (per layer, from calibration, like ``cgap.passes.quantize``; round-to-nearest and saturate,
never hls4ml's default truncate/wrap):

* every tensor a layer produces (input, conv/linear, ReLU, residual add, average pool):
  ``ap_fixed<act_bits, I, AP_RND_CONV, AP_SAT>``, ``I`` the fewest integer bits (sign included) that hold
  the calibrated max |value| (``cgap.fixed_point.frac_for``); max pool, padding, flatten keep their input type;
* conv/linear weights ``ap_fixed<weight_bits, I_w, AP_RND_CONV, AP_SAT>`` from max |folded weight|;
* accumulators ``ap_fixed<acc_bits, acc_bits - (f_in + f_w)>``: every product is exact (``f`` = fractional
  bits); they wrap (two's complement), so partial sums may overflow as long as the result fits, which at
  least ``ACC_GUARD_BITS`` integer bits above the output's guarantee; biases use the accumulator type
  (rounded, saturated);
* average pool accumulates in ``acc_bits`` with ``log2(window) + 1`` extra integer bits.

Size rule (checked before anything is converted or written): hls4ml's dataflow keeps all weights on chip,
so the folded conv/linear parameters × ``weight_bits`` must fit in ``ONCHIP_WEIGHT_FRACTION`` of the block
RAM of ``hw.part`` (the rest is left to the line buffers and FIFOs between layers).  For xczu9eg (1,824
RAMB18 = 33.6 Mbit) that is 16.8 Mbit, ~1.05 M 16-bit weights; for xc7z020 (280 RAMB18) 2.6 Mbit.
Per layer, the ReuseFactor is the smallest valid one that keeps its parallel multipliers (k·k·Cin·Cout per
output pixel, in·out for linear) within hls4ml's ``MaximumSize`` array-partition limit of 4096
(``config_array_partition -maximum_size`` in its build_prj.tcl); layers with ReuseFactor > 1 use the
Resource strategy (weights in BRAM), the rest Latency.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from cgap.atomic import atomic_dir
from cgap.fixed_point import frac_for
from cgap_ir.errors import CgapError
from fpga_model.devices import device_for_part
from fpga_model.hw import HwConfig

MAX_PARALLEL_MULTS = 4096
"""hls4ml's default ``MaximumSize``: the largest array Vivado/Vitis HLS partitions (multipliers per layer)."""
ONCHIP_WEIGHT_FRACTION = 0.5
"""Share of the part's block RAM that the weights may take (the rest: line buffers, stream FIFOs)."""
RAMB18_BITS = 18 * 1024
ACC_GUARD_BITS = 2
"""Integer bits an accumulator keeps above its output type's (the sum that is kept must not wrap)."""
BACKEND = "Vitis"
REWRITE_TOL = 1e-4
LOG_NAME = "hls4ml.log"

class _Traced(fx.GraphModule):
    """A GraphModule that hls4ml's config writer can dump: yaml would otherwise pickle the generated code."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (str, ("cgap model traced for hls4ml (not serialised)",))


@dataclass(frozen=True)
class Budget:
    """The on-chip weight budget of a part and what the model needs."""

    device: str
    params: int
    weight_bits: int
    need_bits: int
    limit_bits: int

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict for verify.json."""
        return {"device": self.device, "params": self.params, "weight_bits": self.weight_bits,
                "weight_mbit": round(self.need_bits / 1e6, 3), "limit_mbit": round(self.limit_bits / 1e6, 3),
                "rule": f"params x weight_bits <= {ONCHIP_WEIGHT_FRACTION:.0%} of the part's block RAM"}


# ---------------------------------------------------------------------------------------------- trace


def _load_model(model_or_path: nn.Module | str | Path) -> tuple[nn.Module, str]:
    """Return (torch model in eval mode, its arch name) from a model or a checkpoint path."""
    if isinstance(model_or_path, nn.Module):
        return model_or_path.eval(), str(getattr(model_or_path, "arch", type(model_or_path).__name__))
    from cgap.checkpoint import load_checkpoint

    model = load_checkpoint(model_or_path).model
    return model.eval(), str(getattr(model, "arch", type(model).__name__))


def _fold_bn(gm: fx.GraphModule) -> None:
    """Fold every BatchNorm2d that follows a Conv2d used only by it into that conv (in place)."""
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        prev = node.args[0]
        if not (isinstance(prev, fx.Node) and prev.op == "call_module"
                and isinstance(modules[prev.target], nn.Conv2d) and len(prev.users) == 1):
            raise CgapError(f"hls4ml target: BatchNorm {node.target!r} does not follow a conv it can be folded into")
        fused = nn.utils.fusion.fuse_conv_bn_eval(modules[prev.target], modules[node.target])
        parent, _, leaf = prev.target.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, leaf, fused)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)


def _global_pool_to_avgpool(gm: fx.GraphModule, input_shape: tuple[int, ...]) -> None:
    """Replace ``adaptive_avg_pool2d(x, 1)`` by an AvgPool2d over the whole map (in place)."""
    ShapeProp(gm).propagate(torch.zeros(1, *input_shape))
    for i, node in enumerate(list(gm.graph.nodes)):
        if node.op != "call_function" or node.target is not nn.functional.adaptive_avg_pool2d:
            continue
        size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
        if size not in (1, (1, 1), [1, 1]):
            raise CgapError(f"hls4ml target: adaptive_avg_pool2d to {size} is not supported (only global, size 1)")
        h, w = node.args[0].meta["tensor_meta"].shape[2:]
        name = f"global_avgpool{i}"
        gm.add_submodule(name, nn.AvgPool2d((int(h), int(w))))
        with gm.graph.inserting_before(node):
            new = gm.graph.call_module(name, (node.args[0],))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)


def trace_for_hls4ml(model: nn.Module, input_shape: tuple[int, ...]) -> fx.GraphModule:
    """Return ``model`` traced by hls4ml's tracer with BN folded and global pooling made explicit.

    Raises CgapError if the rewritten graph does not compute what ``model`` does.
    """
    from hls4ml.utils.torch import CustomFXTracer

    try:
        graph = CustomFXTracer().trace(model)
    except Exception as exc:  # torch.fx raises many kinds (TraceError, TypeError, ...)
        raise CgapError(f"hls4ml target: cannot trace the model with torch.fx ({exc})") from None
    gm = _Traced(model, graph)
    _fold_bn(gm)
    _global_pool_to_avgpool(gm, input_shape)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    x = torch.rand(4, *input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref, got = model(x), gm(x)
    err = float((ref - got).abs().max())
    if not err <= REWRITE_TOL * max(1.0, float(ref.abs().max())):
        raise CgapError(f"hls4ml target: the traced, BN-folded model differs from the original by {err:.3g}")
    return gm


def _mult_layers(gm: fx.GraphModule) -> dict[str, tuple[int, int, int]]:
    """Return {hls4ml layer name: (n_in, n_out, params)} of every conv/linear (n_in·n_out multipliers)."""
    modules = dict(gm.named_modules())
    out = {}
    for node in gm.graph.nodes:
        mod = modules.get(node.target) if node.op == "call_module" else None
        if isinstance(mod, nn.Conv2d):
            n_in = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            out[node.name] = (n_in, mod.out_channels, sum(p.numel() for p in mod.parameters()))
        elif isinstance(mod, nn.Linear):
            out[node.name] = (mod.in_features, mod.out_features, sum(p.numel() for p in mod.parameters()))
    return out


# ---------------------------------------------------------------------------------------------- size rule


def onchip_budget(arch: str, params: int, hw: HwConfig) -> Budget:
    """Return the weight budget of ``hw.part``; raise CgapError if the part is unknown or the model too large."""
    dev = device_for_part(hw.part)
    if dev is None or dev.vendor != "xilinx" or dev.bram_kind != "RAMB18":
        raise CgapError(f"hls4ml target: part {hw.part!r} is not a known AMD/Xilinx part "
                        "(the Vitis backend needs one; known: xc7z020, xczu9eg, xcu250)")
    limit = int(dev.bram * RAMB18_BITS * ONCHIP_WEIGHT_FRACTION)
    need = params * hw.weight_bits
    budget = Budget(dev.name, params, hw.weight_bits, need, limit)
    if need > limit:
        raise CgapError(
            f"{arch} has {params:,} parameters = {need / 1e6:.1f} Mbit at {hw.weight_bits}-bit weights; hls4ml's "
            f"dataflow keeps all weights on chip: limit {limit / 1e6:.1f} Mbit (~{limit // hw.weight_bits:,} weights) "
            f"for {dev.name} ({ONCHIP_WEIGHT_FRACTION:.0%} of its {dev.bram} RAMB18 block RAM); use --target fpga")
    return budget


def reuse_factor(n_in: int, n_out: int) -> int:
    """Return the smallest ReuseFactor hls4ml accepts for an n_in×n_out layer with <= MAX_PARALLEL_MULTS multipliers."""
    need = math.ceil(n_in * n_out / MAX_PARALLEL_MULTS)
    if need <= 1:
        return 1
    from hls4ml.backends import get_backend

    backend = get_backend(BACKEND)
    for rf in range(need, n_in * n_out + 1):
        if backend._validate_reuse_factor(n_in, n_out, rf):
            return rf
    return n_in * n_out


# ---------------------------------------------------------------------------------------------- precision


def calibrate_nodes(gm: fx.GraphModule, calib: np.ndarray, batch: int = 50) -> dict[str, float]:
    """Return max |value| of every node output of ``gm`` (keyed by node name) over the calibration images."""
    calib = np.asarray(calib, dtype=np.float32)
    if calib.ndim != 4 or calib.shape[0] == 0 or not np.all(np.isfinite(calib)):
        raise CgapError(f"calibration data must be a finite, non-empty (N, C, H, W) array, got shape {calib.shape}")
    ranges: dict[str, float] = {}

    class _Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            value = super().run_node(n)
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                ranges[n.name] = max(ranges.get(n.name, 0.0), float(value.abs().max()))
            return value

    with torch.no_grad():
        for start in range(0, len(calib), batch):
            _Recorder(gm).run(torch.from_numpy(calib[start:start + batch]))
    return ranges


def _int_bits(max_abs: float, bits: int) -> int:
    """Return the integer bits (sign included) of a ``bits``-wide ap_fixed that holds ``max_abs``."""
    return bits - frac_for(max_abs, bits, -bits, 2 * bits)


def _fx(bits: int, integer: int, rnd_sat: bool = True) -> str:
    return f"ap_fixed<{bits},{integer},AP_RND_CONV,AP_SAT>" if rnd_sat else f"ap_fixed<{bits},{integer}>"


def precision_config(gm: fx.GraphModule, ranges: dict[str, float], hw: HwConfig) -> dict[str, dict[str, Any]]:
    """Return hls4ml ``LayerName`` settings {name: {"Precision": {...}, "ReuseFactor", "Strategy"}} for ``gm``.

    Tensor types are tracked along the graph: a node's fractional bits are needed by the accumulator
    of the conv/linear that reads it.
    """
    modules = dict(gm.named_modules())
    frac: dict[str, int] = {}          # node name -> fractional bits of its output
    layers: dict[str, dict[str, Any]] = {}
    mults = _mult_layers(gm)
    act = hw.act_bits
    for node in gm.graph.nodes:
        mod = modules.get(node.target) if node.op == "call_module" else None
        src = [a.name for a in node.all_input_nodes]
        if _calibrated(node, mod):
            integer = _int_bits(ranges.get(node.name, 0.0), act)
            frac[node.name] = act - integer
            prec = {"result": _fx(act, integer)}
            if isinstance(mod, nn.Conv2d | nn.Linear):
                prec.update(_mac_precision(mod, frac[src[0]], integer, hw))
                n_in, n_out, _ = mults[node.name]
                rf = reuse_factor(n_in, n_out)
                layers[node.name] = {"Precision": prec, "ReuseFactor": rf, "Strategy": "Resource" if rf > 1 else "Latency"}
                continue
            if isinstance(mod, nn.AvgPool2d):
                window = int(np.prod(mod.kernel_size))
                in_int = act - frac[src[0]]
                prec["accum"] = _fx(hw.acc_bits, in_int + math.ceil(math.log2(window)) + 1, rnd_sat=False)
            layers[node.name] = {"Precision": prec}
        elif src:
            frac[node.name] = frac[src[0]]    # max pool, flatten, padding, dropout: the input's type
    return layers


_CALIBRATED_FUNCTIONS = (torch.relu, nn.functional.relu, torch.add, operator.add, operator.iadd)
"""Functions whose output gets its own calibrated type (ReLU, residual add)."""
_CALIBRATED_MODULES = (nn.Conv2d, nn.Linear, nn.AvgPool2d, nn.ReLU)


def _calibrated(node: fx.Node, mod: nn.Module | None) -> bool:
    """Return whether ``node``'s output gets its own calibrated type (else it keeps its input's)."""
    return (node.op == "placeholder" or isinstance(mod, _CALIBRATED_MODULES)
            or node.op == "call_function" and node.target in _CALIBRATED_FUNCTIONS)


def _mac_precision(mod: nn.Module, in_frac: int, out_int: int, hw: HwConfig) -> dict[str, str]:
    """Return weight/bias/accum types of a conv/linear reading a tensor with ``in_frac`` fractional bits."""
    w = mod.weight.detach().abs().max().item()
    w_int = _int_bits(w, hw.weight_bits)
    acc_frac = in_frac + hw.weight_bits - w_int
    bias = mod.bias.detach().abs().max().item() if mod.bias is not None else 0.0
    need_int = max(out_int + ACC_GUARD_BITS, _int_bits(bias, hw.acc_bits))
    acc_int = max(hw.acc_bits - acc_frac, need_int)
    return {"weight": _fx(hw.weight_bits, w_int), "bias": _fx(hw.acc_bits, acc_int),
            "accum": _fx(hw.acc_bits, acc_int, rnd_sat=False)}


# ---------------------------------------------------------------------------------------------- convert


@contextlib.contextmanager
def _quiet(log_path: Path) -> Iterator[None]:
    """Send everything written to stdout/stderr (Python and file descriptors 1 and 2) and every Python
    warning to ``log_path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with (open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log),
          warnings.catch_warnings()):
        warnings.simplefilter("default")
        warnings.showwarning = lambda msg, cat, fname, lineno, file=None, line=None: log.write(
            warnings.formatwarning(msg, cat, fname, lineno, line))
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            log.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _project_name(name: str) -> str:
    ident = re.sub(r"\W", "_", name)
    return ident if ident[:1].isalpha() else f"cgap_{ident}"


def convert(gm: fx.GraphModule, input_shape: tuple[int, ...], layers: dict[str, dict[str, Any]], hw: HwConfig,
            project: Path, name: str) -> Any:
    """Return the hls4ml ModelGraph of ``gm`` written to ``project`` (io_stream, Vitis backend, ``hw`` part/clock)."""
    import hls4ml

    try:
        config = hls4ml.utils.config_from_pytorch_model(gm, tuple(input_shape), granularity="name", backend=BACKEND,
                                                        default_precision=_fx(hw.act_bits, hw.act_bits // 2))
    except Exception as exc:  # hls4ml raises bare Exception for unsupported layers
        raise CgapError(f"hls4ml target: hls4ml cannot parse the model ({exc})") from None
    config["Model"].update({"Strategy": "Latency", "ReuseFactor": 1})
    for layer, settings in layers.items():
        entry = config["LayerName"].setdefault(layer, {})
        entry.setdefault("Precision", {}).update(settings["Precision"])
        entry.update({k: v for k, v in settings.items() if k != "Precision"})
    return hls4ml.converters.convert_from_pytorch_model(
        gm, hls_config=config, output_dir=str(project), project_name=_project_name(name), backend=BACKEND,
        io_type="io_stream", part=hw.part, clock_period=round(1000.0 / hw.clock_mhz, 3))


def _predict(hls_model: Any, images: np.ndarray) -> np.ndarray:
    """Return the C-sim logits (N, classes) of NCHW ``images`` (hls4ml takes channels-last input)."""
    x = np.ascontiguousarray(np.asarray(images, dtype=np.float32).transpose(0, 2, 3, 1))
    return np.asarray(hls_model.predict(x), dtype=np.float64).reshape(len(images), -1)


def _verify(model: nn.Module, hls_model: Any, images: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    with torch.no_grad():
        ref = model(torch.from_numpy(np.asarray(images, dtype=np.float32))).double().numpy()
    t0 = time.perf_counter()
    got = _predict(hls_model, images)
    report = {"images": len(images), "top1_agreement": float(np.mean(ref.argmax(1) == got.argmax(1))),
              "max_abs_logit_diff": float(np.max(np.abs(ref - got))),
              "max_abs_float_logit": float(np.max(np.abs(ref))),
              "csim_s": round(time.perf_counter() - t0, 3)}
    if labels is not None:
        labels = np.asarray(labels)
        report["float_accuracy"] = float(np.mean(ref.argmax(1) == labels))
        report["fixed_accuracy"] = float(np.mean(got.argmax(1) == labels))
    return report


def _check_inputs(input_shape: tuple[int, ...], verify_images: np.ndarray | None, labels: np.ndarray | None) -> None:
    if verify_images is None:
        return
    if np.ndim(verify_images) != 4 or len(verify_images) == 0 or np.shape(verify_images)[1:] != tuple(input_shape):
        raise CgapError(f"verify images have shape {np.shape(verify_images)}, "
                        f"need (N>0, {', '.join(map(str, input_shape))})")
    if labels is not None and np.shape(labels) != (len(verify_images),):
        raise CgapError(f"labels have shape {np.shape(labels)}, need ({len(verify_images)},)")


def _first_error(log: Path) -> str:
    """Return the first compiler error line of the log (the project is removed on failure)."""
    sys.stdout.flush()
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    errors = [line.strip() for line in lines if "error" in line.lower()]
    return errors[0] if errors else "no compiler error recorded"


def _finish_project(tmp: Path, final: Path) -> None:
    """Point the project's config at its final folder and drop the C-sim library built for the temp path
    (it reads weights from there; ``./build_lib.sh`` rebuilds it)."""
    cfg = tmp / "hls4ml_config.yml"
    if cfg.is_file():
        cfg.write_text(cfg.read_text().replace(str(tmp), str(final)))
    for lib in (tmp / "firmware").glob("*.so"):
        lib.unlink()


def export_hls4ml(model_or_checkpoint_path: nn.Module | str | Path, hw: HwConfig, out_dir: Path, calib: np.ndarray,
                  name: str, verify_images: np.ndarray | None = None, labels: np.ndarray | None = None,
                  force: bool = False) -> dict:
    """Write the hls4ml project ``out_dir/<name>-hls4ml`` for a checkpoint (or torch model) on ``hw``.

    With ``verify_images`` (N, C, H, W) it also compiles hls4ml's C-sim library with g++, runs it and writes
    ``verify.json`` (top-1 agreement with the float model, accuracies if ``labels``, max |logit diff|,
    compile time).  Returns a summary dict (project path, params, budget, precision per layer, the verify
    report under ``"verify"``, and ``"summary"``: one line for the user).  A model too large for hls4ml's
    on-chip weights, an unknown part or bad inputs raise CgapError before anything is written.
    """
    t0 = time.perf_counter()
    model, arch = _load_model(model_or_checkpoint_path)
    input_shape = tuple(int(d) for d in model.input_shape)
    _check_inputs(input_shape, verify_images, labels)
    gm = trace_for_hls4ml(model, input_shape)
    params = sum(p for _, _, p in _mult_layers(gm).values())
    budget = onchip_budget(arch, params, hw)
    layers = precision_config(gm, calibrate_nodes(gm, calib), hw)
    final = Path(out_dir) / f"{name}-hls4ml"
    summary: dict[str, Any] = {"project": str(final), "arch": arch, "params": params, "budget": budget.to_dict(),
                               "backend": BACKEND, "io_type": "io_stream", "part": hw.part, "clock_mhz": hw.clock_mhz,
                               "layers": layers}
    with atomic_dir(final, force) as tmp, _quiet(tmp / LOG_NAME):
        hls_model = convert(gm, input_shape, layers, hw, tmp, name)
        hls_model.write()
        summary["convert_s"] = round(time.perf_counter() - t0, 3)
        if verify_images is not None:
            t1 = time.perf_counter()
            try:
                hls_model.compile()
            except Exception as exc:  # hls4ml raises bare Exception when g++ fails (its output went to the log)
                raise CgapError(f"hls4ml target: C-sim build failed ({exc}): {_first_error(tmp / LOG_NAME)}") from None
            report = {"compile_s": round(time.perf_counter() - t1, 3), **_verify(model, hls_model, verify_images, labels)}
            (tmp / "verify.json").write_text(json.dumps({**report, "budget": budget.to_dict()}, indent=2) + "\n")
            summary["verify"] = report
        _finish_project(tmp, final)
    summary["summary"] = _one_line(summary)
    return summary


def _one_line(summary: dict[str, Any]) -> str:
    text = (f"hls4ml project {summary['project']}: {summary['arch']}, {summary['params']:,} params "
            f"({summary['budget']['weight_mbit']:.2f} of {summary['budget']['limit_mbit']:.1f} Mbit on-chip budget)")
    v = summary.get("verify")
    if v:
        text += (f"; C-sim on {v['images']} images: top-1 agreement {v['top1_agreement']:.1%}, "
                 f"max |logit diff| {v['max_abs_logit_diff']:.3g}, compile {v['compile_s']:.1f} s")
        if "fixed_accuracy" in v:
            text += f", accuracy float {v['float_accuracy']:.1%} / fixed {v['fixed_accuracy']:.1%}"
    return text


__all__ = ["ACC_GUARD_BITS", "MAX_PARALLEL_MULTS", "ONCHIP_WEIGHT_FRACTION", "Budget", "calibrate_nodes",
           "convert", "export_hls4ml", "onchip_budget", "precision_config", "reuse_factor",
           "trace_for_hls4ml"]
