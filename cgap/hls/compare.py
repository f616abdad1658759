"""``make compare`` (``python -m cgap.hls.compare PROJECT``): hold the C-synthesis reports of a generated project
against its expected.json, one line per quantity, expected next to reported.

Reads every ``*.xml`` under ``PROJECT/cgap_<name>_prj/solution1/syn/report/`` (what ``make csynth`` leaves):
each labelled loop's ``PipelineII`` (anywhere under ``SummaryOfLoopLatency``), and the top report's
``AreaEstimates/Resources`` (``DSP`` or ``DSP48E``, ``BRAM_18K``, ``LUT``, ``FF``).  This follows the layout
Vivado HLS and Vitis HLS write; it has not been run against a real report here (no tool on this machine).
Exit status: 0 when every loop found reaches II=1 and the DSP count matches, 1 otherwise, 2 when there is
no report (one line saying to run ``make csynth``).
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

RESOURCE_TAGS = {"dsp": ("DSP", "DSP48E"), "bram": ("BRAM_18K",), "lut": ("LUT",), "ff": ("FF",)}
"""expected.json resource -> the element names a csynth report uses for it."""


def report_files(project: Path) -> list[Path]:
    """Return the csynth XML reports of ``project`` (top report ``csynth.xml`` first), [] when there are none."""
    files = sorted(Path(project).glob("cgap_*_prj/solution1/syn/report/*.xml"))
    return sorted(files, key=lambda p: (p.name != "csynth.xml", p.name))


def reported_ii(files: list[Path], labels: list[str]) -> dict[str, int]:
    """Return {loop label: PipelineII} for the ``labels`` found in the reports' loop summaries."""
    found: dict[str, int] = {}
    for path in files:
        for summary in ET.parse(path).getroot().iter("SummaryOfLoopLatency"):
            for loop in summary.iter():
                ii = loop.findtext("PipelineII")
                if loop.tag in labels and ii and ii.strip().isdigit():
                    found.setdefault(loop.tag, int(ii))
    return found


def reported_resources(top: Path) -> dict[str, int]:
    """Return {dsp, bram, lut, ff: count} of the top report's AreaEstimates/Resources (those it lists)."""
    resources = ET.parse(top).getroot().find("AreaEstimates/Resources")
    found: dict[str, int] = {}
    for key, tags in RESOURCE_TAGS.items():
        texts = [(resources.findtext(tag) or "").strip() for tag in tags] if resources is not None else []
        count = next((t for t in texts if t.isdigit()), None)
        if count is not None:
            found[key] = int(count)
    return found


def compare(project: Path) -> tuple[list[str], bool]:
    """Return (one line per quantity, whether every loop found is at II=1 and the DSP count matches)."""
    expected = json.loads((Path(project) / "expected.json").read_text())
    files = report_files(project)
    labels = list(expected["pipeline_ii"])
    ii = reported_ii(files, labels)
    lines, ok = [], True
    for label in labels:
        if label in ii:
            ok &= ii[label] == 1
            lines.append(f"loop {label}: II {ii[label]} (expected 1){'' if ii[label] == 1 else '  <-- differs'}")
        else:
            lines.append(f"loop {label}: not in the csynth reports (expected II 1)")
    predicted, reported = expected.get("resources") or {}, reported_resources(files[0])
    for key in [k for k in RESOURCE_TAGS if k in reported and k in predicted]:
        if key == "dsp":
            ok &= reported[key] == predicted[key]
            note = "" if reported[key] == predicted[key] else "  <-- differs"
            lines.append(f"DSP: {reported[key]} (expected {predicted[key]}){note}")
        else:
            lines.append(f"{key.upper()}: {reported[key]} (expected {predicted[key]}, an estimate)")
    return lines, ok


def main(argv: Sequence[str] | None = None) -> int:
    """Print the comparison for the project given (default .); return the exit status (module doc)."""
    args = list(sys.argv[1:] if argv is None else argv)
    project = Path(args[0] if args else ".")
    if not report_files(project) or not (project / "expected.json").is_file():
        print(f"cgap compare: no csynth report (cgap_*_prj/solution1/syn/report/*.xml) or expected.json in "
              f"{project}: run make csynth first", file=sys.stderr)
        return 2
    lines, ok = compare(project)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
