"""Calibration ranges computed by onnxruntime on the ONNX file the IR came from (fast path).

:func:`cgap.passes.quantize.calibrate` runs the numpy executor; for big networks that dominates export
time (resnet110, 100 images: ~10 s).  When the network was imported from ONNX, ``Network.meta`` records
which ONNX tensor holds each node's output, so onnxruntime can produce the same max-|value| ranges
in one pass with every needed tensor exposed as a graph output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from cgap_ir import INPUT, Network
from cgap_ir.errors import CgapError

_SUFFIX = "__cgap_absmax"


def _with_absmax_outputs(model: onnx.ModelProto, tensors: list[str]) -> onnx.ModelProto:
    """Return ``model`` with a scalar output max(|t|) per tensor (Abs → ReduceMax inside the graph, so
    onnxruntime keeps its fusions and never copies the feature maps out)."""
    for t in tensors:
        out = f"{t}{_SUFFIX}"
        model.graph.node.append(onnx.helper.make_node("Abs", [t], [f"{t}__abs"]))
        # no axes (attribute before opset 18, input after) reduces over every axis in any opset
        model.graph.node.append(onnx.helper.make_node("ReduceMax", [f"{t}__abs"], [out], keepdims=0))
        model.graph.output.append(onnx.helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, []))
    return model


def ort_ranges(onnx_path: str | Path, net: Network, calib: np.ndarray, batch: int = 50) -> dict[str, float]:
    """Return max |value| over ``calib`` of the input and of the node outputs the quantiser reads
    (:func:`cgap.passes.quantize.range_nodes` of the folded (``cgap.lower.engine_network``), fused ``net``), computed by onnxruntime.

    Raises CgapError when ``net`` was not imported from ``onnx_path`` (no tensor map in its meta).
    Probing only those tensors keeps onnxruntime's Conv+BN+ReLU fusions: ~1.5 s for resnet110 on
    100 images where exposing every tensor took ~9 s and the numpy executor ~10 s.
    """
    import onnxruntime as ort

    from cgap.lower import engine_network
    from cgap.passes.quantize import range_nodes
    from fpga_model.schedule import fuse

    known: dict[str, str] = net.meta.get("onnx_tensors") or {}
    wanted = [n for n in range_nodes(fuse(engine_network(net))) if n != INPUT]
    missing = [n for n in wanted if n not in known]
    if missing:
        raise CgapError(f"network {net.name!r}: no ONNX tensor recorded for node {missing[0]!r}")
    tensors = {n: known[n] for n in wanted}
    probes = _with_absmax_outputs(onnx.load(str(onnx_path)), list(dict.fromkeys(tensors.values())))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(probes.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [f"{t}{_SUFFIX}" for t in dict.fromkeys(tensors.values())]
    peak = dict.fromkeys(names, 0.0)
    calib = np.asarray(calib, dtype=np.float32)
    for start in range(0, len(calib), batch):
        outs = sess.run(names, {net.meta["onnx_input"]: calib[start:start + batch]})
        for name, value in zip(names, outs, strict=True):
            peak[name] = max(peak[name], float(value))
    ranges = {node: peak[f"{tensor}{_SUFFIX}"] for node, tensor in tensors.items()}
    ranges[INPUT] = float(np.max(np.abs(calib)))
    return ranges
