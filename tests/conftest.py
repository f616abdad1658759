"""Shared fixtures: small zoo models with randomised BN statistics, and a torch MAC counter."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import settings

from cgap.models import ZooModel, build

torch.set_num_threads(2)

# CI replays a fixed set of examples (no flaky landings); local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

SHAPES = {"lenet5": (1, 28, 28), "vgg11": (3, 32, 32), "vgg13": (1, 8, 8), "vgg16": (1, 28, 28),
          "vgg19": (3, 32, 32), "resnet20": (3, 32, 32), "resnet32": (1, 8, 8), "resnet56": (1, 28, 28),
          "resnet110": (1, 8, 8), "mobilenetv2": (3, 32, 32), "squeezenet": (1, 28, 28)}
ENGINE_PENDING = frozenset({"mobilenetv2"})
"""Zoo archs the FPGA engine cannot schedule yet (depthwise conv, Clip, Concat; issue 17): hardware tests skip them."""


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm non-trivial statistics and affine terms so export bugs can't hide; return model."""
    gen = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
            mod.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            mod.weight.data.copy_(torch.randn(n, generator=gen) * 0.5 + 1)
            mod.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)
    return model.eval()


def irregular_model(arch: str, shape: tuple[int, int, int], seed: int = 0) -> ZooModel:
    """Return ``arch`` with random irregular widths (1..1.2× a quarter of default, some 1-wide groups)."""
    from cgap.models import default_widths

    rng = np.random.default_rng(seed)
    widths = {g: int(max(1, rng.integers(1, max(2, w // 4 + 3)))) for g, w in default_widths(arch).items()}
    torch.manual_seed(seed)
    return randomise_bn(build(arch, shape, 10, widths=widths), seed)


def torch_macs(model: torch.nn.Module, shape: tuple[int, int, int]) -> int:
    """Return conv + linear MACs of one image counted with forward hooks (independent of the IR)."""
    total = 0

    def hook(mod: torch.nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, torch.nn.Conv2d):
            kh, kw = mod.kernel_size
            total += out.shape[1] * out.shape[2] * out.shape[3] * (mod.in_channels // mod.groups) * kh * kw
        else:
            total += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return total


@pytest.fixture
def lenet_ckpt(tmp_path):
    """A saved lenet5 checkpoint for 1×8×8 inputs; returns its path."""
    from cgap.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build("lenet5", (1, 8, 8), 10, width_mult=0.5)
    return save_checkpoint(tmp_path / "lenet.pt", model, {"method": "test"})
