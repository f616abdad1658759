"""JSON round trip of a :class:`Network`, weights included as base64 little-endian float32."""

from __future__ import annotations

import base64
import dataclasses
import json

import numpy as np

from cgap_ir.network import IrError, Network, Node
from cgap_ir.ops import OP_TYPES, Op

FORMAT = "cgap-ir/1"


def _encode_array(arr: np.ndarray) -> dict:
    data = np.ascontiguousarray(arr, dtype="<f4")
    return {"shape": list(arr.shape), "f32": base64.b64encode(data.tobytes()).decode("ascii")}


def _decode_array(obj: dict) -> np.ndarray:
    raw = base64.b64decode(obj["f32"])
    return np.frombuffer(raw, dtype="<f4").reshape(obj["shape"]).astype(np.float32)


def op_to_dict(op: Op, with_weights: bool = True) -> dict:
    """Return a JSON-ready dict of an op (``{"kind", attrs..., "arrays": {...}}``)."""
    out: dict = {"kind": op.kind}
    arrays = {}
    for f in dataclasses.fields(op):
        value = getattr(op, f.name)
        if isinstance(value, np.ndarray):
            if with_weights:
                arrays[f.name] = _encode_array(value)
        elif value is not None:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    if arrays:
        out["arrays"] = arrays
    return out


def op_from_dict(obj: dict) -> Op:
    """Rebuild an op from :func:`op_to_dict` output; unknown kinds raise :class:`IrError`."""
    kind = obj.get("kind")
    cls = OP_TYPES.get(kind)
    if cls is None:
        raise IrError(f"unknown op kind {kind!r} in IR JSON")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in obj:
            value = obj[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    for name, enc in obj.get("arrays", {}).items():
        kwargs[name] = _decode_array(enc)
    return cls(**kwargs)


def to_dict(net: Network, with_weights: bool = True) -> dict:
    """Return the network as a JSON-ready dict."""
    return {
        "format": FORMAT,
        "name": net.name,
        "input_shape": list(net.input_shape),
        "output": net.output,
        "meta": net.meta,
        "nodes": [
            {"name": n.name, "inputs": list(n.inputs), "op": op_to_dict(n.op, with_weights)} for n in net.nodes
        ],
    }


def from_dict(obj: dict) -> Network:
    """Rebuild (and validate) a network from :func:`to_dict` output."""
    if obj.get("format") != FORMAT:
        raise IrError(f"not a {FORMAT} document (format={obj.get('format')!r})")
    nodes = tuple(Node(n["name"], op_from_dict(n["op"]), tuple(n["inputs"])) for n in obj["nodes"])
    return Network(obj["name"], tuple(obj["input_shape"]), nodes, obj["output"], dict(obj.get("meta", {})))


def to_json(net: Network, with_weights: bool = True) -> str:
    """Return the network as a JSON string."""
    return json.dumps(to_dict(net, with_weights))


def from_json(text: str) -> Network:
    """Parse a network from :func:`to_json` output."""
    return from_dict(json.loads(text))
