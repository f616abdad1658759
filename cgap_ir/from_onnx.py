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

from cgap_ir import affine_fold, ops
from cgap_ir.errors import CgapError
from cgap_ir.model_format import detect_format, mismatch_message
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
    readers: dict[str, list[onnx.NodeProto]] = field(default_factory=dict)  # ONNX tensor -> nodes reading it
    graph_outputs: set[str] = field(default_factory=set)
    absorbed: set[str] = field(default_factory=set)  # first outputs of nodes converted as part of a pattern

    def emit(self, onnx_node: onnx.NodeProto, op: ops.Op, inputs: list[str], output: int = 0) -> None:
        """Append an IR node computing ONNX output ``output`` of ``onnx_node`` (0 unless the node has several)."""
        name = _unique(_clean_name(onnx_node) + (f"_{output}" if output else ""), self.used_names)
        srcs = tuple(self.source[t] for t in inputs)
        in_shapes = [self.shape[t] for t in inputs]
        try:
            out_shape = op.infer_shape(in_shapes)
        except CgapError as exc:
            raise OnnxImportError(f"node {onnx_node.name!r} ({onnx_node.op_type}): {exc}") from None
        self.nodes.append(Node(name, op, srcs))
        tensor = onnx_node.output[output]
        self.source[tensor], self.tensor_of[name], self.shape[tensor] = name, tensor, tuple(out_shape)

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
    """Add/Sum of two computed tensors is a residual Add; with a constant it is a per-channel shift."""
    inputs = [t for t in node.input if t]
    if len(inputs) != 2:
        raise _fail(node, f"only the sum of two tensors is supported, got {len(inputs)} inputs")
    if not any(t in st.consts for t in inputs):
        st.emit(node, ops.Add(), inputs)
    else:
        _constant_affine(st, node)


def _constant_affine(st: _State, node: onnx.NodeProto) -> None:
    """A Mul/Add/Sub/Div of a computed tensor by a per-channel or scalar constant: folded into the Conv2d,
    Linear, BatchNorm or Affine that produced the tensor when nothing else reads it, else an Affine node."""
    if len(node.input) != 2:
        raise _fail(node, f"expected two inputs, got {len(node.input)}")
    if not any(t in st.consts for t in node.input):
        raise _fail(node, f"{node.op_type} of two computed tensors is not supported")
    data_index = 0 if node.input[0] not in st.consts else 1
    data, const = node.input[data_index], st.consts[node.input[1 - data_index]]
    shape = st.shape[data]
    vec = affine_fold.channel_vector(const, shape)
    if vec is None:
        raise _fail(node, f"constant of shape {list(const.shape)} is not a per-channel vector or a scalar for a "
                          f"tensor of shape (N, {', '.join(map(str, shape))})")
    scale, shift = _affine_terms(node, vec, constant_first=data_index == 1)
    if not _fold_affine_into_producer(st, node, data, scale, shift):
        st.emit(node, affine_fold.affine_op(shape[0], scale, shift), [data])


def _affine_terms(node: onnx.NodeProto, vec: np.ndarray, constant_first: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return (scale, shift) per channel of x*c, x+c, x-c, c-x or x/c."""
    ones, zeros = np.ones_like(vec), np.zeros_like(vec)
    if node.op_type == "Mul":
        return vec, zeros
    if node.op_type in ("Add", "Sum"):
        return ones, vec
    if node.op_type == "Sub":
        return (-ones, vec) if constant_first else (ones, -vec)
    if constant_first:
        raise _fail(node, "dividing a constant by a tensor is not supported")
    if not np.all(vec):
        raise _fail(node, "division by a constant that holds zeros")
    return 1.0 / vec, zeros


def _fold_affine_into_producer(st: _State, node: onnx.NodeProto, tensor: str, scale: np.ndarray,
                               shift: np.ndarray) -> bool:
    """Build ``y = x * scale + shift`` into the node that produced ``tensor``; return whether it could (the
    tensor must be that node's own output, read by this node only and not a graph output)."""
    producer = st.source.get(tensor)
    if producer is None or producer == INPUT or st.tensor_of.get(producer) != tensor:
        return False
    if len(st.readers.get(tensor, [])) != 1 or tensor in st.graph_outputs:
        return False
    index = next(i for i, n in enumerate(st.nodes) if n.name == producer)
    new_op = affine_fold.absorb(st.nodes[index].op, scale, shift)
    if new_op is None:
        return False
    st.nodes[index] = replace(st.nodes[index], op=new_op)
    st.source[node.output[0]] = producer
    st.shape[node.output[0]] = st.shape[tensor]
    st.tensor_of[producer] = node.output[0]  # the producer's output now includes the affine map
    return True


def _gemm(st: _State, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if a.get("transA", 0):
        raise _fail(node, "transA=1 is not supported")
    w = _const(st, node, 1, "weight")
    w = w if a.get("transB", 0) else w.T          # → (out, in)
    alpha = float(a.get("alpha", 1.0))
    w = w if alpha == 1.0 else w.astype(np.float64) * alpha
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
    if len(target) == 5:
        _channel_shuffle(st, node, target)
    elif len(target) == 2 and target[0] in (-1, 0, 1) and target[1] in (-1, size):
        _to_vector(st, node)
    elif target[1:] == list(shape) and target[0] in (-1, 0, 1):
        st.alias(node, node.input[0])
    else:
        raise _fail(node, f"only Reshape to (N, features) is supported, target {target} for shape {shape}")


SHUFFLE_PATTERN = "Reshape(N, g, C/g, H, W) -> Transpose(perm=[0, 2, 1, 3, 4]) -> Reshape(N, C, H, W)"


def _sole_reader(st: _State, tensor: str, op_type: str) -> onnx.NodeProto | None:
    readers = st.readers.get(tensor, [])
    if len(readers) != 1 or readers[0].op_type != op_type or tensor in st.graph_outputs:
        return None
    return readers[0]


def _channel_shuffle(st: _State, node: onnx.NodeProto, target: list[int]) -> None:
    """A 5-D Reshape that starts the channel-shuffle pattern: emit one ChannelShuffle for the three nodes and
    mark the Transpose and the second Reshape converted; any other 5-D reshape is refused by name."""
    c, h, w = st.shape[node.input[0]] if len(st.shape[node.input[0]]) == 3 else (0, 0, 0)
    groups = target[1]
    transpose = _sole_reader(st, node.output[0], "Transpose")
    back = _sole_reader(st, transpose.output[0], "Reshape") if transpose is not None else None
    matches = (c > 0 and groups > 0 and target[1:] == [groups, c // groups, h, w] and c % groups == 0
               and transpose is not None and list(_attrs(transpose).get("perm", [])) == [0, 2, 1, 3, 4]
               and back is not None and back.input[1] in st.consts
               and [int(v) for v in st.consts[back.input[1]].reshape(-1)][1:] in ([c, h, w], [-1, h, w]))
    if not matches:
        raise _fail(node, f"a 5-D Reshape (target {target}) is only supported as a channel shuffle: {SHUFFLE_PATTERN}")
    st.emit(node, ops.ChannelShuffle(groups), [node.input[0]])
    ir_name = st.source[node.output[0]]
    for tensor in (transpose.output[0], back.output[0]):
        st.source[tensor], st.shape[tensor] = ir_name, (c, h, w)
    st.tensor_of[ir_name] = back.output[0]
    st.absorbed.update((transpose.output[0], back.output[0]))


def _concat(st: _State, node: onnx.NodeProto) -> None:
    """Concat of computed tensors along the channel axis (axis 1, or -3 / -1 for 4-D / 2-D tensors)."""
    inputs = [t for t in node.input if t]
    consts = [t for t in inputs if t in st.consts]
    if consts:
        raise _fail(node, f"concatenating the constant {consts[0]!r} with computed tensors is not supported")
    rank = len(st.shape[inputs[0]]) + 1
    axis = int(_attrs(node).get("axis", 1))
    if axis % rank != 1:
        raise _fail(node, f"only Concat along the channel axis 1 is supported, got axis {axis}")
    if len(inputs) == 1:
        st.alias(node, inputs[0])
    else:
        st.emit(node, ops.Concat(), inputs)


def _split(st: _State, node: onnx.NodeProto) -> None:
    """Split along channels (sizes from the ``split`` attribute before opset 13, the input after, else equal)."""
    a = _attrs(node)
    shape = st.shape[node.input[0]]
    if int(a.get("axis", 0)) % (len(shape) + 1) != 1:
        raise _fail(node, f"only Split along the channel axis 1 is supported, got axis {a.get('axis', 0)}")
    sizes = a.get("split") if "split" in a else _optional_const(st, node, 1, "split")
    count = len(node.output)
    if sizes is None:
        if shape[0] % count:
            raise _fail(node, f"{shape[0]} channels do not split into {count} equal parts")
        sizes = [shape[0] // count] * count
    start = 0
    for index, size in enumerate(int(v) for v in np.asarray(sizes).reshape(-1)):
        if node.output[index]:
            st.emit(node, ops.ChannelSlice(start, start + size), [node.input[0]], output=index)
        start += size


def _slice(st: _State, node: onnx.NodeProto) -> None:
    """Slice of a computed tensor along channels only, step 1 (opset >= 10 inputs; opset 9 attributes)."""
    a = _attrs(node)
    if "starts" in a:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes", [0]), [1]
    else:
        starts, ends = (_const(st, node, i, what).reshape(-1).tolist() for i, what in ((1, "starts"), (2, "ends")))
        axes = _optional_const(st, node, 3, "axes")
        steps = _optional_const(st, node, 4, "steps")
        axes = list(range(len(starts))) if axes is None else axes.reshape(-1).tolist()
        steps = [1] if steps is None else steps.reshape(-1).tolist()
    shape = st.shape[node.input[0]]
    if len(starts) != 1 or int(axes[0]) % (len(shape) + 1) != 1 or list(steps) != [1]:
        raise _fail(node, f"only a step-1 Slice along the channel axis 1 is supported, got axes {list(axes)}, "
                          f"steps {list(steps)}")
    start, stop, _ = slice(int(starts[0]), int(ends[0])).indices(shape[0])
    st.emit(node, ops.ChannelSlice(start, stop), [node.input[0]])


def _lrn(st: _State, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if "size" not in a:
        raise _fail(node, "LRN without the required size attribute")
    op = ops.LRN(size=int(a["size"]), alpha=float(a.get("alpha", 1e-4)), beta=float(a.get("beta", 0.75)),
                 bias=float(a.get("bias", 1.0)))
    st.emit(node, op, [node.input[0]])


_FLOAT_LIMIT = 3.0e38  # opset < 11 Clip defaults to ±FLT_MAX for a missing bound


def _clip(st: _State, node: onnx.NodeProto) -> None:
    """Clip (attributes before opset 11, constant inputs after): ReLU when it is max(x, 0), else Clip."""
    a = _attrs(node)
    if st.opset < 11:
        lo, hi = a.get("min"), a.get("max")
    else:
        bounds = [_optional_const(st, node, i, what) for i, what in ((1, "min"), (2, "max"))]
        lo, hi = (None if b is None else float(np.asarray(b).reshape(-1)[0]) for b in bounds)
    lo = None if lo is None or lo <= -_FLOAT_LIMIT else float(lo)
    hi = None if hi is None or hi >= _FLOAT_LIMIT else float(hi)
    op = ops.ReLU() if lo == 0.0 and hi is None else ops.Clip(lo=lo, hi=hi)
    st.emit(node, op, [node.input[0]])


def _pad(st: _State, node: onnx.NodeProto) -> None:
    """Pad with constant zeros on H and W only (attributes before opset 11, inputs after)."""
    a = _attrs(node)
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if st.opset < 11:
        pads, value = [int(v) for v in a.get("pads", [])], float(a.get("value", 0.0))
    else:
        pads = [int(v) for v in _const(st, node, 1, "pads").reshape(-1)]
        fill = _optional_const(st, node, 2, "constant_value")
        value = 0.0 if fill is None else float(np.asarray(fill).reshape(-1)[0])
        if _optional_const(st, node, 3, "axes") is not None:
            raise _fail(node, "Pad with an axes input is not supported (give pads for all four axes)")
    if mode != "constant" or value != 0.0:
        raise _fail(node, f"only constant zero padding is supported, got mode={mode} value={value}")
    if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
        raise _fail(node, f"only non-negative padding of H and W of an (N, C, H, W) tensor is supported, got {pads}")
    st.emit(node, ops.Pad((pads[2], pads[3], pads[6], pads[7])), [node.input[0]])


def _squeeze(st: _State, node: onnx.NodeProto) -> None:
    shape = st.shape[node.input[0]]
    if len(shape) == 3 and shape[1:] == (1, 1):
        _to_vector(st, node)
    else:
        raise _fail(node, f"only squeezing a (C,1,1) map to (C,) is supported, got {shape}")


def _softmax(st: _State, node: onnx.NodeProto) -> None:
    """Softmax over the classes of an (N, K) or (N, K, 1, 1) tensor (axis 1)."""
    shape = st.shape[node.input[0]]
    axis = int(_attrs(node).get("axis", 1 if st.opset < 13 else -1))
    if not (len(shape) == 1 or shape[1:] == (1, 1)) or axis % (len(shape) + 1) != 1:
        raise _fail(node, f"Softmax is only supported over the classes (axis 1) of an (N, K) or (N, K, 1, 1) "
                          f"output, got axis {axis} of (N, {', '.join(map(str, shape))})")
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
    "Sub": _constant_affine,
    "Mul": _constant_affine,
    "Div": _constant_affine,
    "Concat": _concat,
    "Split": _split,
    "Slice": _slice,
    "LRN": _lrn,
    "Clip": _clip,
    "LeakyRelu": lambda st, node: st.emit(node, ops.LeakyReLU(float(_attrs(node).get("alpha", 0.01))), [node.input[0]]),
    "Pad": _pad,
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
    "Transpose": lambda st, n, a: np.transpose(st.consts[n.input[0]], a.get("perm")),
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
    if detect_format(path) == "checkpoint":
        raise OnnxImportError(mismatch_message(path, "the ONNX importer", ("onnx",), "checkpoint"))
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
    for node in proto.graph.node:
        for tensor in node.input if node.op_type != "Shape" else ():  # Shape reads no values
            st.readers.setdefault(tensor, []).append(node)
    st.graph_outputs = {o.name for o in proto.graph.output}
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


_CONSTANT_FIRST_OK = frozenset(("Add", "Sum", "Sub", "Mul", "Div"))
"""Ops whose first input may be the constant (c - x, c * x): their handlers find the computed operand."""


def _convert(st: _State, node: onnx.NodeProto) -> None:
    if node.domain not in ("", "ai.onnx"):
        raise _fail(node, f"custom domain {node.domain!r} is not supported")
    if _is_constant(st, node):
        try:
            st.consts[node.output[0]] = np.asarray(CONST_OPS[node.op_type](st, node, _attrs(node)))
        except (KeyError, ValueError, IndexError) as exc:
            raise _fail(node, f"cannot fold constant ({exc})") from None
        return
    if node.output and node.output[0] in st.absorbed:
        return
    handler = LAYER_OPS.get(node.op_type)
    if handler is None:
        raise _fail(node, f"unsupported op; supported: {', '.join(sorted(LAYER_OPS))}")
    if node.input and node.input[0] not in st.source and node.op_type not in _CONSTANT_FIRST_OK:
        raise _fail(node, f"input {node.input[0]!r} is a constant, not computed from the network input")
    handler(st, node)
