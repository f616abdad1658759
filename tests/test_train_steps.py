"""After every kind of structural step the model still trains (finite loss), exports to ONNX, and onnxruntime
agrees with torch (≤1e-4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cgap.export.onnx_export import run_onnxruntime, to_onnx
from cgap.models import build
from cgap.train.grow import grow_maps
from cgap.train.prune import l1_target_maps, prune_maps
from cgap.train.saliency import SaliencyMeter, l1_saliency
from cgap.train.surgery import remap_model, remap_optimizer


def _train_steps(model, opt, shape, steps=3, meter=None):
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        x = torch.randn(16, *shape, generator=gen)
        y = torch.randint(0, 10, (16,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        if meter is not None:
            meter.update(model)
        opt.step()
        assert math.isfinite(float(loss.detach()))


def _onnx_matches(model, shape, path):
    model.eval()
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(x).numpy()
    got = run_onnxruntime(to_onnx(model, shape, path), x.numpy())
    assert np.abs(got - ref).max() <= 1e-4


def _step(model, opt, maps, noise=0.0):
    new = remap_model(model, maps, noise=noise, seed=1)
    new_opt = torch.optim.SGD(new.parameters(), lr=0.05, momentum=0.9)
    remap_optimizer(model, opt, new, new_opt, maps)
    return new, new_opt


@pytest.mark.parametrize("arch,shape", [("vgg11", (1, 16, 16)), ("resnet20", (1, 8, 8))])
def test_model_trains_and_exports_after_every_structural_step(arch, shape, tmp_path):
    torch.manual_seed(0)
    model = build(arch, shape, 10, width_mult=0.125)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    meter = SaliencyMeter("taylor")
    _train_steps(model, opt, shape, meter=meter)
    caps = {g: 3 * w for g, w in model.widths.items()}
    sizes = [model.count_params()]
    plan = [("split", lambda m: grow_maps(m.widths, meter.scores(m), 0.5, caps, "split"), 0.1),
            ("random", lambda m: grow_maps(m.widths, {}, 0.5, caps, "random"), 0.0),
            ("prune", lambda m: prune_maps(meter.scores(m), m.widths, 0.3, {g: 1 for g in m.widths}, "global",
                                           lambda w: True), 0.0),
            ("l1", lambda m: l1_target_maps(l1_saliency(m), m.widths, {g: 1 for g in m.widths},
                                            lambda w: sum(w.values()) > 0.5 * sum(m.widths.values())), 0.0)]
    for name, make, noise in plan:
        model, opt = _step(model, opt, make(model), noise)
        meter.reset()
        sizes.append(model.count_params())
        _train_steps(model, opt, shape, meter=meter)
        _onnx_matches(model, shape, tmp_path / f"{name}.onnx")
    assert sizes[0] < sizes[1] < sizes[2] and sizes[2] > sizes[3] > sizes[4]
