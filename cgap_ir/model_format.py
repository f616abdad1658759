"""Which kind of model file a user handed a command, and the one-line error when the command takes another kind.

Two formats exist: a cgap checkpoint (``model.pt``, a torch zip archive written by ``cgap train``) and an ONNX
model.  The format is read from the content, not the suffix, so a renamed file is still recognised.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from cgap_ir.errors import CgapError

ModelFormat = Literal["checkpoint", "onnx"]

FORMAT_NAMES: dict[str, str] = {
    "checkpoint": "a cgap checkpoint (.pt written by `cgap train`)",
    "onnx": "an ONNX model (.onnx)",
}


class ModelFormatError(CgapError):
    """A model file of a format the command does not take."""


def detect_format(path: str | Path) -> ModelFormat | None:
    """Return ``"checkpoint"`` for a zip archive (every torch checkpoint is one), ``"onnx"`` for a file that parses
    as an ONNX model with a graph, or None when it is neither (missing, garbage, truncated)."""
    path = Path(path)
    if not path.is_file():
        return None
    if zipfile.is_zipfile(path):
        return "checkpoint"
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, ValueError, OSError, RuntimeError, UnicodeDecodeError):
        return None
    return "onnx" if len(model.graph.node) > 0 else None


def mismatch_message(path: str | Path, what: str, accepted: Sequence[ModelFormat], got: ModelFormat) -> str:
    """Return the one-line message for ``what`` (a command) given a ``got`` file where it takes ``accepted``."""
    takes = " or ".join(FORMAT_NAMES[a] for a in accepted)
    return f"{path}: this is {FORMAT_NAMES[got]}; {what} takes {takes}"


def require_format(path: str | Path, what: str, accepted: Sequence[ModelFormat]) -> ModelFormat | None:
    """Return the detected format of ``path`` when ``what`` accepts it (None when undetectable: the loader then
    reports the file's own problem); raise :class:`ModelFormatError` naming both formats when it does not."""
    got = detect_format(path)
    if got is not None and got not in accepted:
        raise ModelFormatError(mismatch_message(path, what, accepted, got))
    return got
