"""The nine CNNs the onnx wheel ships (onnx/backend/test/data/light, opset 9, 3×224×224) and what the tests
check them against: an independent parameter / MAC count and a copy with random weights.

The light graphs build every weight with ConstantOfShape filled with 0.02; :func:`randomised` replaces
those constants with random initializers of a sensible scale so that comparing executors means something.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet",
         "vgg19", "zfnet512")

PUBLISHED_PARAMS = {
    "resnet50": 25_557_032,      # torchvision resnet50
    "vgg19": 143_667_240,        # torchvision vgg19
    "densenet121": 7_978_856,    # torchvision densenet121
    "squeezenet": 1_235_496,     # torchvision squeezenet1_1
    "bvlc_alexnet": 60_965_224,  # Caffe BVLC AlexNet (grouped conv2, conv4, conv5)
}
"""Published parameter counts of the architectures some light graphs are (others: the independent count only)."""


def light_path(name: str) -> Path:
    """Return the path of light graph ``name``."""
    return LIGHT_DIR / f"light_{name}.onnx"


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Return every tensor's shape by ONNX shape inference (with constant data propagation), batch 1."""
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    graph = inferred.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*graph.value_info, *graph.output, *graph.input)}
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    return shapes


def independent_counts(model: onnx.ModelProto) -> tuple[int, int]:
    """Return (parameters, multiply-accumulates per image) of an ONNX CNN counted from inferred shapes.

    Conv: weight elements + bias, MACs = output elements (per image) × (C/group)·kh·kw. Gemm: weight + bias,
    MACs = weight elements. BatchNormalization: 2·C (scale, bias; running statistics are not parameters).
    A constant Mul/Add right after a BatchNormalization (Caffe's BatchNorm + Scale pair) re-parametrises the
    same per-channel affine: no extra parameters (asserted: no other constant Mul/Add occurs in these graphs).
    """
    shapes = _shapes(model)
    producer = {out: node for node in model.graph.node for out in node.output}
    constant = {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        if all(t in constant for t in node.input if t):
            constant.update(node.output)
    params = macs = 0
    for node in model.graph.node:
        has_bias = len(node.input) > 2 and bool(node.input[2])
        if node.op_type == "Conv":
            weight, out = shapes[node.input[1]], shapes[node.output[0]]
            macs += math.prod(out[1:]) * math.prod(weight[1:])
            params += math.prod(weight) + (weight[0] if has_bias else 0)
        elif node.op_type == "Gemm":
            weight = shapes[node.input[1]]
            macs += math.prod(weight)
            params += math.prod(weight) + (shapes[node.output[0]][1] if has_bias else 0)
        elif node.op_type == "BatchNormalization":
            params += 2 * shapes[node.input[1]][0]
        elif node.op_type in ("Mul", "Add") and node.input[1] in constant:
            source = producer.get(node.input[0])
            while source is not None and source.op_type in ("Mul", "Add"):
                source = producer.get(source.input[0])
            assert source is not None and source.op_type == "BatchNormalization", node.name
    return params, macs


def _random_value(rng: np.random.Generator, shape: tuple[int, ...], reader: onnx.NodeProto, index: int) -> np.ndarray:
    """Return random float32 values for a constant of ``shape`` read by ``reader`` at input ``index``."""
    if len(shape) >= 2:  # a weight: fan-in scaled so activations stay of order one through deep stacks
        return (rng.standard_normal(shape) / math.sqrt(math.prod(shape[1:]))).astype(np.float32)
    if reader.op_type == "BatchNormalization" and index == 1:  # BN scale below 1 keeps residual sums bounded
        return rng.uniform(0.2, 0.6, shape).astype(np.float32)
    if (reader.op_type == "BatchNormalization" and index == 4) or reader.op_type in ("Mul", "Unsqueeze"):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return (0.1 * rng.standard_normal(shape)).astype(np.float32)


def randomised(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Return a copy of a light graph whose float ConstantOfShape weights are random initializers instead."""
    rng = np.random.default_rng(seed)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    readers: dict[str, tuple[onnx.NodeProto, int]] = {}
    for node in model.graph.node:
        for index, tensor in enumerate(node.input):
            readers.setdefault(tensor, (node, index))
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    for node in model.graph.node:
        fill = onnx.helper.get_attribute_value(node.attribute[0]) if node.op_type == "ConstantOfShape" else None
        if fill is None or fill.data_type != onnx.TensorProto.FLOAT or node.input[0] not in inits:
            out.graph.node.append(node)
            continue
        shape = tuple(int(d) for d in inits[node.input[0]])
        value = _random_value(rng, shape, *readers[node.output[0]])
        out.graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
    used = {t for node in out.graph.node for t in node.input}
    kept = [t for t in out.graph.initializer if t.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    data = [i for i in out.graph.input if i.name not in inits]
    del out.graph.input[:]
    out.graph.input.extend(data)
    return out


def logits_tensor(model: onnx.ModelProto) -> str:
    """Return the name of the tensor the final Softmax reads (the graph output when there is none)."""
    final = model.graph.output[0].name
    producer = next(n for n in model.graph.node if final in n.output)
    return producer.input[0] if producer.op_type == "Softmax" else final


def run_ort(model: onnx.ModelProto, x: np.ndarray, tensors: list[str]) -> list[np.ndarray]:
    """Return onnxruntime's values of ``tensors`` (graph outputs or inner tensors) for the input batch ``x``."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for t in tensors:
        if t not in known:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    constant = {t.name for t in model.graph.initializer}
    feed = {i.name: x for i in model.graph.input if i.name not in constant}
    return sess.run(tensors, feed)
