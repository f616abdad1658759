"""Safe checkpoints: tensors plus a plain description of the architecture, never a pickled module.

``model.pt`` is a dict (saved with torch.save, loaded with ``weights_only=True``)::

    {"format": "cgap-checkpoint", "format_version": 1,
     "arch": "resnet20", "input_shape": [3, 32, 32], "num_classes": 10,
     "widths": {"stage1": 16, ...},                 # coupled group -> width
     "shapes": {"conv1.weight": [16, 3, 3, 3], ...}, # every tensor's shape, checked on load
     "state_dict": {...tensors...},
     "meta": {"method": "cgap", "versions": {...}, ...plain data...},
     "extra": {...}}                               # optional: optimizer state etc. (tensors + plain data)

The model is rebuilt from ``arch``/``widths`` by the zoo, then the tensors are loaded.
"""

from __future__ import annotations

import pickle
import platform
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import cgap
from cgap.atomic import atomic_path
from cgap.models import ZooModel, build
from cgap_ir.errors import CgapError
from cgap_ir.model_format import detect_format, mismatch_message

FORMAT = "cgap-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(CgapError):
    """A checkpoint that cannot be loaded safely (not ours, corrupt, unsafe or inconsistent)."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (eval mode), its metadata and any extra state."""

    model: ZooModel
    meta: dict[str, Any]
    extra: dict[str, Any]
    path: Path


def versions() -> dict[str, str]:
    """Return the versions recorded in every checkpoint."""
    return {"cgap": cgap.__version__, "torch": str(torch.__version__), "python": platform.python_version()}


def save_checkpoint(path: str | Path, model: ZooModel, meta: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (+ plain ``meta`` and ``extra`` state) to ``path`` atomically; return the path."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **model.describe(),
        "shapes": {k: list(v.shape) for k, v in state.items()},
        "state_dict": state,
        "meta": {**(meta or {}), "versions": versions()},
        "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(doc, tmp)
    return Path(path)


def read_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """Return the raw checkpoint dict, loaded with ``weights_only=True``; raise CheckpointError if unsafe/bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if detect_format(path) == "onnx":
        raise CheckpointError(mismatch_message(path, "this command", ("checkpoint",), "onnx"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before refusing them
            doc = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        culprit = _offending_global(str(exc))
        if culprit is None:
            raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt pickle data)") from None
        raise CheckpointError(f"{path}: refused to load: it holds objects other than tensors and plain data "
                              f"(possible code payload: global {culprit})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, IndexError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt: "
                              f"{type(exc).__name__})") from None
    _check_header(path, doc)
    return doc


def _offending_global(message: str) -> str | None:
    """Return the 'module.name' that torch's weights-only unpickler refused, or None if it refused no global."""
    match = re.search(r"GLOBAL ([\w.]+)|Unsupported global: ([\w.]+)|(posix\.system|os\.system|builtins\.\w+)", message)
    return next((g for g in match.groups() if g), None) if match else None


def _check_header(path: Path, doc: Any) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a cgap checkpoint (no format={FORMAT!r} header)")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version!r} is not supported by this cgap "
                              f"(expects {FORMAT_VERSION}); re-export it with a matching cgap version")
    for key, kind in (("arch", str), ("input_shape", list), ("num_classes", int), ("widths", dict),
                      ("state_dict", dict), ("shapes", dict)):
        if not isinstance(doc.get(key), kind):
            raise CheckpointError(f"{path}: field {key!r} missing or not a {kind.__name__}")


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Return the checkpoint at ``path`` with its model rebuilt from the stored shapes, in eval mode."""
    path = Path(path)
    doc = read_checkpoint_dict(path)
    args = (doc["arch"], tuple(doc["input_shape"]), doc["num_classes"])
    try:
        with torch.device("meta"):  # check the stored shapes before allocating what the header claims
            skeleton = build(*args, widths=doc["widths"])
        _check_shapes(path, skeleton, doc["state_dict"], doc["shapes"])
        model = build(*args, widths=doc["widths"])
    except CheckpointError:
        raise
    except CgapError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    model.load_state_dict(doc["state_dict"])
    return Checkpoint(model.eval(), dict(doc.get("meta", {})), dict(doc.get("extra", {})), path)


def _check_shapes(path: Path, model: ZooModel, state: dict, shapes: dict) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unknown = sorted(set(state) - set(expected))
    if missing or unknown:
        raise CheckpointError(f"{path}: tensors do not match arch {model.arch!r} "
                              f"(missing {missing[:3]}, unexpected {unknown[:3]})")
    for key, ref in expected.items():
        got = state[key]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(ref.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckpointError(f"{path}: tensor {key!r} has shape {shape}, arch {model.arch!r} with the stored "
                                  f"widths needs {tuple(ref.shape)}")
        if list(shapes.get(key, [])) != list(ref.shape):
            raise CheckpointError(f"{path}: recorded shape of {key!r} {shapes.get(key)} disagrees with its tensor")
