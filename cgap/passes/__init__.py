"""Pure IR passes ``Network -> Network`` (BN folding, fixed-point quantisation)."""

from cgap.passes.fold_bn import fold_bn
from cgap.passes.quantize import QuantSpec, quantize

PASSES = {"fold_bn": fold_bn, "quantize": quantize}
"""Explicit registry of the passes by name."""

__all__ = ["PASSES", "QuantSpec", "fold_bn", "quantize"]
