"""The torch-free network IR: ops, the Network DAG, JSON round trip and a numpy reference executor."""

from cgap_ir.network import INPUT, IrError, LayerInfo, Network, Node
from cgap_ir.ops import (
    OP_TYPES,
    Add,
    AvgPool,
    BatchNorm,
    Conv2d,
    Flatten,
    GlobalAvgPool,
    Linear,
    MaxPool,
    Op,
    ReLU,
    Shape,
    Softmax,
)

__all__ = [
    "INPUT", "IrError", "LayerInfo", "Network", "Node", "OP_TYPES", "Add", "AvgPool", "BatchNorm", "Conv2d",
    "Flatten", "GlobalAvgPool", "Linear", "MaxPool", "Op", "ReLU", "Shape", "Softmax",
]
