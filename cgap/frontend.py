"""Load whatever a user hands the tool (model.pt or .onnx) as the torch-free IR."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cgap_ir import Network
from cgap_ir.errors import CgapError
from cgap_ir.from_onnx import from_onnx
from cgap_ir.model_format import detect_format


def load_network(path: str | Path) -> Network:
    """Return the IR of a cgap checkpoint (``.pt``) or an ONNX file (``.onnx``), told apart by content.

    A checkpoint goes through the same ONNX export users get, so every back end sees one path.
    ``Network.meta`` carries the checkpoint's arch, widths and metadata where there are any.
    """
    path = Path(path)
    found = detect_format(path)   # the content decides; the suffix only when the content is unreadable
    if found == "onnx" or (found is None and path.suffix == ".onnx"):
        return from_onnx(path)
    if found is None and path.suffix not in (".pt", ".pth"):
        raise CgapError(f"{path}: expected a cgap checkpoint (.pt) or an ONNX model (.onnx)")
    from cgap.requirements import require

    require("torch", what=f"reading the checkpoint {path.name}")
    from cgap.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    with tempfile.TemporaryDirectory(prefix="cgap-") as tmp:
        return network_from_checkpoint(ckpt, path.stem, Path(tmp) / "model.onnx")


def network_from_checkpoint(ckpt, name: str, onnx_path: Path) -> Network:  # noqa: ANN001 - a loaded Checkpoint
    """Return the IR of a loaded checkpoint, exporting it to ``onnx_path`` on the way (kept for the caller)."""
    from cgap.export.onnx_export import to_onnx

    net = from_onnx(to_onnx(ckpt.model, ckpt.model.input_shape, onnx_path), name=name)
    meta = {**net.meta, "arch": ckpt.model.arch, "widths": ckpt.model.widths, "checkpoint": ckpt.meta}
    return Network(net.name, net.input_shape, net.nodes, net.output, meta)
