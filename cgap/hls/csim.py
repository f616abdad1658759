"""Compile and run the generated project's C-simulation with g++ (``make csim``)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cgap_ir.errors import CgapError


class CsimError(CgapError):
    """The generated C++ did not compile or the C-simulation could not run."""


@dataclass(frozen=True)
class CsimResult:
    """Outcome of ``make csim``: exit code, console text, the testbench's stats JSON, timings (s)."""

    returncode: int
    output: str
    stats: dict
    compile_s: float
    run_s: float


def ap_types_dir() -> Path:
    """Return the directory of the ap_types headers: the copy vendored in hls_templates/ap_types, else hls4ml's."""
    vendored = Path(str(resources.files("hls_templates") / "ap_types"))
    if (vendored / "ap_int.h").is_file():
        return vendored
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or spec.origin is None:
        raise CsimError(f"ap_types headers not found under {vendored}, and hls4ml (which also ships them) is not "
                        "installed (pip install 'cgap[hls4ml]')")
    path = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").is_file():
        raise CsimError(f"ap_types headers not found under {path}")
    return path


def _make(project: Path, target: str, opt: str, timeout: float) -> subprocess.CompletedProcess:
    cmd = ["make", "-s", "-C", str(project), target, f"AP_TYPES={ap_types_dir()}", f"OPT={opt}"]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise CsimError("`make` is not installed; it is needed to build the C-simulation") from None
    except subprocess.TimeoutExpired:
        raise CsimError(f"make {target} in {project} exceeded {timeout:.0f} s") from None


def run_csim(project: Path, opt: str = "-O2", timeout: float = 3600.0) -> CsimResult:
    """Build (g++ -Wall -Wextra -Werror) and run the C-simulation of ``project``; return its result.

    Raises :class:`CsimError` when the build fails or the run times out; a run that finds mismatches returns
    returncode 1, one that crashed a negative signal number.
    """
    project = Path(project)
    t0 = time.perf_counter()
    build = _make(project, "build", opt, timeout)
    t1 = time.perf_counter()
    if build.returncode != 0:
        tail = (build.stderr or build.stdout).strip().splitlines()[-15:]
        raise CsimError(f"C-simulation build failed in {project}: " + " | ".join(tail))
    run = _run_binary(project, timeout)
    t2 = time.perf_counter()
    stats_path = project / "tb_data" / "csim_stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() and run.returncode in (0, 1) else {}
    return CsimResult(run.returncode, run.stdout + run.stderr, stats, t1 - t0, t2 - t1)


def _run_binary(project: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run the built testbench (what ``make csim`` runs) so its own exit status comes back: 0 bit-exact,
    1 mismatches, 2 bad test data, negative a signal (a crash)."""
    binary = project / "build" / "csim"
    try:
        return subprocess.run([str(binary), str(project)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CsimError(f"C-simulation {binary} exceeded {timeout:.0f} s") from None
