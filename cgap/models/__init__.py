"""The model zoo: a plain dict registry of architectures buildable at any input shape and per-group widths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        raise CgapError(f"input shape must be C,H,W with positive dims, got {tuple(input_shape)}")
    if num_classes < 1:
        raise CgapError(f"num_classes must be positive, got {num_classes}")
    base = dict(widths) if widths is not None else entry.default_widths()
    if width_mult != 1.0:
        base = scale_widths(base, width_mult)
    return entry.make(tuple(int(d) for d in input_shape), int(num_classes), base)


__all__ = ["REGISTRY", "Arch", "ChannelGroup", "Consumer", "Producer", "ZooModel", "build", "default_widths",
           "get_arch", "scale_widths"]
