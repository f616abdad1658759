"""Pure passes: Pad and BN folding (``Network -> Network``) and fixed-point quantisation (``EngineProgram -> EngineProgram``)."""

from cgap.passes.quantize import quantize_program
from cgap_ir.fold_bn import fold_bn
from cgap_ir.fold_pad import fold_pad

PASSES = {"fold_pad": fold_pad, "fold_bn": fold_bn, "quantize_program": quantize_program}
"""Explicit registry of the passes by name: ``fold_pad`` and ``fold_bn`` are Network -> Network, ``quantize_program``
EngineProgram -> EngineProgram (with calibrated ranges; see :mod:`cgap.lower`)."""

__all__ = ["PASSES", "fold_bn", "fold_pad", "quantize_program"]
