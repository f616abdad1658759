"""Pure passes: BN folding (``Network -> Network``) and fixed-point quantisation (``EngineProgram -> EngineProgram``)."""

from cgap.passes.quantize import quantize_program
from cgap_ir.fold_bn import fold_bn

PASSES = {"fold_bn": fold_bn, "quantize_program": quantize_program}
"""Explicit registry of the passes by name: ``fold_bn`` is Network -> Network, ``quantize_program``
EngineProgram -> EngineProgram (with calibrated ranges; see :mod:`cgap.lower`)."""

__all__ = ["PASSES", "fold_bn", "quantize_program"]
