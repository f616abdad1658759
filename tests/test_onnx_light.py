"""The nine light ONNX CNNs of the onnx wheel: import, counts against an independent count, executor vs onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from cgap_ir import executor, serialize
from cgap_ir.from_onnx import from_onnx
from tests.onnx_light import (
    LIGHT,
    PUBLISHED_PARAMS,
    independent_counts,
    light_path,
    logits_tensor,
    randomised,
    run_ort,
)

NEW_KINDS = {
    "bvlc_alexnet": {"LRN"},               # and grouped conv2/4/5
    "zfnet512": {"LRN"},
    "inception_v1": {"LRN", "Concat"},
    "inception_v2": {"Concat", "AvgPool"},
    "densenet121": {"Concat", "AvgPool"},  # BN → Mul → Add: the Caffe Scale folded into the BN
    "squeezenet": {"Concat"},
    "shufflenet": {"ChannelShuffle", "Concat", "AvgPool"},
    "resnet50": set(),
    "vgg19": set(),
}
HEAVY = {"vgg19"}  # 144 M weights, 19.6 GMACs: ~14 s


def _heavy(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


@pytest.mark.parametrize("name", LIGHT)
def test_light_graph_imports_with_independent_counts(name):
    model = onnx.load(str(light_path(name)))
    params, macs = independent_counts(model)
    net = from_onnx(model)
    assert (net.total_params(), net.total_macs()) == (params, macs)
    assert params == PUBLISHED_PARAMS.get(name, params)
    kinds = {n.op.kind for n in net.nodes}
    assert NEW_KINDS[name] <= kinds
    assert "Affine" not in kinds  # every constant scale of these graphs folds into its BatchNorm
    if name in ("bvlc_alexnet", "shufflenet"):
        assert any(n.op.kind == "Conv2d" and n.op.groups > 1 for n in net.nodes)
    assert net.output_shape in ((1000,), (1000, 1, 1))


@pytest.mark.parametrize("name", _heavy(LIGHT))
def test_light_graph_executor_matches_onnxruntime(name):
    """Random weights of a sensible scale replace the graphs' constant 0.02 fill, so the logits differ by input."""
    model = randomised(onnx.load(str(light_path(name))), seed=0)
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    logits_name = logits_tensor(model)
    ref_logits, ref_out = run_ort(model, x, [logits_name, model.graph.output[0].name])
    net = from_onnx(model)
    values = executor.run(net, x, keep=True)
    logits_node = net.nodes[-2].name if net.nodes[-1].op.kind == "Softmax" else net.output
    assert np.abs(values[logits_node].reshape(ref_logits.shape) - ref_logits).max() <= 1e-4
    assert np.abs(values[net.output].reshape(ref_out.shape) - ref_out).max() <= 1e-4
    assert np.std(ref_logits) > 1e-3  # the comparison is not between two constant vectors


@pytest.mark.parametrize("name", ["shufflenet", "squeezenet", "inception_v1"])
def test_light_graph_json_round_trip(name):
    net = from_onnx(light_path(name))
    skeleton = serialize.from_json(serialize.to_json(net, with_weights=False))
    assert skeleton.summary() == net.summary()
