"""What `cgap-export MODEL.onnx --target fpga` needs besides the network: calibration images and float references.

A foreign ONNX model carries no dataset, so calibration images come from ``--calib-data FILE.npy`` (an
N×C×H×W float array, normalised as the model expects), from a named ``--dataset`` whose images have the model's
shape, or, only when neither is given, from a clearly labelled synthetic fallback (standard normal, seed 0) with a
warning.  The float reference of ``--verify`` is onnxruntime
on the ONNX file itself, at the tensor the engine outputs (the logits before a final Softmax).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cgap_ir import Network
from cgap_ir.errors import CgapError

SYNTHETIC_LABEL = "synthetic (standard normal, seed 0; not real data)"


@dataclass(frozen=True)
class Calibration:
    """Calibration images (N, C, H, W) float32 and a one-line description of where they came from."""

    images: np.ndarray
    source: str


def load_calib_data(path: str | Path, input_shape: tuple[int, ...]) -> np.ndarray:
    """Return the ``.npy`` array at ``path`` as float32 (N, *input_shape); raise CgapError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CgapError(f"--calib-data {path}: no such file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CgapError(f"--calib-data {path}: not a readable .npy array ({type(exc).__name__})") from None
    if arr.ndim != 4 or tuple(arr.shape[1:]) != tuple(input_shape) or len(arr) == 0:
        want = "x".join(map(str, input_shape))
        raise CgapError(f"--calib-data {path}: array of shape {tuple(arr.shape)}, the model takes N x {want} images")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise CgapError(f"--calib-data {path}: values must be finite numbers (dtype {arr.dtype})")
    return np.ascontiguousarray(arr, dtype=np.float32)


def calibration(calib_data: str | None, input_shape: tuple[int, ...], count: int, prog: str) -> Calibration:
    """Return the first ``count`` images of ``--calib-data``, or ``count`` synthetic ones with a stderr warning."""
    if calib_data:
        images = load_calib_data(calib_data, input_shape)[:count]
        return Calibration(images, f"--calib-data {calib_data} ({len(images)} images)")
    print(f"{prog}: warning: no --calib-data given: calibrating on {count} {SYNTHETIC_LABEL} images; binary points "
          "chosen on them may not suit real inputs (pass --calib-data FILE.npy, N x C x H x W)", file=sys.stderr)
    images = np.random.default_rng(0).standard_normal((count, *input_shape)).astype(np.float32)
    return Calibration(images, f"{SYNTHETIC_LABEL}, {count} images")


@dataclass(frozen=True)
class DatasetImages:
    """A named dataset's calibration images (training split) and labelled test images, as float32 arrays."""

    calibration: Calibration
    test_images: np.ndarray
    test_labels: np.ndarray


def dataset_images(name: str, data_dir: str | None, input_shape: tuple[int, ...], count: int,
                   test_count: int) -> DatasetImages:
    """Return ``count`` training images and ``test_count`` labelled test images of dataset ``name`` (normalised by
    its training split's mean and std); raise CgapError when its images are not the model's input shape."""
    from cgap.data import load_dataset

    splits = load_dataset(name, data_dir)
    train = splits.train[0][:count].numpy()
    if tuple(train.shape[1:]) != tuple(input_shape):
        got, want = ("x".join(map(str, s)) for s in (train.shape[1:], input_shape))
        raise CgapError(f"--dataset {name}: its images are {got}, the model takes {want}")
    source = f"dataset {name} ({len(train)} training images, normalised by the training split's mean and std)"
    return DatasetImages(Calibration(np.ascontiguousarray(train, np.float32), source),
                         splits.test[0][:test_count].numpy(), splits.test[1][:test_count].numpy())


def logits_node(net: Network) -> str:
    """Return the IR node whose value the engine outputs: the network output, or what a final Softmax reads."""
    last = net.node(net.output)
    return last.inputs[0] if last.op.kind == "Softmax" else net.output


def onnxruntime_reference(onnx_path: str | Path, net: Network, images: np.ndarray) -> np.ndarray:
    """Return onnxruntime's float values of :func:`logits_node` (via the importer's tensor map) on ``images``."""
    import onnx
    import onnxruntime as ort

    tensor = (net.meta.get("onnx_tensors") or {}).get(logits_node(net))
    if tensor is None:
        raise CgapError(f"network {net.name!r}: no ONNX tensor recorded for its output {logits_node(net)!r}")
    model = onnx.load(str(onnx_path))
    if tensor not in {o.name for o in model.graph.output}:
        model.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    (out,) = sess.run([tensor], {net.meta["onnx_input"]: np.asarray(images, dtype=np.float32)})
    return out.reshape(len(images), -1)
