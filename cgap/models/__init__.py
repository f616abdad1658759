"""The model zoo: a plain dict registry of architectures buildable at any input shape and per-group widths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral

import torch

from cgap.errors import CgapError
from cgap.models import lenet, resnet, vgg
from cgap.models.base import ChannelGroup, Consumer, Producer, ZooModel


@dataclass(frozen=True)
class Arch:
    """A zoo entry: its default group widths and a constructor (input_shape, num_classes, widths) → model."""

    default_widths: Callable[[], dict[str, int]]
    make: Callable[[tuple[int, int, int], int, dict[str, int]], ZooModel]


def _vgg(name: str) -> Arch:
    return Arch(lambda: vgg.default_widths(name), lambda s, k, w: vgg.VGG(name, s, k, w))


def _resnet(name: str) -> Arch:
    return Arch(lambda: resnet.default_widths(name), lambda s, k, w: resnet.ResNet(name, s, k, w))


REGISTRY: dict[str, Arch] = {
    "lenet5": Arch(lambda: dict(lenet.DEFAULT_WIDTHS), lenet.LeNet5),
    **{name: _vgg(name) for name in vgg.CONFIGS},
    **{name: _resnet(name) for name in resnet.DEPTHS},
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


def build(arch: str, input_shape: tuple[int, int, int], num_classes: int = 10,
          widths: dict[str, int] | None = None, width_mult: float = 1.0) -> ZooModel:
    """Return a freshly initialised ``arch`` for ``input_shape`` (C, H, W).

    ``widths`` (group → width) overrides the defaults; ``width_mult`` scales whichever is used.
    """
    entry = get_arch(arch)
    shape = _check_shape(input_shape)
    if not isinstance(num_classes, Integral) or isinstance(num_classes, bool) or num_classes < 1:
        raise CgapError(f"num_classes must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    base = dict(widths) if widths is not None else entry.default_widths()
    if width_mult != 1.0:
        base = scale_widths(base, width_mult)
    with torch.device("meta"):  # shapes only, no memory: refuse absurd sizes before allocating them
        params = sum(p.numel() for p in entry.make(shape, num_classes, base).parameters())
    if params > MAX_PARAMS:
        raise CgapError(f"{arch} with these widths/input has {params:,} parameters, more than the "
                        f"{MAX_PARAMS:,} cgap builds")
    return entry.make(shape, num_classes, base)


MAX_INPUT_ELEMENTS = 1 << 26
"""Largest C*H*W built (the bound ``cgap.ir.from_onnx`` applies to ONNX inputs)."""
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


__all__ = ["REGISTRY", "Arch", "ChannelGroup", "Consumer", "Producer", "ZooModel", "build", "default_widths",
           "get_arch", "scale_widths"]
