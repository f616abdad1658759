"""ONNX → IR with an explicit op table.

Takes cgap's own exports and CNNs exported by other tools (opset ≥ 9): inference-only ops
(Dropout, Identity) are dropped, constant subgraphs (Constant, ConstantOfShape,
Shape→Gather→Unsqueeze→Concat→Reshape chains) are folded, ``Sum`` of two tensors is an Add,
Gemm and MatMul(+Add) are Linear, a Reshape/Squeeze to 2-D is a Flatten, and a final Softmax is
recorded.  Anything else is rejected with an error naming the op and node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from cgap_ir import ops
from cgap_ir.errors import CgapError
from cgap_ir.network import INPUT, Network, Node

MIN_OPSET = 9
MAX_INPUT_ELEMENTS = 1 << 26  # 64 Mi activations per image: anything larger is not an edge CNN


class OnnxImportError(CgapError):
    """The ONNX model uses something the IR cannot represent."""


@dataclass
class _State:
    """Mutable bookkeeping while walking the graph."""

    consts: dict[str, np.ndarray]
    source: dict[str, str] = field(default_factory=dict)       # ONNX tensor -> IR node name / INPUT
    shape: dict[str, tuple[int, ...]] = field(default_factory=dict)  # ONNX tensor -> IR shape (no batch)
    nodes: list[Node] = field(default_factory=list)
    used_names: set[str] = field(default_factory=set)
    tensor_of: dict[str, str] = field(default_factory=dict)  # IR node -> ONNX tensor holding its output
    opset: int = 17

    def emit(self, onnx_node: onnx.NodeProto, op: ops.Op, inputs: list[str]) -> None:
        name = _unique(_clean_name(onnx_node), self.used_names)
        srcs = tuple(self.source[t] for t in inputs)
        in_shapes = [self.shape[t] for t in inputs]
        try:
            out_shape = op.infer_shape(in_shapes)
        except CgapError as exc:
            raise OnnxImportError(f"node {onnx_node.name!r} ({onnx_node.op_type}): {exc}") from None
        self.nodes.append(Node(name, op, srcs))
        self.source[onnx_node.output[0]] = name
        self.tensor_of[name] = onnx_node.output[0]
        self.shape[onnx_node.output[0]] = tuple(out_shape)

    def alias(self, onnx_node: onnx.NodeProto, tensor: str) -> None:
        self.source[onnx_node.output[0]] = self.source[tensor]
        self.shape[onnx_node.output[0]] = self.shape[tensor]


def _clean_name(node: onnx.NodeProto) -> str:
    """Return a readable dotted name from torch's scoped ONNX node names.

    '/layer1/layer1.0/conv1/Conv' → 'layer1.0.conv1' (a module call), '/layer1/layer1.0/Add' →
    'layer1.0.add' and '/Relu_2' → 'relu_2' (functional ops inside a container); unnamed nodes get
    their op type.
    """
    parts: list[str] = []
    for seg in node.name.strip("/").split("/"):
        if parts and seg.startswith(parts[-1] + "."):
            parts[-1] = seg  # torch repeats the parent prefix in nested scopes
        elif seg:
            parts.append(seg)
    if not parts:
        return node.op_type.lower()
    last = parts[-1]
    is_op_label = last == node.op_type or (last.startswith(node.op_type + "_") and last[len(node.op_type) + 1:].isdigit())
    if is_op_label:
        owner = parts[-2].split(".")[-1] if len(parts) > 1 else ""
        if last == node.op_type and owner and not owner.isdigit():
            parts.pop()  # '/conv1/Conv': the module call is named by its module
        else:
            parts[-1] = last.lower()
    return ".".join(parts).replace(":", "_")


def _unique(name: str, used: set[str]) -> str:
    base, k = name, 1
    while name in used or name == INPUT:
        name, k = f"{base}_{k}", k + 1
    used.add(name)
    return name


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _fail(node: onnx.NodeProto, why: str) -> OnnxImportError:
    return OnnxImportError(f"node {node.name or '?'!r} ({node.op_type}): {why}")


def _const(st: _State, node: onnx.NodeProto, index: int, what: str) -> np.ndarray:
    if index >= len(node.input) or not node.input[index]:
        raise _fail(node, f"missing {what} input")
    tensor = node.input[index]
    if tensor not in st.consts:
        raise _fail(node, f"{what} {tensor!r} is not an initializer or constant (missing initializer?)")
    return st.consts[tensor]


def _optional_const(st: _State, node: onnx.NodeProto, index: int, what: str) -> np.ndarray | None:
    if index >= len(node.input) or not node.input[index]:
        return None
    return _const(st, node, index, what)


def _pair(value, default: tuple[int, int]) -> tuple[int, int]:
    return tuple(int(v) for v in value) if value is not None else default


def _pads(node: onnx.NodeProto, a: dict) -> tuple[int, int, int, int]:
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto not in ("NOTSET", "VALID"):
        raise _fail(node, f"auto_pad={auto} is not supported (export with explicit pads)")
    pads = a.get("pads", [0, 0, 0, 0])
    if len(pads) != 4:
        raise _fail(node, f"expected 2-D pads, got {list(pads)}")
    return (int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3]))


def _check_dilation(node: onnx.NodeProto, a: dict) -> None:
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise _fail(node, f"dilations {list(a['dilations'])} are not supported")


def _f32(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=np.float32)


# ------------------------------------------------------------------------------------ layer handlers

def _conv(st: _State, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    _check_dilation(node, a)
    w = _const(st, node, 1, "weight")
    b = _optional_const(st, node, 2, "bias")
    if w.ndim != 4:
        raise _fail(node, f"only 2-D convolution is supported (weight rank {w.ndim})")
    group = int(a.get("group", 1))
    op = ops.Conv2d(
        in_channels=int(w.shape[1]) * group, out_channels=int(w.shape[0]), kernel=(int(w.shape[2]), int(w.shape[3])),
        stride=_pair(a.get("strides"), (1, 1)), pads=_pads(node, a), groups=group, has_bias=b is not None,
        weight=_f32(w), bias=None if b is None else _f32(b))
    st.emit(node, op, [node.input[0]])


def _batchnorm(st: _State, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if a.get("training_mode", 0):
        raise _fail(node, "training-mode BatchNormalization (export the model in eval mode)")
    scale, bias, mean, var = (_const(st, node, i, what) for i, what in
                              ((1, "scale"), (2, "bias"), (3, "mean"), (4, "var")))
    op = ops.BatchNorm(channels=int(scale.shape[0]), eps=float(a.get("epsilon", 1e-5)), scale=_f32(scale),
                       bias=_f32(bias), mean=_f32(mean), var=_f32(var))
    st.emit(node, op, [node.input[0]])


def _pool(st: _State, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    _check_dilation(node, a)
    if len(node.output) > 1 and node.output[1]:
        raise _fail(node, "MaxPool indices output is not supported")
    kernel = _pair(a.get("kernel_shape"), (1, 1))
    common = dict(kernel=kernel, stride=_pair(a.get("strides"), (1, 1)), pads=_pads(node, a),
                  ceil_mode=bool(a.get("ceil_mode", 0)))
    if node.op_type == "MaxPool":
        op: ops.Op = ops.MaxPool(**common)
    else:
        op = ops.AvgPool(**common, count_include_pad=bool(a.get("count_include_pad", 0)))
    st.emit(node, op, [node.input[0]])


def _add(st: _State, node: onnx.NodeProto) -> None:
    inputs = [t for t in node.input if t]
    if len(inputs) != 2:
        raise _fail(node, f"only the sum of two tensors is supported, got {len(inputs)} inputs")
    const = [t for t in inputs if t in st.consts]
    if not const:
        st.emit(node, ops.Add(), inputs)
        return
    data = [t for t in inputs if t not in st.consts]
    if len(data) != 1 or not _fold_bias_into_linear(st, data[0], st.consts[const[0]]):
        raise _fail(node, "adding a constant is only supported as the bias of a MatMul (Linear)")
    st.source[node.output[0]] = st.source[data[0]]
    st.shape[node.output[0]] = st.shape[data[0]]
    st.tensor_of[st.source[data[0]]] = node.output[0]  # the Linear's output now includes the bias


def _fold_bias_into_linear(st: _State, tensor: str, bias: np.ndarray) -> bool:
    """Give the bias-less Linear that produced ``tensor`` the bias ``bias``; return whether it could."""
    last = st.nodes[-1] if st.nodes else None
    if last is None or st.source.get(tensor) != last.name or not isinstance(last.op, ops.Linear):
        return False
    if last.op.has_bias or bias.size != last.op.out_features:
        return False
    new_op = replace(last.op, has_bias=True, bias=_f32(bias.reshape(-1)))
    st.nodes[-1] = replace(last, op=new_op)
    return True


def _gemm(st: _State, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if a.get("transA", 0):
        raise _fail(node, "transA=1 is not supported")
    w = _const(st, node, 1, "weight").astype(np.float64)
    w = w if a.get("transB", 0) else w.T          # → (out, in)
    w = w * float(a.get("alpha", 1.0))
    c = _optional_const(st, node, 2, "bias")
    bias = None
    if c is not None:
        bias = np.broadcast_to(c.astype(np.float64) * float(a.get("beta", 1.0)), (w.shape[0],))
    _emit_linear(st, node, w, bias)


def _matmul(st: _State, node: onnx.NodeProto) -> None:
    w = _const(st, node, 1, "weight")
    if w.ndim != 2:
        raise _fail(node, f"MatMul weight must be 2-D, got rank {w.ndim}")
    _emit_linear(st, node, w.T, None)


def _emit_linear(st: _State, node: onnx.NodeProto, w: np.ndarray, bias: np.ndarray | None) -> None:
    src = node.input[0]
    if len(st.shape[src]) != 1:
        raise _fail(node, f"input must be flattened to (N, features), got per-image shape {st.shape[src]}")
    op = ops.Linear(in_features=int(w.shape[1]), out_features=int(w.shape[0]), has_bias=bias is not None,
                    weight=_f32(w), bias=None if bias is None else _f32(bias))
    st.emit(node, op, [src])


def _flatten(st: _State, node: onnx.NodeProto) -> None:
    if int(_attrs(node).get("axis", 1)) != 1:
        raise _fail(node, "only Flatten(axis=1) is supported")
    _to_vector(st, node)


def _to_vector(st: _State, node: onnx.NodeProto) -> None:
    if len(st.shape[node.input[0]]) == 1:
        st.alias(node, node.input[0])
    else:
        st.emit(node, ops.Flatten(), [node.input[0]])


def _reshape(st: _State, node: onnx.NodeProto) -> None:
    target = [int(v) for v in _const(st, node, 1, "shape").reshape(-1)]
    shape = st.shape[node.input[0]]
    size = int(np.prod(shape))
    if len(target) == 2 and target[0] in (-1, 0, 1) and target[1] in (-1, size):
        _to_vector(st, node)
    elif target[1:] == list(shape) and target[0] in (-1, 0, 1):
        st.alias(node, node.input[0])
    else:
        raise _fail(node, f"only Reshape to (N, features) is supported, target {target} for shape {shape}")


def _squeeze(st: _State, node: onnx.NodeProto) -> None:
    shape = st.shape[node.input[0]]
    if len(shape) == 3 and shape[1:] == (1, 1):
        _to_vector(st, node)
    else:
        raise _fail(node, f"only squeezing a (C,1,1) map to (C,) is supported, got {shape}")


def _softmax(st: _State, node: onnx.NodeProto) -> None:
    if len(st.shape[node.input[0]]) != 1:
        raise _fail(node, "Softmax is only supported on the final (N, classes) output")
    st.emit(node, ops.Softmax(), [node.input[0]])


def _reduce_mean(st: _State, node: onnx.NodeProto) -> None:
    """ReduceMean over H and W (``x.mean((2, 3))``): a GlobalAvgPool, then a Flatten when keepdims=0."""
    a = _attrs(node)
    shape = st.shape[node.input[0]]
    axes = sorted(ax % 4 for ax in _axes(st, node, a))
    if len(shape) != 3 or axes != [2, 3]:
        raise _fail(node, f"only ReduceMean over the spatial axes (2, 3) of an (N, C, H, W) map is supported, "
                          f"got axes {_axes(st, node, a) or 'all'} for shape (N, {', '.join(map(str, shape))})")
    st.emit(node, ops.GlobalAvgPool(), [node.input[0]])
    if not int(a.get("keepdims", 1)):
        st.emit(node, ops.Flatten(), [node.output[0]])  # same ONNX tensor, now (N, C)


def _simple(op_factory: Callable[[], ops.Op]) -> Callable[[_State, onnx.NodeProto], None]:
    return lambda st, node: st.emit(node, op_factory(), [node.input[0]])


def _passthrough(st: _State, node: onnx.NodeProto) -> None:
    """Dropout/Identity: the output is the input (a Dropout mask output is never read at inference)."""
    st.alias(node, node.input[0])


LAYER_OPS: dict[str, Callable[[_State, onnx.NodeProto], None]] = {
    "Conv": _conv,
    "BatchNormalization": _batchnorm,
    "Relu": _simple(ops.ReLU),
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _simple(ops.GlobalAvgPool),
    "ReduceMean": _reduce_mean,
    "Add": _add,
    "Sum": _add,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Softmax": _softmax,
    "Dropout": _passthrough,
    "Identity": _passthrough,
}


# ------------------------------------------------------------------------------------ constant folding

def _axes(st: _State, node: onnx.NodeProto, a: dict) -> list[int]:
    if "axes" in a:
        return [int(v) for v in a["axes"]]
    value = _optional_const(st, node, 1, "axes")
    return [] if value is None else [int(v) for v in value.reshape(-1)]


def _fold_constant(st: _State, node: onnx.NodeProto, a: dict) -> np.ndarray:
    if "value" not in a:
        raise _fail(node, "only tensor-valued Constant nodes are supported")
    return numpy_helper.to_array(a["value"])


def _fold_constant_of_shape(st: _State, node: onnx.NodeProto, a: dict) -> np.ndarray:
    fill = numpy_helper.to_array(a["value"]).reshape(-1) if "value" in a else np.zeros(1, np.float32)
    return np.full([int(v) for v in _const(st, node, 0, "shape")], fill[0], dtype=fill.dtype)


def _fold_shape(st: _State, node: onnx.NodeProto, a: dict) -> np.ndarray:
    src = node.input[0]
    shape = st.consts[src].shape if src in st.consts else (1, *st.shape[src])
    return np.array(shape, dtype=np.int64)


def _fold_gather(st: _State, node: onnx.NodeProto, a: dict) -> np.ndarray:
    return np.take(st.consts[node.input[0]], st.consts[node.input[1]], axis=int(a.get("axis", 0)))


def _fold_unsqueeze(st: _State, node: onnx.NodeProto, a: dict) -> np.ndarray:
    out = st.consts[node.input[0]]
    for axis in sorted(_axes(st, node, a)):
        out = np.expand_dims(out, axis if axis >= 0 else axis + out.ndim + 1)
    return out


def _fold_squeeze(st: _State, node: onnx.NodeProto, a: dict) -> np.ndarray:
    axes = _axes(st, node, a)
    value = st.consts[node.input[0]]
    return np.squeeze(value, axis=tuple(axes)) if axes else np.squeeze(value)


def _fold_slice(st: _State, node: onnx.NodeProto, a: dict) -> np.ndarray:
    data = st.consts[node.input[0]]
    if "starts" in a:  # opset < 10
        starts, ends, axes = a["starts"], a["ends"], a.get("axes", list(range(len(a["starts"]))))
        steps = [1] * len(starts)
    else:
        starts, ends = (st.consts[node.input[i]].tolist() for i in (1, 2))
        axes = _optional_const(st, node, 3, "axes")
        axes = list(range(len(starts))) if axes is None else axes.tolist()
        steps_arr = _optional_const(st, node, 4, "steps")
        steps = [1] * len(starts) if steps_arr is None else steps_arr.tolist()
    index = [slice(None)] * data.ndim
    for s, e, ax, step in zip(starts, ends, axes, steps, strict=True):
        index[int(ax)] = slice(int(s), int(e), int(step))
    return data[tuple(index)]


_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


def _fold_binary(st: _State, node: onnx.NodeProto, a: dict) -> np.ndarray:
    return _BINARY[node.op_type](st.consts[node.input[0]], st.consts[node.input[1]])

CONST_OPS: dict[str, Callable[[_State, onnx.NodeProto, dict], np.ndarray]] = {
    "Constant": _fold_constant,
    "ConstantOfShape": _fold_constant_of_shape,
    "Shape": _fold_shape,
    "Gather": _fold_gather,
    "Unsqueeze": _fold_unsqueeze,
    "Squeeze": _fold_squeeze,
    "Slice": _fold_slice,
    "Concat": lambda st, n, a: np.concatenate([np.atleast_1d(st.consts[t]) for t in n.input], axis=int(a["axis"])),
    "Cast": lambda st, n, a: st.consts[n.input[0]].astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"])),
    "Identity": lambda st, n, a: st.consts[n.input[0]],
    "Reshape": lambda st, n, a: st.consts[n.input[0]].reshape([int(v) for v in st.consts[n.input[1]]]),
    **dict.fromkeys(_BINARY, _fold_binary),
}


def _is_constant(st: _State, node: onnx.NodeProto) -> bool:
    if node.op_type not in CONST_OPS:
        return False
    if node.op_type == "Shape":
        return True  # static shapes are known
    return all(t in st.consts for t in node.input if t)


# ------------------------------------------------------------------------------------ driver

def _load(model: onnx.ModelProto | str | Path) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, onnx.ModelProto):
        return model, "model"
    path = Path(model)
    if not path.is_file():
        raise OnnxImportError(f"{path}: no such ONNX file")
    try:
        return onnx.load(str(path)), path.stem
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise OnnxImportError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None


def _opset(model: onnx.ModelProto) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise OnnxImportError("model has no default-domain opset import")
    if versions[0] < MIN_OPSET:
        raise OnnxImportError(f"opset {versions[0]} is older than the supported minimum {MIN_OPSET}")
    return versions[0]


def _input_shape(graph: onnx.GraphProto, consts: dict) -> tuple[str, tuple[int, int, int]]:
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise OnnxImportError(f"expected one data input, found {len(inputs)}: {[i.name for i in inputs]}")
    inp = inputs[0]
    dims = inp.type.tensor_type.shape.dim
    if len(dims) != 4:
        raise OnnxImportError(f"input {inp.name!r}: expected an NCHW tensor, got rank {len(dims)}")
    shape = []
    for axis, d in enumerate(dims[1:], start=1):
        if not d.HasField("dim_value") or d.dim_value <= 0:
            label = d.dim_param or "unknown"
            raise OnnxImportError(f"input {inp.name!r}: dynamic shape on axis {axis} ({label!r}); only the batch "
                                  "axis may be dynamic")
        shape.append(int(d.dim_value))
    if int(np.prod(shape)) > MAX_INPUT_ELEMENTS:
        raise OnnxImportError(f"input {inp.name!r}: declared shape {shape} is implausibly large")
    return inp.name, (shape[0], shape[1], shape[2])


def _toposort(graph: onnx.GraphProto, available: set[str]) -> list[onnx.NodeProto]:
    """Return the nodes in dependency order; raise on a cycle or an input nobody produces."""
    pending, order, ready = list(graph.node), [], set(available)
    while pending:
        progress = [n for n in pending if all((not t) or t in ready for t in n.input)]
        if not progress:
            node = pending[0]
            missing = [t for t in node.input if t and t not in ready]
            raise OnnxImportError(f"node {node.name!r} ({node.op_type}): input {missing[0]!r} is never produced "
                                  "(missing initializer or a cycle)")
        for n in progress:
            order.append(n)
            ready.update(o for o in n.output if o)
        pending = [n for n in pending if n not in progress]
    return order


def from_onnx(model: onnx.ModelProto | str | Path, name: str | None = None) -> Network:
    """Return the IR of an ONNX CNN (a path or a loaded ModelProto); raise OnnxImportError if it can't."""
    proto, stem = _load(model)
    st = _State(consts={t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}, opset=_opset(proto))
    input_name, input_shape = _input_shape(proto.graph, st.consts)
    st.source[input_name], st.shape[input_name] = INPUT, input_shape
    for node in _toposort(proto.graph, set(st.consts) | {input_name}):
        _convert(st, node)
    outputs = [o.name for o in proto.graph.output]
    if len(outputs) != 1 or outputs[0] not in st.source:
        raise OnnxImportError(f"expected one graph output computed from the input, got {outputs}")
    out = st.source[outputs[0]]
    if out == INPUT:
        raise OnnxImportError("the graph output is the input itself: no layers")
    return Network(name or proto.graph.name or stem, input_shape, tuple(st.nodes), out,
                   {"source": "onnx", "opset": st.opset, "onnx_input": input_name, "onnx_tensors": st.tensor_of})


def _convert(st: _State, node: onnx.NodeProto) -> None:
    if node.domain not in ("", "ai.onnx"):
        raise _fail(node, f"custom domain {node.domain!r} is not supported")
    if _is_constant(st, node):
        try:
            st.consts[node.output[0]] = np.asarray(CONST_OPS[node.op_type](st, node, _attrs(node)))
        except (KeyError, ValueError, IndexError) as exc:
            raise _fail(node, f"cannot fold constant ({exc})") from None
        return
    handler = LAYER_OPS.get(node.op_type)
    if handler is None:
        raise _fail(node, f"unsupported op; supported: {', '.join(sorted(LAYER_OPS))}")
    if node.input and node.input[0] not in st.source:
        raise _fail(node, f"input {node.input[0]!r} is a constant, not computed from the network input")
    handler(st, node)
