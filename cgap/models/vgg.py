"""VGG-11/13/16/19 with BatchNorm for small images: conv-BN-ReLU stacks, 2×2 max-pools, one hidden FC layer."""

from __future__ import annotations

import torch
from torch import nn

from cgap.models.base import ChannelGroup, Consumer, Producer, ZooModel, check_widths, conv_bn

M = "M"
CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
    "vgg13": [64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
    "vgg16": [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M],
    "vgg19": [64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M],
}
FC_WIDTH = 512


def default_widths(arch: str) -> dict[str, int]:
    """Return {"conv1": 64, ..., "fc1": 512} for a VGG variant."""
    convs = [v for v in CONFIGS[arch] if v != M]
    widths = {f"conv{i + 1}": int(v) for i, v in enumerate(convs)}
    widths["fc1"] = FC_WIDTH
    return widths


class VGG(ZooModel):
    """VGG-BN; each pool after a conv is applied only while the map is at least 2×2."""

    def __init__(self, arch: str, input_shape: tuple[int, int, int], num_classes: int,
                 widths: dict[str, int]) -> None:
        super().__init__()
        self.arch, self.input_shape, self.num_classes = arch, tuple(input_shape), num_classes
        self.widths = w = check_widths(arch, widths, list(default_widths(arch)))
        c, h, wd = input_shape
        self.n_convs = len(w) - 1
        self.pool_after: list[bool] = []
        cfg = CONFIGS[arch]
        for i in range(self.n_convs):
            conv, bn = conv_bn(c, w[f"conv{i + 1}"])
            self.add_module(f"conv{i + 1}", conv)
            self.add_module(f"bn{i + 1}", bn)
            c = w[f"conv{i + 1}"]
            wants_pool = _pool_follows(cfg, i)
            ok = wants_pool and h >= 2 and wd >= 2
            self.pool_after.append(ok)
            h, wd = (h // 2, wd // 2) if ok else (h, wd)
        self.pool = nn.MaxPool2d(2)
        self.flat_hw = h * wd
        self.fc1 = nn.Linear(c * self.flat_hw, w["fc1"])
        self.fc2 = nn.Linear(w["fc1"], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits."""
        for i in range(self.n_convs):
            x = torch.relu(getattr(self, f"bn{i + 1}")(getattr(self, f"conv{i + 1}")(x)))
            if self.pool_after[i]:
                x = self.pool(x)
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))

    def channel_groups(self) -> list[ChannelGroup]:
        """Return one group per conv (read by the next conv, or fc1 through flatten) and fc1."""
        groups = []
        for i in range(1, self.n_convs + 1):
            nxt = Consumer(f"conv{i + 1}") if i < self.n_convs else Consumer("fc1", self.flat_hw)
            groups.append(ChannelGroup(f"conv{i}", self.widths[f"conv{i}"],
                                       (Producer(f"conv{i}", f"bn{i}"),), (nxt,)))
        groups.append(ChannelGroup("fc1", self.widths["fc1"], (Producer("fc1"),), (Consumer("fc2"),)))
        return groups


def _pool_follows(cfg: list[int | str], conv_index: int) -> bool:
    """Return whether the ``conv_index``-th conv of ``cfg`` is followed by a pool."""
    seen = -1
    for pos, v in enumerate(cfg):
        if v != M:
            seen += 1
            if seen == conv_index:
                return pos + 1 < len(cfg) and cfg[pos + 1] == M
    raise IndexError(conv_index)
