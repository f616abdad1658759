"""The widths the two architecture baselines train, read from another run's checkpoint.

- ``scratch`` (Liu et al., ICLR 2019, "Rethinking the value of network pruning"): exactly the widths of a
  finished run's ``model.pt``, trained from a fresh initialisation with the same epochs and schedule;
- ``uniform``: the full reference architecture at the one width multiplier ``m`` (on a grid of
  ``1/MULT_STEPS`` of the reference) whose cost — simulated latency on ``--hw``, MACs or params — is the
  largest not above the run's: ``cost(m) <= target < cost(m + 1/MULT_STEPS)``.

Checkpoints are read with :func:`cgap.checkpoint.read_checkpoint_dict` (``torch.load(weights_only=True)``):
only the header is used, no tensor is loaded into a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cgap.checkpoint import read_checkpoint_dict
from cgap.models import scale_widths
from cgap_ir.errors import CgapError

MULT_STEPS = 64     # the uniform baseline's multiplier grid: k / 64 of the full reference
MAX_MULT = 4.0      # ... up to 4× the reference (a grown run may exceed it)

Widths = dict[str, int]


@dataclass(frozen=True)
class UniformMatch:
    """The uniform baseline's choice: multiplier, widths, and its cost next to the matched run's."""

    mult: float
    widths: Widths
    cost: float
    target: float
    by: str
    step: float = 1.0 / MULT_STEPS


def checkpoint_widths(path: str | Path, arch: str, shape: tuple[int, int, int], classes: int, flag: str) -> Widths:
    """Return the group widths stored in checkpoint ``path``; raise CgapError (naming ``flag``) when it is not
    a cgap checkpoint of ``arch`` for this dataset's input shape and class count."""
    doc = read_checkpoint_dict(path)
    if doc["arch"] != arch:
        raise CgapError(f"{flag} {path}: the checkpoint is a {doc['arch']!r}, this run trains --arch {arch}")
    if tuple(doc["input_shape"]) != tuple(shape) or doc["num_classes"] != classes:
        raise CgapError(f"{flag} {path}: the checkpoint takes input {tuple(doc['input_shape'])} with "
                        f"{doc['num_classes']} classes, this dataset has {tuple(shape)} and {classes}")
    widths = doc["widths"]
    if not all(isinstance(v, int) and v >= 1 for v in widths.values()):
        raise CgapError(f"{flag} {path}: its widths {widths} are not positive integers")
    return {str(g): int(w) for g, w in widths.items()}


def match_uniform(reference: Widths, target: float, cost: Callable[[Widths], float], by: str) -> UniformMatch:
    """Return the largest grid multiplier of ``reference`` whose ``cost`` is at most ``target`` (the smallest
    multiplier on the grid when even it costs more)."""
    best: UniformMatch | None = None
    for k in range(1, int(MAX_MULT * MULT_STEPS) + 1):
        mult = k / MULT_STEPS
        widths = scale_widths(reference, mult)
        value = cost(widths)
        if best is None or value <= target:
            best = UniformMatch(mult, widths, value, target, by)
        if value > 2 * target and mult >= 1.0:
            break
    if best is None:
        raise CgapError("--match: no width multiplier to try")
    return best
