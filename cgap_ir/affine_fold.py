"""Constant per-channel scale and shift: reading them off ONNX constants and absorbing them into a layer.

A constant ``Mul``/``Add``/``Sub``/``Div`` in an imported graph is ``y = x * scale + shift`` with one value per
channel (or one for all).  :func:`channel_vector` turns the ONNX constant into that vector; :func:`absorb`
returns the producing Conv2d / Linear / BatchNorm / Affine with the affine map built into its own weights,
which is exact in real arithmetic (the producer's output is read by nobody else, as the importer checks).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cgap_ir import ops


def channel_vector(value: np.ndarray, shape: ops.Shape) -> np.ndarray | None:
    """Return the constant ``value`` as a float64 vector of ``shape[0]`` entries when it broadcasts over an
    (N, *shape) tensor as a per-channel (axis 1) vector or a scalar; return None for any other broadcast
    (per-pixel constants, constants that would enlarge the tensor)."""
    rank = len(shape) + 1
    value = np.asarray(value, dtype=np.float64)
    if value.ndim > rank:
        return None
    dims = (1,) * (rank - value.ndim) + tuple(value.shape)
    if dims[0] != 1 or any(d != 1 for d in dims[2:]) or dims[1] not in (1, shape[0]):
        return None
    return np.broadcast_to(value.reshape(-1), (shape[0],)).copy()


def _scaled(arr: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Return ``arr`` (leading axis = channels) times ``scale`` per channel, float64."""
    arr = np.asarray(arr, dtype=np.float64)
    return arr * scale.reshape((-1,) + (1,) * (arr.ndim - 1))


def absorb(op: ops.Op, scale: np.ndarray, shift: np.ndarray) -> ops.Op | None:
    """Return ``op`` changed so that it outputs ``op(x) * scale + shift`` per channel, or None when ``op`` cannot
    absorb it (another kind, or an op built without weight arrays)."""
    if isinstance(op, (ops.Conv2d, ops.Linear)) and op.weight is not None:
        bias = np.zeros(scale.shape) if op.bias is None else np.asarray(op.bias, dtype=np.float64)
        has_bias = op.has_bias or bool(np.any(shift))
        new_bias = bias * scale + shift
        return replace(op, weight=_scaled(op.weight, scale).astype(np.float32), has_bias=has_bias,
                       bias=new_bias.astype(np.float32) if has_bias else None)
    if isinstance(op, ops.BatchNorm) and op.scale is not None:
        return replace(op, scale=(op.scale * scale).astype(np.float32),
                       bias=(op.bias * scale + shift).astype(np.float32))
    if isinstance(op, ops.Affine) and op.scale is not None:
        return replace(op, scale=(op.scale * scale).astype(np.float32),
                       shift=(op.shift * scale + shift).astype(np.float32))
    return None


def affine_op(channels: int, scale: np.ndarray, shift: np.ndarray) -> ops.Affine:
    """Return a standalone :class:`~cgap_ir.ops.Affine` op of the per-channel ``scale`` and ``shift``."""
    return ops.Affine(channels, scale=np.asarray(scale, np.float32), shift=np.asarray(shift, np.float32))
