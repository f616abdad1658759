"""Operator dataclasses of the cgap IR (torch-free).

Every op is a frozen dataclass that knows how to infer its output shape from its
input shapes and how many parameters and multiply-accumulates it costs.  Shapes
never include the batch dimension: feature maps are ``(C, H, W)`` and flat
vectors are ``(N,)``.  Weight tensors are numpy arrays held in fields that take
no part in equality, so two ops compare equal when their structure is equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from cgap_ir.errors import CgapError

Shape = tuple[int, ...]

VARIADIC = -1
"""``Op.arity`` of an op that takes any number of inputs (at least one)."""


def _array_field() -> object:
    """A dataclass field for an optional weight array that is ignored by ==/repr."""
    return field(default=None, repr=False, compare=False)


def _spatial_out(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, ceil: bool = False) -> int:
    """Return the output length of a sliding window along one axis."""
    span = size + pad_lo + pad_hi - kernel
    if span < 0:
        raise CgapError(f"window {kernel} larger than padded input {size + pad_lo + pad_hi}")
    steps = -(-span // stride) if ceil else span // stride
    if ceil and steps * stride >= size + pad_lo:
        steps -= 1  # the last window must start inside the input or its leading padding (torch/ONNX rule)
    return steps + 1


class IrShapeError(CgapError):
    """An op received inputs whose shapes it cannot accept."""


@dataclass(frozen=True)
class Op:
    """Base class: an op with one input unless ``arity`` says otherwise (``VARIADIC``: any number)."""

    kind: ClassVar[str] = "op"
    arity: ClassVar[int] = 1

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        """Return the output shape for the given input shapes."""
        raise NotImplementedError

    def params(self) -> int:
        """Return the number of trainable parameters (weights + biases)."""
        return 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        """Return multiply-accumulates per image (0 for ops without multiplies)."""
        return 0

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the op's weight arrays by field name (only those that are set)."""
        return {}

    def stored_elements(self) -> int:
        """Return the element count of the op's weight arrays when set (its parameters unless it stores more)."""
        return self.params()

    @staticmethod
    def _need_chw(shape: Shape, what: str) -> None:
        if len(shape) != 3:
            raise IrShapeError(f"{what} needs a CxHxW input, got shape {shape}")


@dataclass(frozen=True)
class Conv2d(Op):
    """2-D convolution, weight layout (out, in/groups, kh, kw), pads (top, left, bottom, right)."""

    kind: ClassVar[str] = "Conv2d"
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1
    has_bias: bool = True
    weight: np.ndarray | None = _array_field()
    bias: np.ndarray | None = _array_field()

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        self._need_chw(shape, "Conv2d")
        c, h, w = shape
        if c != self.in_channels:
            raise IrShapeError(f"Conv2d expects {self.in_channels} input channels, got {c}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise IrShapeError(f"Conv2d channels not divisible by groups={self.groups}")
        oh = _spatial_out(h, self.kernel[0], self.stride[0], self.pads[0], self.pads[2])
        ow = _spatial_out(w, self.kernel[1], self.stride[1], self.pads[1], self.pads[3])
        return (self.out_channels, oh, ow)

    def params(self) -> int:
        kh, kw = self.kernel
        n = self.out_channels * (self.in_channels // self.groups) * kh * kw
        return n + (self.out_channels if self.has_bias else 0)

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        _, oh, ow = output
        kh, kw = self.kernel
        return self.out_channels * oh * ow * (self.in_channels // self.groups) * kh * kw

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in (("weight", self.weight), ("bias", self.bias)) if v is not None}


@dataclass(frozen=True)
class BatchNorm(Op):
    """Inference-mode batch normalisation over channels: y = (x - mean) / sqrt(var + eps) * scale + bias."""

    kind: ClassVar[str] = "BatchNorm"
    channels: int
    eps: float = 1e-5
    scale: np.ndarray | None = _array_field()
    bias: np.ndarray | None = _array_field()
    mean: np.ndarray | None = _array_field()
    var: np.ndarray | None = _array_field()

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        if not shape or shape[0] != self.channels:
            raise IrShapeError(f"BatchNorm over {self.channels} channels got shape {shape}")
        return shape

    def params(self) -> int:
        return 2 * self.channels

    def stored_elements(self) -> int:
        return 4 * self.channels  # scale, bias, running mean and variance

    def arrays(self) -> dict[str, np.ndarray]:
        pairs = (("scale", self.scale), ("bias", self.bias), ("mean", self.mean), ("var", self.var))
        return {k: v for k, v in pairs if v is not None}


@dataclass(frozen=True)
class ReLU(Op):
    """Rectified linear unit."""

    kind: ClassVar[str] = "ReLU"

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]


@dataclass(frozen=True)
class _Pool(Op):
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    ceil_mode: bool = False

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        self._need_chw(shape, self.kind)
        c, h, w = shape
        oh = _spatial_out(h, self.kernel[0], self.stride[0], self.pads[0], self.pads[2], self.ceil_mode)
        ow = _spatial_out(w, self.kernel[1], self.stride[1], self.pads[1], self.pads[3], self.ceil_mode)
        return (c, oh, ow)


@dataclass(frozen=True)
class MaxPool(_Pool):
    """Max pooling over kernel windows (padding counts as -inf)."""

    kind: ClassVar[str] = "MaxPool"


@dataclass(frozen=True)
class AvgPool(_Pool):
    """Average pooling; ``count_include_pad`` follows ONNX semantics."""

    kind: ClassVar[str] = "AvgPool"
    count_include_pad: bool = False


@dataclass(frozen=True)
class GlobalAvgPool(Op):
    """Average over H and W, giving (C, 1, 1)."""

    kind: ClassVar[str] = "GlobalAvgPool"

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        self._need_chw(shape, "GlobalAvgPool")
        return (shape[0], 1, 1)


@dataclass(frozen=True)
class Add(Op):
    """Element-wise sum of two tensors of equal shape (a residual join)."""

    kind: ClassVar[str] = "Add"
    arity: ClassVar[int] = 2

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        a, b = inputs
        if a != b:
            raise IrShapeError(f"Add needs equal shapes, got {a} and {b}")
        return a


@dataclass(frozen=True)
class Flatten(Op):
    """Flatten (C, H, W) into (C*H*W,) in channel-major order."""

    kind: ClassVar[str] = "Flatten"

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return (int(np.prod(inputs[0])),)


@dataclass(frozen=True)
class Linear(Op):
    """Fully connected layer, weight layout (out, in)."""

    kind: ClassVar[str] = "Linear"
    in_features: int
    out_features: int
    has_bias: bool = True
    weight: np.ndarray | None = _array_field()
    bias: np.ndarray | None = _array_field()

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        if shape != (self.in_features,):
            raise IrShapeError(f"Linear expects ({self.in_features},) input, got {shape}")
        return (self.out_features,)

    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.has_bias else 0)

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return self.in_features * self.out_features

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in (("weight", self.weight), ("bias", self.bias)) if v is not None}


@dataclass(frozen=True)
class Softmax(Op):
    """A final softmax: recorded so the model is complete, not costed by codegen or simulator."""

    kind: ClassVar[str] = "Softmax"

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]


@dataclass(frozen=True)
class Concat(Op):
    """Concatenation of two or more tensors along the channel axis (axis 0 of (C, H, W) or of (N,))."""

    kind: ClassVar[str] = "Concat"
    arity: ClassVar[int] = VARIADIC

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        first = inputs[0]
        if len(inputs) < 2:
            raise IrShapeError(f"Concat needs at least 2 inputs, got {len(inputs)}")
        for shape in inputs[1:]:
            if len(shape) != len(first) or shape[1:] != first[1:]:
                raise IrShapeError(f"Concat along channels needs equal other dims, got {first} and {shape}")
        return (sum(s[0] for s in inputs), *first[1:])


@dataclass(frozen=True)
class ChannelSlice(Op):
    """Channels ``start`` .. ``stop - 1`` of a tensor (one output of an ONNX Split, or a channel Slice)."""

    kind: ClassVar[str] = "ChannelSlice"
    start: int
    stop: int

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        if not shape or not 0 <= self.start < self.stop <= shape[0]:
            raise IrShapeError(f"ChannelSlice [{self.start}, {self.stop}) is not a non-empty range of shape {shape}")
        return (self.stop - self.start, *shape[1:])


@dataclass(frozen=True)
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle: view C as (groups, C/groups), transpose, flatten.

    Output channel ``j * groups + g`` is input channel ``g * (C / groups) + j``.
    """

    kind: ClassVar[str] = "ChannelShuffle"
    groups: int

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        self._need_chw(shape, "ChannelShuffle")
        if self.groups < 1 or shape[0] % self.groups:
            raise IrShapeError(f"ChannelShuffle: {shape[0]} channels do not split into {self.groups} groups")
        return shape


@dataclass(frozen=True)
class Affine(Op):
    """Per-channel constant scaling: y = x * scale[c] + shift[c] (a constant Mul/Add/Sub/Div no conv or BN absorbed).

    ``scale`` and ``shift`` have ``channels`` entries (channel axis 0 of (C, H, W), or the features of (N,)).
    They are constants of the graph, not trained weights: ``params()`` is 0, ``stored_elements()`` 2 * channels.
    """

    kind: ClassVar[str] = "Affine"
    channels: int
    scale: np.ndarray | None = _array_field()
    shift: np.ndarray | None = _array_field()

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        if not shape or shape[0] != self.channels:
            raise IrShapeError(f"Affine over {self.channels} channels got shape {shape}")
        return shape

    def stored_elements(self) -> int:
        return 2 * self.channels

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in (("scale", self.scale), ("shift", self.shift)) if v is not None}


@dataclass(frozen=True)
class LRN(Op):
    """Local response normalisation across channels, ONNX semantics.

    y[c] = x[c] / (bias + alpha / size * sum(x[i] ** 2 for i in c - (size-1)//2 .. c + ceil((size-1)/2)))
    ** beta, channels outside [0, C) contributing nothing.
    """

    kind: ClassVar[str] = "LRN"
    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    bias: float = 1.0

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        self._need_chw(shape, "LRN")
        if self.size < 1:
            raise IrShapeError(f"LRN size must be at least 1, got {self.size}")
        return shape


@dataclass(frozen=True)
class Clip(Op):
    """Clamp to [lo, hi]; a missing bound is None.  ReLU6 is Clip(0, 6)."""

    kind: ClassVar[str] = "Clip"
    lo: float | None = None
    hi: float | None = None

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise IrShapeError(f"Clip bounds reversed: lo={self.lo} > hi={self.hi}")
        return inputs[0]


@dataclass(frozen=True)
class LeakyReLU(Op):
    """y = x for x >= 0, alpha * x otherwise."""

    kind: ClassVar[str] = "LeakyReLU"
    alpha: float = 0.01

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]


@dataclass(frozen=True)
class Pad(Op):
    """Constant zero padding of H and W by (top, left, bottom, right)."""

    kind: ClassVar[str] = "Pad"
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        self._need_chw(shape, "Pad")
        if min(self.pads) < 0:
            raise IrShapeError(f"Pad amounts must be non-negative, got {self.pads}")
        top, left, bottom, right = self.pads
        return (shape[0], shape[1] + top + bottom, shape[2] + left + right)


OP_TYPES: dict[str, type[Op]] = {
    cls.kind: cls
    for cls in (Conv2d, BatchNorm, ReLU, MaxPool, AvgPool, GlobalAvgPool, Add, Flatten, Linear, Softmax, Concat,
                ChannelSlice, ChannelShuffle, Affine, LRN, Clip, LeakyReLU, Pad)
}
