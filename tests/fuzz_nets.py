"""Random small torch CNNs for the fuzz tests: a plain nn.Module (not the zoo) described by a list of stages.

A net is ``NetSpec(in_ch, size, stages, head)``; :func:`build_torch` turns it into a module with seeded random
weights and non-trivial BatchNorm statistics, and :func:`net_specs` is the Hypothesis strategy drawing them:
widths down to 1, kernels 1/3/5/7, strides 1/2, padding 0 or k//2, optional bias/BN/ReLU, residual blocks
(identity or 1x1-conv shortcut, post- or pre-activation), fused 2x2 max/avg pools, standalone overlapping pools, GAP, mean or flatten heads
with one or two linear layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import nn


@dataclass(frozen=True)
class Stage:
    """One stage: kind in conv | res | pre | pool2 | avg3 | max3; the rest only where the kind uses it."""

    kind: str
    width: int = 0
    kernel: int = 3
    stride: int = 1
    pad: bool = True
    bias: bool = False
    bn: bool = True
    relu: bool = True
    pool: str = "max"


@dataclass(frozen=True)
class NetSpec:
    """A random CNN: input channels and square size, stages, head ('gap', 'mean' = x.mean((2, 3)) or 'flat') and hidden width (0 = none)."""

    in_ch: int
    size: int
    stages: tuple[Stage, ...]
    head: str
    hidden: int
    classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Return (C, H, W)."""
        return (self.in_ch, self.size, self.size)


def _conv_out(size: int, k: int, s: int, pad: int) -> int:
    return (size + 2 * pad - k) // s + 1


class _ConvStage(nn.Module):
    def __init__(self, cin: int, s: Stage) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, s.width, s.kernel, s.stride, s.kernel // 2 if s.pad else 0, bias=s.bias)
        self.bn = nn.BatchNorm2d(s.width) if s.bn else nn.Identity()
        self.relu = nn.ReLU() if s.relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class _ResStage(nn.Module):
    """conv-bn-relu-conv-bn (+ identity or 1x1-conv-bn shortcut) then ReLU."""

    def __init__(self, cin: int, s: Stage) -> None:
        super().__init__()
        p = s.kernel // 2
        self.c1 = nn.Conv2d(cin, s.width, s.kernel, s.stride, p, bias=False)
        self.b1 = nn.BatchNorm2d(s.width)
        self.c2 = nn.Conv2d(s.width, s.width, s.kernel, 1, p, bias=False)
        self.b2 = nn.BatchNorm2d(s.width)
        self.short = None
        if s.stride != 1 or cin != s.width:
            self.short = nn.Sequential(nn.Conv2d(cin, s.width, 1, s.stride, bias=False), nn.BatchNorm2d(s.width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(y + (x if self.short is None else self.short(x)))


class _PreStage(_ResStage):
    """Pre-activation block: a = relu(x); conv-bn-relu-conv(a) + (x, or a 1x1-conv-bn shortcut of a).

    relu(x) reads a tensor with two consumers (it and the identity shortcut), so no producer can absorb it:
    the engine runs it standalone.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(x)
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(a)))))
        return y + (x if self.short is None else self.short(a))


def _pool_module(s: Stage) -> nn.Module:
    if s.kind == "pool2":
        return nn.MaxPool2d(2) if s.pool == "max" else nn.AvgPool2d(2)
    if s.kind == "avg3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=s.bias)  # bias flag reused: include padding or not
    return nn.MaxPool2d(3, 2, 1)


class FuzzNet(nn.Module):
    """The torch module of a :class:`NetSpec`."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        c, size = spec.in_ch, spec.size
        body: list[nn.Module] = []
        for s in spec.stages:
            if s.kind == "conv":
                body.append(_ConvStage(c, s))
                c, size = s.width, _conv_out(size, s.kernel, s.stride, s.kernel // 2 if s.pad else 0)
            elif s.kind in ("res", "pre"):
                body.append(_ResStage(c, s) if s.kind == "res" else _PreStage(c, s))
                c, size = s.width, _conv_out(size, s.kernel, s.stride, s.kernel // 2)
            else:
                body.append(_pool_module(s))
                size = size // 2 if s.kind == "pool2" else size if s.kind == "avg3" else _conv_out(size, 3, 2, 1)
        self.body = nn.Sequential(*body)
        self.gap = {"gap": nn.AdaptiveAvgPool2d(1), "mean": _SpatialMean()}.get(spec.head, nn.Identity())
        feats = c if spec.head in ("gap", "mean") else c * size * size
        layers: list[nn.Module] = []
        if spec.hidden:
            layers += [nn.Linear(feats, spec.hidden), nn.ReLU()]
            feats = spec.hidden
        layers.append(nn.Linear(feats, spec.classes))
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        return self.head(torch.flatten(self.gap(x), 1))


class _SpatialMean(nn.Module):
    """``x.mean((2, 3))``: exported as ONNX ReduceMean (keepdims=0), where AdaptiveAvgPool2d gives GlobalAveragePool."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


def build_torch(spec: NetSpec, seed: int = 0) -> FuzzNet:
    """Return the eval-mode module of ``spec`` with seeded weights and random BN statistics/affine terms."""
    torch.manual_seed(seed)
    model = FuzzNet(spec)
    gen = torch.Generator().manual_seed(seed + 1)
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
            mod.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            mod.weight.data.copy_(torch.randn(n, generator=gen) * 0.5 + 1)
            mod.bias.data.copy_(torch.randn(n, generator=gen) * 0.2 + 0.1)
    return model.eval()


@st.composite
def stages(draw: st.DrawFn, size: int, max_stages: int, max_width: int) -> tuple[tuple[Stage, ...], int]:
    """Draw a stage list that keeps the feature map at least 1x1; return (stages, final size)."""
    out: list[Stage] = []
    for _ in range(draw(st.integers(1, max_stages))):
        kind = draw(st.sampled_from(["conv", "conv", "res", "pre", "pool2", "avg3", "max3"]))
        if kind == "pool2" and (size < 2 or size % 2):
            kind = "conv"
        if kind in ("conv", "res", "pre"):
            k = draw(st.sampled_from([1, 3, 5, 7]))
            stride = draw(st.sampled_from([1, 2])) if size > 1 else 1
            pad = True if kind != "conv" or size < k else draw(st.booleans())
            s = Stage(kind, width=draw(st.integers(1, max_width)), kernel=k, stride=stride, pad=pad,
                      bias=draw(st.booleans()), bn=draw(st.booleans()), relu=draw(st.booleans()))
            size = _conv_out(size, k, stride, k // 2 if pad else 0)
        else:
            s = Stage(kind, pool=draw(st.sampled_from(["max", "avg"])), bias=draw(st.booleans()))
            size = size // 2 if kind == "pool2" else size if kind == "avg3" else _conv_out(size, 3, 2, 1)
        out.append(s)
    return tuple(out), size


@st.composite
def net_specs(draw: st.DrawFn, max_size: int = 12, max_stages: int = 4, max_width: int = 6) -> NetSpec:
    """Hypothesis strategy: a random :class:`NetSpec` (small enough for a fast float/golden round trip)."""
    size = draw(st.integers(1, max_size))
    body, _ = draw(stages(size, max_stages, max_width))
    return NetSpec(in_ch=draw(st.integers(1, 3)), size=size, stages=body, head=draw(st.sampled_from(["gap", "mean", "flat"])),
                   hidden=draw(st.sampled_from([0, 0, 1, 5])), classes=draw(st.integers(2, 6)))
