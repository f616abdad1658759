"""LeNet-5 (same-padded 5×5 convs so it runs on 8×8 inputs too)."""

from __future__ import annotations

import torch
from torch import nn

from cgap.models.base import ChannelGroup, Consumer, Producer, ZooModel, check_widths

GROUPS = ["conv1", "conv2", "fc1", "fc2"]
DEFAULT_WIDTHS = {"conv1": 6, "conv2": 16, "fc1": 120, "fc2": 84}


class LeNet5(ZooModel):
    """conv(5×5)-ReLU-pool ×2 → fc1-ReLU → fc2-ReLU → fc3; a pool is skipped where the map is under 2×2."""

    arch = "lenet5"

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, widths: dict[str, int]) -> None:
        super().__init__()
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        self.widths = w = check_widths(self.arch, widths, GROUPS)
        c, h, wd = input_shape
        self.conv1 = nn.Conv2d(c, w["conv1"], 5, padding=2)
        self.conv2 = nn.Conv2d(w["conv1"], w["conv2"], 5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.use_pool = []
        for _ in range(2):
            ok = h >= 2 and wd >= 2
            self.use_pool.append(ok)
            h, wd = (h // 2, wd // 2) if ok else (h, wd)
        self.flat_hw = h * wd
        self.fc1 = nn.Linear(w["conv2"] * self.flat_hw, w["fc1"])
        self.fc2 = nn.Linear(w["fc1"], w["fc2"])
        self.fc3 = nn.Linear(w["fc2"], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits."""
        for conv, pooled in zip((self.conv1, self.conv2), self.use_pool, strict=True):
            x = torch.relu(conv(x))
            x = self.pool(x) if pooled else x
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)

    def channel_groups(self) -> list[ChannelGroup]:
        """Return conv1, conv2 (read by fc1 through flatten), fc1 and fc2."""
        w = self.widths
        return [
            ChannelGroup("conv1", w["conv1"], (Producer("conv1"),), (Consumer("conv2"),)),
            ChannelGroup("conv2", w["conv2"], (Producer("conv2"),), (Consumer("fc1", self.flat_hw),)),
            ChannelGroup("fc1", w["fc1"], (Producer("fc1"),), (Consumer("fc2"),)),
            ChannelGroup("fc2", w["fc2"], (Producer("fc2"),), (Consumer("fc3"),)),
        ]
