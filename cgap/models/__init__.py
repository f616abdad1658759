"""The model zoo: a plain dict registry of architectures buildable at any input shape and per-group widths.

Importing this package needs no torch: each architecture is described once, as a torch-free
:class:`~cgap.models.graph.ZooGraph` (:func:`zoo_graph`), from which :func:`build` makes the PyTorch
model (importing torch then) and :func:`cgap.models.ir_build.zoo_network` the IR.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING

from cgap.models import lenet, mobilenetv2, resnet, squeezenet, vgg
from cgap.models.base import ChannelGroup, Consumer, Producer
from cgap.models.graph import ZooGraph
from cgap_ir.errors import CgapError

if TYPE_CHECKING:
    from cgap.models.torch_model import ZooModel


@dataclass(frozen=True)
class Arch:
    """A zoo entry: default group widths, its graph (input_shape, num_classes, widths) and its channel groups."""

    default_widths: Callable[[], dict[str, int]]
    graph: Callable[[tuple[int, int, int], int, dict[str, int]], ZooGraph]
    channel_groups: Callable[[ZooGraph, dict[str, int]], list[ChannelGroup]]


def _vgg(name: str) -> Arch:
    return Arch(lambda: vgg.default_widths(name), lambda s, k, w: vgg.graph(name, s, k, w), vgg.channel_groups)


def _resnet(name: str) -> Arch:
    return Arch(lambda: resnet.default_widths(name), lambda s, k, w: resnet.graph(name, s, k, w),
                resnet.channel_groups)


REGISTRY: dict[str, Arch] = {
    "lenet5": Arch(lambda: dict(lenet.DEFAULT_WIDTHS), lenet.graph, lenet.channel_groups),
    **{name: _vgg(name) for name in vgg.CONFIGS},
    **{name: _resnet(name) for name in resnet.DEPTHS},
    "mobilenetv2": Arch(mobilenetv2.default_widths, mobilenetv2.graph, mobilenetv2.channel_groups),
    "squeezenet": Arch(squeezenet.default_widths, squeezenet.graph, squeezenet.channel_groups),
}


def get_arch(name: str) -> Arch:
    """Return the registry entry for ``name`` or raise CgapError listing the known ones."""
    if name not in REGISTRY:
        raise CgapError(f"unknown architecture {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


def default_widths(arch: str) -> dict[str, int]:
    """Return the full-size width of every coupled group of ``arch``."""
    return get_arch(arch).default_widths()


def scale_widths(widths: dict[str, int], mult: float) -> dict[str, int]:
    """Return ``widths`` multiplied by ``mult``, rounded, at least 1."""
    if mult <= 0:
        raise CgapError(f"width multiplier must be positive, got {mult}")
    return {g: max(1, round(w * mult)) for g, w in widths.items()}


def zoo_graph(arch: str, input_shape: tuple[int, int, int], num_classes: int = 10,
              widths: dict[str, int] | None = None, width_mult: float = 1.0) -> ZooGraph:
    """Return the torch-free description of ``arch`` for ``input_shape`` (C, H, W).

    ``widths`` (group → width) overrides the defaults; ``width_mult`` scales whichever is used.
    Raises CgapError for an unknown arch, a bad shape, width map or class count, or a model over
    :data:`MAX_PARAMS`.
    """
    entry = get_arch(arch)
    shape = _check_shape(input_shape)
    if not isinstance(num_classes, Integral) or isinstance(num_classes, bool) or num_classes < 1:
        raise CgapError(f"num_classes must be a positive integer, got {num_classes!r}")
    base = dict(widths) if widths is not None else entry.default_widths()
    if width_mult != 1.0:
        base = scale_widths(base, width_mult)
    zoo = entry.graph(shape, int(num_classes), base)
    params = zoo.net.total_params()
    if params > MAX_PARAMS:
        raise CgapError(f"{arch} with these widths/input has {params:,} parameters, more than the "
                        f"{MAX_PARAMS:,} cgap builds")
    return zoo


def build(arch: str, input_shape: tuple[int, int, int], num_classes: int = 10,
          widths: dict[str, int] | None = None, width_mult: float = 1.0) -> ZooModel:
    """Return a freshly initialised PyTorch ``arch`` for ``input_shape`` (C, H, W) (arguments as :func:`zoo_graph`)."""
    from cgap.requirements import require

    require("torch", what="a PyTorch zoo model")
    from cgap.models.torch_model import ZooModel

    zoo = zoo_graph(arch, input_shape, num_classes, widths, width_mult)
    return ZooModel(arch, zoo.net.input_shape, int(num_classes), zoo.widths, zoo)


MAX_INPUT_ELEMENTS = 1 << 26
"""Largest C*H*W built (the bound ``cgap_ir.from_onnx`` applies to ONNX inputs)."""
MAX_PARAMS = 1 << 28
"""Largest model built (1 GiB of float32 weights; VGG-16 for ImageNet has 138 M)."""


def _check_shape(input_shape: object) -> tuple[int, int, int]:
    """Return ``input_shape`` as (C, H, W) ints, or raise CgapError if it is not 3 positive, sane integers."""
    try:
        dims = tuple(int(d) for d in input_shape if isinstance(d, Integral) and not isinstance(d, bool))
    except TypeError:  # not iterable
        dims = ()
    if len(dims) != 3 or len(dims) != len(input_shape) or min(dims) < 1:
        raise CgapError(f"input shape must be C,H,W with positive integer dims, got {input_shape!r}")
    if dims[0] * dims[1] * dims[2] > MAX_INPUT_ELEMENTS:
        raise CgapError(f"input shape {'x'.join(map(str, dims))} has more than {MAX_INPUT_ELEMENTS:,} elements")
    return dims  # type: ignore[return-value]


def __getattr__(name: str) -> object:
    """Import the PyTorch model class only when asked for (``from cgap.models import ZooModel``)."""
    if name == "ZooModel":
        from cgap.requirements import require

        require("torch", what="a PyTorch zoo model")
        from cgap.models.torch_model import ZooModel

        return ZooModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["REGISTRY", "Arch", "ChannelGroup", "Consumer", "Producer", "ZooGraph", "ZooModel", "build",
           "default_widths", "get_arch", "scale_widths", "zoo_graph"]
