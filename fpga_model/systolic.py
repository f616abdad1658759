"""R×C systolic array (output/weight/input stationary) with SCALE-Sim v3.0.0's cycle semantics, vectorised.

A conv layer is the GEMM ofmap[Npx, M] = ifmap[Npx, W] · filter[W, M] (Npx output pixels, W = R·S·C
window, M filters).  Each dataflow maps two GEMM dims spatially (Sr rows, Sc columns) and streams
the third (T) in time, SCALE-Sim's mapping:

=====  ===========  ===========  =========  ==========================
flow   Sr (rows)    Sc (cols)    T (time)   cycles per fold
=====  ===========  ===========  =========  ==========================
os     Npx          M            W          T + R + C - 2
ws     W            M            Npx        2R + C + T - 2
is     W            Npx          M          2R + C + T - 2
=====  ===========  ===========  =========  ==========================

Every fold is charged the full R and C (partial folds are padded with idle PEs), there are
ceil(Sr/R)·ceil(Sc/C) folds run back to back, and SCALE-Sim's "Total Cycles" is folds × per-fold − 1.
SCALE-Sim sizes the output as ceil((H − R + stride)/stride) (its topology files carry no padding);
we follow it so cycle counts agree.  This reproduces SCALE-Sim exactly for *stall-free* runs
(``InterfaceBandwidth: CALC``); we do not model its SRAM/DRAM stall simulation (USER bandwidth),
sparsity, custom layouts or Ramulator traces.

DRAM traffic (CALC mode, in words): ifmap reads = the unique ifmap words some window touches (all
H·W·C unless a stride skips rows/columns, e.g. a strided 1×1 conv) and filter reads R·S·C·M, each
unique word once, as SCALE-Sim counts them when each operand fits the active half of its SRAM
(SCALE-Sim double-buffers); when one does not, SCALE-Sim re-fetches and our unique count is a lower
bound (``dram_exact`` is False for that layer); ofmap writes Npx·M for os, and Npx·M·ceil(W/R) for ws/is, where
SCALE-Sim writes a partial sum per row fold.  Known difference: when SCALE-Sim's write buffer is
forced to drain mid-line it counts the padded line, so its ofmap count can exceed ours (a golden test
tracks where it does).  SRAM reads/writes follow SCALE-Sim's compute-side request counts.
"""

from __future__ import annotations

import configparser
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cgap_ir.errors import CgapError

DATAFLOWS = ("os", "ws", "is")


class SystolicError(CgapError):
    """A malformed SCALE-Sim topology/config file or an impossible array."""


@dataclass(frozen=True)
class SystolicConfig:
    """The array and the SCALE-Sim settings we read (sizes in KiB, words of 1 byte as SCALE-Sim assumes)."""

    rows: int
    cols: int
    dataflow: str = "os"
    ifmap_kib: int = 256
    filter_kib: int = 256
    ofmap_kib: int = 128
    run_name: str = "systolic"
    bandwidth_mode: str = "CALC"

    def __post_init__(self) -> None:
        for key in ("rows", "cols", "ifmap_kib", "filter_kib", "ofmap_kib"):
            value = getattr(self, key)
            if not isinstance(value, int) or value <= 0:
                raise SystolicError(f"systolic config {self.run_name!r}: {key} must be a positive integer, got {value!r}")
            limit = MAX_ARRAY_DIM if key in ("rows", "cols") else MAX_SRAM_KIB
            if value > limit:
                raise SystolicError(f"systolic config {self.run_name!r}: {key} = {value} is absurd (limit {limit})")
        if self.dataflow not in DATAFLOWS:
            raise SystolicError(f"systolic config {self.run_name!r}: dataflow must be one of os/ws/is, got {self.dataflow!r}")


MAX_ARRAY_DIM = 1 << 16
"""Largest systolic array side accepted (SCALE-Sim studies use up to a few hundred)."""
MAX_SRAM_KIB = 1 << 20
"""Largest SRAM accepted (1 GiB)."""
MAX_LAYER_DIM = 1 << 20
"""Largest topology field accepted (H, W, R, S, C, M, stride; M, N, K of a GEMM)."""
MAX_LAYER_MACS = 1 << 50
"""Largest layer accepted, in MACs: keeps every count exact in int64."""
MAX_LAYERS = 100_000
"""Most topology layers accepted after depthwise ('DP') rows are split per channel."""


@dataclass(frozen=True)
class ConvSpec:
    """One SCALE-Sim topology row (no padding; stride per axis)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filt_h: int
    filt_w: int
    channels: int
    filters: int
    stride_h: int = 1
    stride_w: int = 1

    @property
    def ofmap_hw(self) -> tuple[int, int]:
        """Return the output (height, width) with SCALE-Sim's ceil((H − R + S)/S) convention."""
        return (-(-(self.ifmap_h - self.filt_h + self.stride_h) // self.stride_h),
                -(-(self.ifmap_w - self.filt_w + self.stride_w) // self.stride_w))

    @property
    def gemm(self) -> tuple[int, int, int]:
        """Return (output pixels, window size, filters) of the equivalent GEMM."""
        oh, ow = self.ofmap_hw
        return oh * ow, self.filt_h * self.filt_w * self.channels, self.filters


_CFG_KEYS = {"architecture_presets": ("ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB",
                                      "OfmapSramSzkB", "Dataflow"),
             "run_presets": ("InterfaceBandwidth",)}


def read_scalesim_cfg(path: str | Path) -> SystolicConfig:
    """Return the :class:`SystolicConfig` of a SCALE-Sim ``.cfg`` file; raise SystolicError naming file and key."""
    parser = configparser.ConfigParser()
    try:
        with open(path) as fh:
            parser.read_file(fh)
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        raise SystolicError(f"SCALE-Sim config {path}: cannot read ({str(exc).splitlines()[0]})") from None
    values = {}
    for section, keys in _CFG_KEYS.items():
        for key in keys:
            if not parser.has_option(section, key):
                raise SystolicError(f"SCALE-Sim config {path}: missing [{section}] {key}")
            values[key] = parser.get(section, key).strip()
    ints = {}
    for key in _CFG_KEYS["architecture_presets"][:5]:
        try:
            ints[key] = int(values[key])
        except ValueError:
            raise SystolicError(f"SCALE-Sim config {path}: {key} must be an integer, got {values[key]!r}") from None
    run_name = parser.get("general", "run_name", fallback=Path(path).stem).strip()
    try:
        return SystolicConfig(ints["ArrayHeight"], ints["ArrayWidth"], values["Dataflow"].lower(),
                              ints["IfmapSramSzkB"], ints["FilterSramSzkB"], ints["OfmapSramSzkB"], run_name,
                              values["InterfaceBandwidth"].upper())
    except SystolicError as exc:
        raise SystolicError(f"SCALE-Sim config {path}: {exc}") from None


def read_topology_csv(path: str | Path, gemm: bool = False) -> list[ConvSpec]:
    """Return the layers of a SCALE-Sim topology CSV (conv rows, or ``name, M, N, K`` rows with ``gemm``).

    Conv rows: name, IFMAP H, IFMAP W, filter H, filter W, channels, filters, stride[, stride W].
    Names containing ``DP`` are depthwise and expand into one single-channel layer per channel,
    as SCALE-Sim does.  Raises SystolicError naming the file and line.
    """
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise SystolicError(f"SCALE-Sim topology {path}: cannot read ({exc})") from None
    layers: list[ConvSpec] = []
    for lineno, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row if c.strip()]
        if cells:
            layers.extend(_parse_row(path, lineno, cells, gemm))
        if len(layers) > MAX_LAYERS:
            raise SystolicError(f"SCALE-Sim topology {path}:{lineno}: more than {MAX_LAYERS} layers")
    if not layers:
        raise SystolicError(f"SCALE-Sim topology {path}: no layers (expected a header line then one row per layer)")
    return layers


def _parse_row(path: str | Path, lineno: int, cells: list[str], gemm: bool) -> list[ConvSpec]:
    want = 4 if gemm else 8
    if len(cells) < want:
        raise SystolicError(f"SCALE-Sim topology {path}:{lineno}: expected at least {want} fields, got {len(cells)}")
    try:
        nums = [int(c) for c in cells[1:want + (0 if gemm else 1)] if c]
    except ValueError:
        raise SystolicError(f"SCALE-Sim topology {path}:{lineno}: non-integer field in {cells[:want + 1]}") from None
    if any(n <= 0 for n in nums):
        raise SystolicError(f"SCALE-Sim topology {path}:{lineno}: dimensions must be positive, got {nums}")
    if any(n > MAX_LAYER_DIM for n in nums):
        raise SystolicError(f"SCALE-Sim topology {path}:{lineno}: dimension above {MAX_LAYER_DIM} in {nums} is absurd")
    name = cells[0]
    if gemm:
        m, n, k = nums[:3]
        return [ConvSpec(name, m, k, 1, k, 1, n)]
    h, w, fh, fw, c, f, sh = nums[:7]
    sw = nums[7] if len(nums) > 7 else sh
    if fh > h or fw > w:
        raise SystolicError(f"SCALE-Sim topology {path}:{lineno}: filter {fh}x{fw} larger than ifmap {h}x{w}")
    spec = ConvSpec(name, h, w, fh, fw, c, f, sh, sw)
    pixels, window, filters = spec.gemm
    if pixels * window * filters > MAX_LAYER_MACS:
        raise SystolicError(f"SCALE-Sim topology {path}:{lineno}: {pixels * window * filters:.3g} MACs in one layer "
                            f"is absurd (limit {MAX_LAYER_MACS:.3g})")
    if "DP" in name:
        if c > MAX_LAYERS:
            raise SystolicError(f"SCALE-Sim topology {path}:{lineno}: {c} depthwise channels, each a layer, "
                                f"exceed {MAX_LAYERS} layers")
        return [ConvSpec(f"{name}Channel_{i}", h, w, fh, fw, 1, f, sh, sw) for i in range(c)]
    return [spec]


@dataclass(frozen=True)
class SystolicResult:
    """Per-layer arrays (index = layer) of a systolic run; words are SCALE-Sim's 1-byte words."""

    names: list[str]
    total_cycles: np.ndarray
    folds: np.ndarray
    macs: np.ndarray
    utilisation: np.ndarray          # percent, as SCALE-Sim's "Overall Util %"
    mapping_efficiency: np.ndarray   # percent
    dram_ifmap_reads: np.ndarray
    dram_filter_reads: np.ndarray
    dram_ofmap_writes: np.ndarray
    sram_ifmap_reads: np.ndarray
    sram_filter_reads: np.ndarray
    sram_ofmap_writes: np.ndarray
    dram_exact: np.ndarray           # False where an operand exceeds its active half-SRAM (SCALE-Sim refetches)

    def rows(self) -> list[dict]:
        """Return one JSON-ready dict per layer."""
        keys = [k for k in self.__dataclass_fields__ if k != "names"]
        return [{"name": n, **{k: _py(getattr(self, k)[i]) for k in keys}} for i, n in enumerate(self.names)]


def _py(value: np.generic) -> int | float:
    return value.item()


def _mapping(layers: list[ConvSpec], flow: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.array([layer.gemm for layer in layers], dtype=np.int64)
    npx, win, m = g[:, 0], g[:, 1], g[:, 2]
    return {"os": (npx, m, win), "ws": (win, m, npx), "is": (win, npx, m)}[flow]


def simulate_systolic(layers: list[ConvSpec], cfg: SystolicConfig) -> SystolicResult:
    """Return stall-free per-layer cycles, utilisation and traffic of ``layers`` on ``cfg`` (module doc)."""
    r, c = cfg.rows, cfg.cols
    sr, sc, t = _mapping(layers, cfg.dataflow)
    rf, cf = -(-sr // r), -(-sc // c)
    per_fold = t + r + c - 2 if cfg.dataflow == "os" else 2 * r + c + t - 2
    cycles = rf * cf * per_fold - 1
    npx, win, m = _mapping(layers, "os")[0], _mapping(layers, "os")[2], _mapping(layers, "os")[1]
    macs = npx * win * m
    used = _mean_mapping(sr, sc, r, c)
    ifm = np.array([_touched(x.ifmap_h, x.filt_h, x.stride_h, x.ofmap_hw[0])
                    * _touched(x.ifmap_w, x.filt_w, x.stride_w, x.ofmap_hw[1]) * x.channels for x in layers],
                   dtype=np.int64)
    partial = 1 if cfg.dataflow == "os" else -(-win // r)
    sram = {"os": (t * sr * cf, t * sc * rf, sr * sc + rf * cf * (r + c)),
            "ws": (t * sr * cf, sr * sc, t * sc * rf),
            "is": (sr * sc, sr * t * cf, t * sc * rf)}[cfg.dataflow]
    fits = (ifm <= cfg.ifmap_kib * 512) & (win * m <= cfg.filter_kib * 512)
    return SystolicResult([x.name for x in layers], cycles, rf * cf, macs, macs * 100 / (cycles * r * c), used,
                          ifm, win * m, npx * m * partial, *sram, fits)


def _touched(size: int, kernel: int, stride: int, out: int) -> int:
    """Return how many of ``size`` input rows (or columns) ``out`` windows touch (windows past the edge clip)."""
    if kernel >= stride:
        return min(size, (out - 1) * stride + kernel)
    starts = np.arange(out) * stride
    return int(np.clip(size - starts, 0, kernel).sum())


def _mean_mapping(sr: np.ndarray, sc: np.ndarray, r: int, c: int) -> np.ndarray:
    """Return the mean over folds of used PEs / all PEs, in percent (SCALE-Sim's mapping efficiency)."""
    rf, cf = -(-sr // r), -(-sc // c)
    return sr * sc * 100 / (rf * cf * r * c)
