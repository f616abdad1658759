"""torch → ONNX export of zoo models, checked with onnx.checker and onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from cgap.atomic import atomic_path
from cgap_ir.errors import CgapError

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def to_onnx(model: torch.nn.Module, input_shape: tuple[int, ...], path: str | Path) -> Path:
    """Write ``model`` (put in eval mode) as ONNX to ``path`` atomically; return the path.

    Uses the TorchScript exporter (0.5 s for resnet20, against ~9 s for the dynamo one) with
    BatchNormalization kept as its own node (folding is a cgap pass) and a dynamic batch axis.
    """
    path = Path(path)
    model = model.eval()
    dummy = torch.zeros(1, *input_shape)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (dummy,), str(tmp), dynamo=False, opset_version=OPSET,
            training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
        onnx.checker.check_model(onnx.load(str(tmp)), full_check=True)
    return path


def run_onnxruntime(path: str | Path, x: np.ndarray) -> np.ndarray:
    """Return the ONNX model's first output on batch ``x`` (float32) computed by onnxruntime."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise CgapError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0]})") from None
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: np.asarray(x, dtype=np.float32)})[0]
