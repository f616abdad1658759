"""The torch-free network IR: ops, the Network DAG, JSON round trip and a numpy reference executor."""

from cgap_ir.network import INPUT, IrError, LayerInfo, Network, Node
from cgap_ir.ops import (
    LRN,
    OP_TYPES,
    VARIADIC,
    Add,
    Affine,
    AvgPool,
    BatchNorm,
    ChannelShuffle,
    ChannelSlice,
    Clip,
    Concat,
    Conv2d,
    Flatten,
    GlobalAvgPool,
    LeakyReLU,
    Linear,
    MaxPool,
    Op,
    Pad,
    ReLU,
    Shape,
    Softmax,
)

__all__ = [
    "INPUT", "IrError", "LayerInfo", "Network", "Node", "OP_TYPES", "VARIADIC", "Add", "Affine", "AvgPool",
    "BatchNorm", "ChannelShuffle", "ChannelSlice", "Clip", "Concat", "Conv2d", "Flatten", "GlobalAvgPool", "LRN", "LeakyReLU",
    "Linear", "MaxPool", "Op", "Pad", "ReLU", "Shape", "Softmax",
]
