"""Which optional extra provides which import, and the one-line error when one is missing.

The base install (numpy, onnx, onnxruntime, jinja2) covers ONNX → IR → simulate / DSE / HLS codegen /
C-sim; training and checkpoints need ``cgap[train]``, the hls4ml back end ``cgap[hls4ml]``, plots
``cgap[plot]`` (``cgap[train]`` includes it).
"""

from __future__ import annotations

import importlib.util

from cgap_ir.errors import CgapError

EXTRA_OF_MODULE: dict[str, str] = {
    "torch": "train",
    "torch_pruning": "train",
    "onnxscript": "train",
    "sklearn": "train",
    "tqdm": "train",
    "hls4ml": "hls4ml",
    "matplotlib": "plot",
}
"""Top-level import name → the extra that installs it."""


class MissingExtraError(CgapError):
    """A command needs a package that the installed extras do not provide."""


def missing_extra(module: str, what: str = "this command") -> MissingExtraError:
    """Return the error saying that ``what`` needs ``module`` and which ``pip install 'cgap[...]'`` adds it."""
    top = module.split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    fix = f"pip install 'cgap[{extra}]'" if extra else f"pip install {top}"
    return MissingExtraError(f"{what} needs {top}, which is not installed: {fix}")


def require(*modules: str, what: str = "this command") -> None:
    """Return if every one of ``modules`` can be imported; else raise :class:`MissingExtraError` naming its extra."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise missing_extra(module, what)


def extra_error(exc: ModuleNotFoundError, what: str = "this command") -> MissingExtraError | None:
    """Return the one-line error for an import of an optional dependency that failed, or None for any other."""
    name = exc.name or ""
    return missing_extra(name, what) if name.split(".")[0] in EXTRA_OF_MODULE else None
