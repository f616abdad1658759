"""Numpy reference executor of the IR (float64): the ground truth every pass is tested against."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cgap_ir import ops
from cgap_ir.errors import CgapError
from cgap_ir.network import INPUT, Network


def _pad(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Return (N, C, OH, OW, KH, KW) sliding windows of an NCHW array."""
    win = sliding_window_view(x, kernel, axis=(2, 3))
    return win[:, :, :: stride[0], :: stride[1]]


def conv2d(x: np.ndarray, op: ops.Conv2d) -> np.ndarray:
    """Return the NCHW output of a (grouped) convolution."""
    win = _windows(_pad(x, op.pads), op.kernel, op.stride)
    g, cin, cout = op.groups, op.in_channels // op.groups, op.out_channels // op.groups
    outs = []
    for gi in range(g):
        w = op.weight[gi * cout:(gi + 1) * cout].astype(np.float64)
        part = win[:, gi * cin:(gi + 1) * cin]
        outs.append(np.einsum("nchwij,ocij->nohw", part, w, optimize=True))
    y = np.concatenate(outs, axis=1) if g > 1 else outs[0]
    if op.bias is not None:
        y = y + op.bias.astype(np.float64)[None, :, None, None]
    return y


def batchnorm(x: np.ndarray, op: ops.BatchNorm) -> np.ndarray:
    """Return inference-mode batch normalisation of an N×C×... array."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = op.scale.astype(np.float64) / np.sqrt(op.var.astype(np.float64) + op.eps)
    return (x - op.mean.reshape(shape)) * inv.reshape(shape) + op.bias.reshape(shape)


def maxpool(x: np.ndarray, op: ops.MaxPool) -> np.ndarray:
    """Return max pooling of an NCHW array (padding is -inf, ceil mode honoured)."""
    return _pool(x, op, np.max, -np.inf)


def avgpool(x: np.ndarray, op: ops.AvgPool) -> np.ndarray:
    """Return average pooling of an NCHW array with ONNX ``count_include_pad`` semantics.

    The divisor counts input cells, plus explicit padding cells when ``count_include_pad``;
    cells beyond the padding that ceil mode adds never count.
    """
    total = _pool(x, op, np.sum, 0.0)
    mask = np.ones((1, 1) + x.shape[2:])
    if op.count_include_pad:
        mask = _pad(mask, op.pads, 1.0)
        counts = _pool_padded(mask, op, total.shape[2:], np.sum, 0.0)
    else:
        counts = _pool(mask, op, np.sum, 0.0)
    return total / counts


def _pool(x: np.ndarray, op: ops._Pool, reduce: Callable, fill: float) -> np.ndarray:
    _, oh, ow = op.infer_shape([x.shape[1:]])
    return _pool_padded(_pad(x, op.pads, fill), op, (oh, ow), reduce, fill)


def _pool_padded(padded: np.ndarray, op: ops._Pool, out_hw: tuple[int, int], reduce: Callable,
                 fill: float) -> np.ndarray:
    """Pool an already padded array into ``out_hw`` windows, extending bottom/right with ``fill`` (ceil mode)."""
    oh, ow = out_hw
    need_h = max((oh - 1) * op.stride[0] + op.kernel[0] - padded.shape[2], 0)
    need_w = max((ow - 1) * op.stride[1] + op.kernel[1] - padded.shape[3], 0)
    padded = _pad(padded, (0, 0, need_h, need_w), fill)
    win = _windows(padded, op.kernel, op.stride)[:, :, :oh, :ow]
    return reduce(win, axis=(4, 5))


def linear(x: np.ndarray, op: ops.Linear) -> np.ndarray:
    """Return x @ W.T + b for an (N, in) array."""
    y = x @ op.weight.astype(np.float64).T
    return y + op.bias if op.bias is not None else y


def softmax(x: np.ndarray) -> np.ndarray:
    """Return the softmax over all of each image's values (ONNX opset < 13 with axis=1; the IR only holds
    softmaxes over (N,) or (C, 1, 1), where this is the softmax over the classes)."""
    flat = x.reshape(x.shape[0], -1)
    e = np.exp(flat - flat.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).reshape(x.shape)


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """Return the (C,) vector ``v`` shaped to broadcast over axis 1 of an N×C×... array of rank ``ndim``."""
    return np.asarray(v, dtype=np.float64).reshape((1, -1) + (1,) * (ndim - 2))


def affine(x: np.ndarray, op: ops.Affine) -> np.ndarray:
    """Return x * scale[c] + shift[c]."""
    return x * _per_channel(op.scale, x.ndim) + _per_channel(op.shift, x.ndim)


def channel_shuffle(x: np.ndarray, op: ops.ChannelShuffle) -> np.ndarray:
    """Return the NCHW array with its channels shuffled (see :class:`~cgap_ir.ops.ChannelShuffle`)."""
    n, c, h, w = x.shape
    return x.reshape(n, op.groups, c // op.groups, h, w).transpose(0, 2, 1, 3, 4).reshape(n, c, h, w)


def lrn(x: np.ndarray, op: ops.LRN) -> np.ndarray:
    """Return ONNX LRN across channels of an NCHW array (see :class:`~cgap_ir.ops.LRN`)."""
    before, after = (op.size - 1) // 2, -(-(op.size - 1) // 2)
    squares = np.pad(np.square(x), ((0, 0), (before, after), (0, 0), (0, 0)))
    window_sum = sliding_window_view(squares, op.size, axis=1).sum(axis=-1)
    return x / (op.bias + op.alpha / op.size * window_sum) ** op.beta


def clip(x: np.ndarray, op: ops.Clip) -> np.ndarray:
    """Return x clamped to the op's bounds (a None bound does not clamp)."""
    lo = -np.inf if op.lo is None else op.lo
    hi = np.inf if op.hi is None else op.hi
    return np.clip(x, lo, hi)


def concat(*xs: np.ndarray) -> np.ndarray:
    """Return the inputs concatenated along the channel axis (axis 1 of the batch)."""
    return np.concatenate(xs, axis=1)


KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "Conv2d": lambda op, x: conv2d(x, op),
    "BatchNorm": lambda op, x: batchnorm(x, op),
    "ReLU": lambda op, x: np.maximum(x, 0.0),
    "MaxPool": lambda op, x: maxpool(x, op),
    "AvgPool": lambda op, x: avgpool(x, op),
    "GlobalAvgPool": lambda op, x: x.mean(axis=(2, 3), keepdims=True),
    "Add": lambda op, a, b: a + b,
    "Flatten": lambda op, x: x.reshape(x.shape[0], -1),
    "Linear": lambda op, x: linear(x, op),
    "Softmax": lambda op, x: softmax(x),
    "Concat": lambda op, *xs: concat(*xs),
    "ChannelShuffle": lambda op, x: channel_shuffle(x, op),
    "ChannelSlice": lambda op, x: x[:, op.start:op.stop],
    "Affine": lambda op, x: affine(x, op),
    "LRN": lambda op, x: lrn(x, op),
    "Clip": lambda op, x: clip(x, op),
    "LeakyReLU": lambda op, x: np.where(x >= 0, x, op.alpha * x),
    "Pad": lambda op, x: _pad(x, op.pads),
}


def run(net: Network, x: np.ndarray, keep: bool = False) -> np.ndarray | dict[str, np.ndarray]:
    """Execute ``net`` on a batch ``x`` of shape (N, *input_shape).

    Returns the output array (float64), or with ``keep=True`` a dict of every node's output.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1:] != tuple(net.input_shape):
        raise CgapError(f"input batch shape {x.shape[1:]} != network input {tuple(net.input_shape)}")
    values: dict[str, np.ndarray] = {INPUT: x}
    for node in net.nodes:
        missing = [k for k in _required_arrays(node.op) if getattr(node.op, k) is None]
        if missing:
            raise CgapError(f"node {node.name!r} ({node.op.kind}) has no {missing[0]} array to execute with")
        values[node.name] = KERNELS[node.op.kind](node.op, *(values[s] for s in node.inputs))
    return values if keep else values[net.output]


def _required_arrays(op: ops.Op) -> tuple[str, ...]:
    if isinstance(op, (ops.Conv2d, ops.Linear)):
        return ("weight", "bias") if op.has_bias else ("weight",)
    if isinstance(op, ops.BatchNorm):
        return ("scale", "bias", "mean", "var")
    if isinstance(op, ops.Affine):
        return ("scale", "shift")
    return ()
