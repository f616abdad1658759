"""The engine program: the one value that codegen, the golden model, the simulator and the DSE read.

``cgap.lower.lower(net, hw)`` makes it from an IR network (BN folded, nodes fused, tiles chosen, once);
``cgap.lower.quantize_program`` returns it quantised (every layer's binary points, shifts and integer
weights).  It is frozen, typed, and round-trips exactly through JSON (:meth:`EngineProgram.to_json`):
``cgap-export --target fpga`` writes it as ``program.json`` next to the generated project, and
``cgap sim PROJECT/program.json`` simulates exactly that project.

Fields per layer: the fused, tiled :class:`~fpga_model.loopnest.EngineLayer` (shapes, kernel, pads, tiles,
fused options) and, once quantised, its :class:`LayerQuant`.  Tensors are named by the engine layer that
writes them (``"input"`` for the input); their binary points are the writers' ``out_frac``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np

from cgap_ir import INPUT
from cgap_ir.errors import CgapError
from fpga_model.hw import HwConfig, hw_from_dict
from fpga_model.loopnest import EngineLayer

FORMAT = "cgap-engine-program/1"


class ProgramError(CgapError):
    """A program file that cannot be read, or a question the program cannot answer."""


@dataclass(frozen=True)
class LayerQuant:
    """Fixed-point parameters of one engine layer (shifts are what the engine's table holds)."""

    in_frac: int
    out_frac: int
    res_frac: int = 0
    w_frac: int = 0
    acc_frac: int = 0
    in_shift: int = 0          # add: left shift of the input into the accumulator (negative = round right)
    res_shift: int = 0         # conv/add: left shift of the residual into the accumulator
    out_shift: int = 0         # requantisation right shift acc -> output (>= 0)
    weight: np.ndarray | None = field(default=None, repr=False, compare=False)   # int64 (Nof, Nif, kh, kw)
    bias: np.ndarray | None = field(default=None, repr=False, compare=False)     # int64 at acc_frac


@dataclass(frozen=True)
class ProgramLayer:
    """One row of the program: the tiled engine layer, a conv/linear layer's BN-folded float weights (Nof, Nif,
    kh, kw) and bias (Nof,) (None for other kinds, or when lowered without weights) and, once quantised, its
    fixed-point parameters."""

    layer: EngineLayer
    quant: LayerQuant | None = None
    weight: np.ndarray | None = field(default=None, repr=False, compare=False)
    bias: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class EngineProgram:
    """A network lowered for the engine on ``hw`` (module doc)."""

    name: str
    hw: HwConfig
    input_shape: tuple[int, int, int]
    output: str
    layers: tuple[ProgramLayer, ...]
    input_frac: int | None = None
    calib_images: int = 0

    @property
    def engine_layers(self) -> list[EngineLayer]:
        """Return the tiled engine layers in execution order."""
        return [p.layer for p in self.layers]

    @property
    def quantized(self) -> bool:
        """Return whether every layer has its fixed-point parameters."""
        return self.input_frac is not None and all(p.quant is not None for p in self.layers)

    def quant(self, name: str) -> LayerQuant:
        """Return the :class:`LayerQuant` of engine layer ``name`` (ProgramError if absent or not quantised)."""
        for p in self.layers:
            if p.layer.name == name and p.quant is not None:
                return p.quant
        raise ProgramError(f"program {self.name!r}: no quantised layer {name!r}")

    def tensor_frac(self, tensor: str) -> int:
        """Return the binary point of engine tensor ``tensor`` (its writer's ``out_frac``, or the input's)."""
        if tensor == INPUT and self.input_frac is not None:
            return self.input_frac
        for p in self.layers:
            if p.layer.output == tensor and p.quant is not None:
                return p.quant.out_frac
        raise ProgramError(f"program {self.name!r}: tensor {tensor!r} has no binary point (not quantised?)")

    def to_json(self) -> str:
        """Return the program as JSON text (integer arrays as base64 of little-endian int64)."""
        return json.dumps({"format": FORMAT, "name": self.name, "hw": self.hw.to_dict(),
                           "input_shape": list(self.input_shape), "output": self.output,
                           "input_frac": self.input_frac, "calib_images": self.calib_images,
                           "layers": [_layer_dict(p) for p in self.layers]}, indent=1)

    @classmethod
    def from_json(cls, text: str, source: str = "program") -> EngineProgram:
        """Return the program in ``text`` (written by :meth:`to_json`); ProgramError naming ``source`` if not one."""
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT:
                raise ProgramError(f"{source}: not a cgap engine program (format {doc.get('format')!r}, "
                                   f"expected {FORMAT!r})")
            layers = tuple(_layer_from(d) for d in doc["layers"])
            return cls(doc["name"], hw_from_dict(doc["hw"]), tuple(doc["input_shape"]), doc["output"], layers,
                       doc["input_frac"], doc["calib_images"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProgramError(f"{source}: not a readable cgap engine program ({type(exc).__name__}: {exc})") from None


_DTYPES = {"int64": "<i8", "float64": "<f8"}


def _array(values: np.ndarray | None, kind: str = "int64") -> dict | None:
    if values is None:
        return None
    a = np.asarray(values, dtype=_DTYPES[kind])
    return {"shape": list(a.shape), kind: base64.b64encode(a.tobytes()).decode("ascii")}


def _unarray(doc: dict | None) -> np.ndarray | None:
    if doc is None:
        return None
    kind = "int64" if "int64" in doc else "float64"
    native = np.int64 if kind == "int64" else np.float64
    return np.frombuffer(base64.b64decode(doc[kind]), dtype=_DTYPES[kind]).astype(native).reshape(doc["shape"])


_TUPLES = {f.name for f in dataclasses.fields(EngineLayer) if "tuple" in str(f.type)}


def _layer_dict(p: ProgramLayer) -> dict:
    layer = {f.name: getattr(p.layer, f.name) for f in dataclasses.fields(EngineLayer)}
    out: dict = {"layer": {k: list(v) if isinstance(v, tuple) else v for k, v in layer.items()}, "quant": None,
                 "weight": _array(p.weight, "float64"), "bias": _array(p.bias, "float64")}
    if p.quant is not None:
        q = {f.name: getattr(p.quant, f.name) for f in dataclasses.fields(LayerQuant) if f.name not in ("weight", "bias")}
        out["quant"] = {**q, "weight": _array(p.quant.weight), "bias": _array(p.quant.bias)}
    return out


def _layer_from(doc: dict) -> ProgramLayer:
    fields = {k: tuple(v) if k in _TUPLES and v is not None else v for k, v in doc["layer"].items()}
    quant = None
    if doc["quant"] is not None:
        q = dict(doc["quant"])
        quant = LayerQuant(**{**q, "weight": _unarray(q["weight"]), "bias": _unarray(q["bias"])})
    return ProgramLayer(EngineLayer(**fields), quant, _unarray(doc["weight"]), _unarray(doc["bias"]))
