"""HwConfig: the one description of the accelerator, read by both the HLS code generator and the simulator.

A config is built from a named preset, optionally overridden by a TOML file::

    preset = "zcu102-16b"        # optional: start from a preset
    [array]    pox = 7  poy = 7  pof = 16
    [bits]     act = 16  weight = 16  acc = 48
    [buffers]  input_kib = 256  weight_kib = 256  output_kib = 256
    [device]   part = "xczu9eg-ffvb1156-2-e"  clock_mhz = 200.0
    [dram]     kind = "DDR4"  port_bits = 128 ...
    [energy]   mac_pj = 0.9 ...

Every value is checked; a bad one raises :class:`HwConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cgap_ir.errors import CgapError


class HwConfigError(CgapError):
    """An invalid hardware configuration (unknown preset, bad key, bad value)."""


@dataclass(frozen=True)
class DramConfig:
    """The external memory and the accelerator's AXI port to it (modelled in ``fpga_model.dram``).

    ``port_bits`` is the m_axi data width the generated top uses; ``bandwidth_gbps`` the
    peak device bandwidth (GB/s); ``efficiency`` the fraction of it a long stream sustains
    (refresh, bank conflicts, controller overhead); ``latency_cycles`` the accelerator-clock
    cycles from a DMA request to its first beat; ``burst_beats`` the AXI burst length.
    Optional timing (0 disables each): ``turnaround_ns`` read<->write bus turnaround charged
    when one tile step both reads and writes; ``row_bytes`` the DRAM page (row buffer) size
    and ``row_miss_ns`` the extra precharge+activate time (tRP+tRCD) paid per page opened.
    ``[dram] preset = "DDR3"|"DDR4"|"LPDDR4"|"HBM2"`` in TOML starts from a cited preset.
    """

    kind: str = "DDR4"
    port_bits: int = 128
    bandwidth_gbps: float = 19.2
    latency_cycles: int = 64
    burst_beats: int = 16
    efficiency: float = 0.8
    turnaround_ns: float = 0.0
    row_bytes: int = 0
    row_miss_ns: float = 0.0


@dataclass(frozen=True)
class EnergyConfig:
    """Energy per event in picojoules plus static power; sources cited in ``fpga_model.energy``.

    ``sram_pj_per_64bit`` > 0 charges every on-chip buffer that flat cost; 0 (default)
    interpolates by buffer size (log-log) through the 8 KiB / 32 KiB / 1 MiB points.
    ``alu_pj`` is one element-wise op (bias, ReLU, pool compare/add, residual add).
    """

    dram_pj_per_bit: float = 70.0
    sram_pj_per_64bit: float = 0.0
    sram_pj_8kib: float = 10.0
    sram_pj_32kib: float = 20.0
    sram_pj_1mib: float = 100.0
    mac_pj_16bit: float = 1.0
    mac_pj_8bit: float = 0.3
    alu_pj: float = 0.1
    static_power_w: float = 0.5


@dataclass(frozen=True)
class HwConfig:
    """The accelerator: MAC array Pox×Poy×Pof, data widths, on-chip buffers, clock, part, DRAM, energy."""

    name: str = "default"
    pox: int = 7
    poy: int = 7
    pof: int = 16
    act_bits: int = 16
    weight_bits: int = 16
    acc_bits: int = 48
    input_buffer_kib: int = 256
    weight_buffer_kib: int = 256
    output_buffer_kib: int = 256
    clock_mhz: float = 200.0
    part: str = "xczu9eg-ffvb1156-2-e"
    dram: DramConfig = field(default_factory=DramConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def macs(self) -> int:
        """Return the number of MAC units (Pox·Poy·Pof)."""
        return self.pox * self.poy * self.pof

    @property
    def clock_period_ns(self) -> float:
        """Return the clock period in nanoseconds."""
        return 1000.0 / self.clock_mhz

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict (nested sections for dram and energy)."""
        return dataclasses.asdict(self)


_POSITIVE_INTS = ("pox", "poy", "pof", "input_buffer_kib", "weight_buffer_kib", "output_buffer_kib")
MAX_MACS = 1_000_000
"""Largest MAC array accepted (Pox*Poy*Pof); the largest FPGAs have about 12,000 DSP blocks."""
MAX_BUFFER_KIB = 1 << 20
"""Largest on-chip buffer accepted (1 GiB; the largest FPGAs hold a few hundred MiB of BRAM/URAM)."""
MAX_NUMBER = 1e12
"""Largest DRAM/energy figure accepted (e.g. 1e12 GB/s or pJ): anything above is a typo, not a design."""


def _number(value: object) -> bool:
    """Return whether ``value`` is a finite int or float (not a bool) no larger than ``MAX_NUMBER``."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and abs(value) <= MAX_NUMBER)


def validate(hw: HwConfig) -> None:
    """Raise :class:`HwConfigError` naming the first invalid value of ``hw``."""
    for key in _POSITIVE_INTS:
        value = getattr(hw, key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise HwConfigError(f"hw config {hw.name!r}: {key} must be a positive integer, got {value!r}")
        if key.endswith("_kib") and value > MAX_BUFFER_KIB:
            raise HwConfigError(f"hw config {hw.name!r}: {key} = {value} KiB is absurd (limit {MAX_BUFFER_KIB} KiB)")
    if not isinstance(hw.part, str) or not hw.part:
        raise HwConfigError(f"hw config {hw.name!r}: part must be a non-empty string, got {hw.part!r}")
    for key in ("act_bits", "weight_bits"):
        if getattr(hw, key) not in (8, 16):
            raise HwConfigError(f"hw config {hw.name!r}: {key} must be 8 or 16, got {getattr(hw, key)!r}")
    if not isinstance(hw.acc_bits, int) or not hw.act_bits + hw.weight_bits <= hw.acc_bits <= 64:
        raise HwConfigError(f"hw config {hw.name!r}: acc_bits must be in [act_bits+weight_bits, 64], got {hw.acc_bits!r}")
    if not isinstance(hw.clock_mhz, (int, float)) or not 1 <= hw.clock_mhz <= 1000:
        raise HwConfigError(f"hw config {hw.name!r}: clock_mhz must be in [1, 1000], got {hw.clock_mhz!r}")
    if hw.macs > MAX_MACS:
        raise HwConfigError(f"hw config {hw.name!r}: Pox*Poy*Pof = {hw.macs} MACs is absurd (limit {MAX_MACS:,})")
    _validate_dram(hw.name, hw.dram)
    _validate_energy(hw.name, hw.energy)


def _validate_dram(name: str, dram: DramConfig) -> None:
    if dram.port_bits not in (32, 64, 128, 256, 512, 1024):
        raise HwConfigError(f"hw config {name!r}: dram.port_bits must be a power of two in 32..1024, got {dram.port_bits!r}")
    for key in ("bandwidth_gbps", "efficiency"):
        value = getattr(dram, key)
        if not _number(value) or value <= 0:
            raise HwConfigError(f"hw config {name!r}: dram.{key} must be a positive number, got {value!r}")
    if dram.efficiency > 1:
        raise HwConfigError(f"hw config {name!r}: dram.efficiency must be <= 1, got {dram.efficiency!r}")
    for key, low in (("latency_cycles", 0), ("burst_beats", 1), ("row_bytes", 0)):
        value = getattr(dram, key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_NUMBER:
            raise HwConfigError(f"hw config {name!r}: dram.{key} must be an integer >= {low}, got {value!r}")
    for key in ("turnaround_ns", "row_miss_ns"):
        value = getattr(dram, key)
        if not _number(value) or value < 0:
            raise HwConfigError(f"hw config {name!r}: dram.{key} must be a non-negative number, got {value!r}")
    if not isinstance(dram.kind, str) or not dram.kind:
        raise HwConfigError(f"hw config {name!r}: dram.kind must be a non-empty string, got {dram.kind!r}")


def _validate_energy(name: str, energy: EnergyConfig) -> None:
    for f in dataclasses.fields(energy):
        value = getattr(energy, f.name)
        if not _number(value) or value < 0:
            raise HwConfigError(f"hw config {name!r}: energy.{f.name} must be a non-negative number, got {value!r}")


PRESETS: dict[str, HwConfig] = {
    "zcu102-16b": HwConfig(name="zcu102-16b"),
    "zcu102-8b": HwConfig(name="zcu102-8b", pof=32, act_bits=8, weight_bits=8, acc_bits=32,
                          energy=EnergyConfig()),
    "pynq-z2-16b": HwConfig(
        name="pynq-z2-16b", pox=4, poy=4, pof=8, input_buffer_kib=64, weight_buffer_kib=64, output_buffer_kib=64,
        clock_mhz=100.0, part="xc7z020clg400-1",
        dram=DramConfig(kind="DDR3", port_bits=64, bandwidth_gbps=4.2, latency_cycles=40)),
    "tiny-test": HwConfig(
        name="tiny-test", pox=2, poy=2, pof=4, input_buffer_kib=16, weight_buffer_kib=16, output_buffer_kib=16,
        clock_mhz=100.0, part="xc7z020clg400-1",
        dram=DramConfig(kind="DDR3", port_bits=64, bandwidth_gbps=4.2, latency_cycles=40)),
}
DEFAULT_PRESET = "zcu102-16b"

_SECTIONS: dict[str, dict[str, str]] = {   # TOML section -> {TOML key: HwConfig field}
    "array": {"pox": "pox", "poy": "poy", "pof": "pof"},
    "bits": {"act": "act_bits", "weight": "weight_bits", "acc": "acc_bits"},
    "buffers": {"input_kib": "input_buffer_kib", "weight_kib": "weight_buffer_kib", "output_kib": "output_buffer_kib"},
    "device": {"part": "part", "clock_mhz": "clock_mhz"},
}


def hw_from_dict(doc: dict[str, Any]) -> HwConfig:
    """Return the HwConfig of :meth:`HwConfig.to_dict`'s output (checked like any other; TypeError on a bad key)."""
    body = {k: v for k, v in doc.items() if k not in ("dram", "energy")}
    return HwConfig(**body, dram=DramConfig(**doc["dram"]), energy=EnergyConfig(**doc["energy"]))


def load_hw(spec: str | Path | None = None) -> HwConfig:
    """Return the HwConfig named by a preset name or a TOML file path (``None`` = default preset)."""
    if spec is None:
        return PRESETS[DEFAULT_PRESET]
    text_spec = str(spec)
    if text_spec in PRESETS:
        return PRESETS[text_spec]
    path = Path(text_spec)
    if not path.suffix == ".toml" and not path.exists():
        raise HwConfigError(f"unknown hw preset {text_spec!r}; presets: {', '.join(PRESETS)} (or give a .toml file)")
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise HwConfigError(f"hw config file {text_spec} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HwConfigError(f"hw config file {text_spec}: not valid TOML ({exc})") from None
    return hw_from_toml_dict(doc, default_name=path.stem)


def hw_from_toml_dict(doc: dict[str, Any], default_name: str = "custom") -> HwConfig:
    """Return a HwConfig from a parsed TOML document (see module docstring for the layout)."""
    base_name = doc.get("preset", DEFAULT_PRESET)
    if base_name not in PRESETS:
        raise HwConfigError(f"hw config: unknown preset {base_name!r}; presets: {', '.join(PRESETS)}")
    base = PRESETS[base_name]
    flat: dict[str, Any] = {"name": str(doc.get("name", default_name))}
    doc = {k: dict(v) if isinstance(v, dict) else v for k, v in doc.items()}  # the preset key is consumed
    base = _apply_dram_preset(base, doc)
    for section, body in doc.items():
        if section in ("preset", "name"):
            continue
        if section in ("dram", "energy"):
            flat[section] = _sub_config(section, getattr(base, section), body)
            continue
        mapping = _SECTIONS.get(section)
        if mapping is None or not isinstance(body, dict):
            raise HwConfigError(f"hw config: unknown section [{section}]; known: {', '.join([*_SECTIONS, 'dram', 'energy'])}")
        for key, value in body.items():
            if key not in mapping:
                raise HwConfigError(f"hw config: unknown key {section}.{key}; known: {', '.join(mapping)}")
            flat[mapping[key]] = value
    return dataclasses.replace(base, **flat)


DRAM_PRESETS: dict[str, dict[str, Any]] = {
    # JEDEC speed bins, 64-bit (x64 DIMM/SODIMM) or one-channel interfaces; page = row bytes across the rank.
    # DDR3-1600K (11-11-11): 12.8 GB/s, tRCD = tRP = 13.75 ns, tWTR = 7.5 ns, 8 x 1 KiB pages (JESD79-3F).
    "DDR3": {"kind": "DDR3", "bandwidth_gbps": 12.8, "turnaround_ns": 7.5, "row_bytes": 8192, "row_miss_ns": 27.5},
    # DDR4-2400R (16-16-16): 19.2 GB/s, tRCD = tRP = 13.32 ns, tWTR_L = 7.5 ns, 8 x 1 KiB pages (JESD79-4B).
    "DDR4": {"kind": "DDR4", "bandwidth_gbps": 19.2, "turnaround_ns": 7.5, "row_bytes": 8192, "row_miss_ns": 26.64},
    # LPDDR4-3200, one x32 channel: 12.8 GB/s, tRCD = tRPpb = 18 ns, tWTR = 10 ns, 2 KiB page (JESD209-4B).
    "LPDDR4": {"kind": "LPDDR4", "bandwidth_gbps": 12.8, "turnaround_ns": 10.0, "row_bytes": 2048, "row_miss_ns": 36.0},
    # HBM2 stack, 1024 bits x 2 Gb/s = 256 GB/s, tRCD = tRP = 14 ns, tWTR ~ 7.5 ns, 1 KiB page (JESD235A).
    "HBM2": {"kind": "HBM2", "bandwidth_gbps": 256.0, "turnaround_ns": 7.5, "row_bytes": 1024, "row_miss_ns": 28.0},
}
"""DRAM presets for ``[dram] preset = NAME``; energy per bit in ``DRAM_PJ_PER_BIT`` (sources in fpga_model.energy)."""

DRAM_PJ_PER_BIT: dict[str, float] = {"DDR3": 70.0, "DDR4": 15.0, "LPDDR4": 8.0, "HBM2": 3.9}


def _apply_dram_preset(base: HwConfig, doc: dict[str, Any]) -> HwConfig:
    """Return ``base`` with ``[dram] preset`` applied (DRAM timing and its pJ/bit); the key is consumed."""
    body = doc.get("dram")
    if not isinstance(body, dict) or "preset" not in body:
        return base
    name = body.pop("preset")
    if name not in DRAM_PRESETS:
        raise HwConfigError(f"hw config: unknown dram.preset {name!r}; presets: {', '.join(DRAM_PRESETS)}")
    energy = dataclasses.replace(base.energy, dram_pj_per_bit=DRAM_PJ_PER_BIT[name])
    return dataclasses.replace(base, dram=dataclasses.replace(base.dram, **DRAM_PRESETS[name]), energy=energy)


def _sub_config(section: str, base: Any, body: Any) -> Any:
    if not isinstance(body, dict):
        raise HwConfigError(f"hw config: [{section}] must be a table")
    known = {f.name for f in dataclasses.fields(base)}
    for key in body:
        if key not in known:
            raise HwConfigError(f"hw config: unknown key {section}.{key}; known: {', '.join(sorted(known))}")
    return dataclasses.replace(base, **body)


def hw_to_toml(hw: HwConfig) -> str:
    """Return TOML text that :func:`load_hw` reads back to an equal HwConfig."""
    lines = [f'name = "{hw.name}"', "", "[array]", f"pox = {hw.pox}", f"poy = {hw.poy}", f"pof = {hw.pof}", "",
             "[bits]", f"act = {hw.act_bits}", f"weight = {hw.weight_bits}", f"acc = {hw.acc_bits}", "",
             "[buffers]", f"input_kib = {hw.input_buffer_kib}", f"weight_kib = {hw.weight_buffer_kib}",
             f"output_kib = {hw.output_buffer_kib}", "", "[device]", f'part = "{hw.part}"',
             f"clock_mhz = {float(hw.clock_mhz)}"]
    for section in ("dram", "energy"):
        lines += ["", f"[{section}]"]
        for key, value in dataclasses.asdict(getattr(hw, section)).items():
            lines.append(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
    return "\n".join(lines) + "\n"
