"""CIFAR-style ResNet-20/32/56/110 (He et al. 2016) with 1×1-conv projection ("option B") shortcuts.

Groups: ``stage1..3`` (the residual stream of a stage: stem/shortcut outputs and every block's
second conv, coupled by the adds) and ``s{stage}b{block}`` (each block's inner width).
"""

from __future__ import annotations

import torch
from torch import nn

from cgap.models.base import ChannelGroup, Consumer, Producer, ZooModel, check_widths, conv_bn

DEPTHS = {"resnet20": 3, "resnet32": 5, "resnet56": 9, "resnet110": 18}
STAGE_WIDTHS = (16, 32, 64)


def default_widths(arch: str) -> dict[str, int]:
    """Return the standard widths: stage1..3 = 16/32/64 and each block's inner width equal to its stage."""
    n = DEPTHS[arch]
    widths = {f"stage{s + 1}": STAGE_WIDTHS[s] for s in range(3)}
    for s in range(3):
        for b in range(n):
            widths[f"s{s + 1}b{b}"] = STAGE_WIDTHS[s]
    return widths


class BasicBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN + shortcut, then ReLU; the shortcut is a 1×1 conv + BN when shapes change."""

    def __init__(self, cin: int, mid: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv_bn(cin, mid, 3, stride)
        self.conv2, self.bn2 = conv_bn(mid, cout, 3, 1)
        self.has_shortcut = stride != 1 or cin != cout
        if self.has_shortcut:
            self.sc_conv, self.sc_bn = conv_bn(cin, cout, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the block output."""
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        short = self.sc_bn(self.sc_conv(x)) if self.has_shortcut else x
        return torch.relu(out + short)


class ResNet(ZooModel):
    """Stem conv, three stages of basic blocks (strides 1, 2, 2), global average pool, linear classifier."""

    def __init__(self, arch: str, input_shape: tuple[int, int, int], num_classes: int,
                 widths: dict[str, int]) -> None:
        super().__init__()
        self.arch, self.input_shape, self.num_classes = arch, tuple(input_shape), num_classes
        self.widths = w = check_widths(arch, widths, list(default_widths(arch)))
        self.blocks_per_stage = n = DEPTHS[arch]
        self.conv1, self.bn1 = conv_bn(input_shape[0], w["stage1"], 3, 1)
        cin = w["stage1"]
        for s in range(3):
            stage = nn.Sequential()
            for b in range(n):
                stride = 2 if (s > 0 and b == 0) else 1
                cout = w[f"stage{s + 1}"]
                stage.append(BasicBlock(cin, w[f"s{s + 1}b{b}"], cout, stride))
                cin = cout
            self.add_module(f"layer{s + 1}", stage)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits."""
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)

    def channel_groups(self) -> list[ChannelGroup]:
        """Return the three residual-stream groups and one inner group per block."""
        groups = []
        n = self.blocks_per_stage
        for s in range(1, 4):
            producers = [Producer("conv1", "bn1")] if s == 1 else []
            consumers = []
            for b in range(n):
                blk = f"layer{s}.{b}"
                producers.append(Producer(f"{blk}.conv2", f"{blk}.bn2"))
                if getattr(self, f"layer{s}")[b].has_shortcut:
                    producers.append(Producer(f"{blk}.sc_conv", f"{blk}.sc_bn"))
            for b in range(1 if s > 1 else 0, n):  # block 0 of stages 2-3 reads the previous stage
                consumers.append(Consumer(f"layer{s}.{b}.conv1"))
            if s < 3:
                nxt = f"layer{s + 1}.0"
                consumers += [Consumer(f"{nxt}.conv1"), Consumer(f"{nxt}.sc_conv")]
            else:
                consumers.append(Consumer("fc"))
            groups.append(ChannelGroup(f"stage{s}", self.widths[f"stage{s}"], tuple(producers), tuple(consumers)))
        for s in range(1, 4):
            for b in range(n):
                blk = f"layer{s}.{b}"
                groups.append(ChannelGroup(f"s{s}b{b}", self.widths[f"s{s}b{b}"],
                                           (Producer(f"{blk}.conv1", f"{blk}.bn1"),), (Consumer(f"{blk}.conv2"),)))
        return groups
