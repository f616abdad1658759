"""The one function that writes a build plan to disk (atomically: temp dir, then rename)."""

from __future__ import annotations

from pathlib import Path

from cgap.atomic import atomic_dir
from cgap_ir.errors import CgapError


def write_plan(plan: dict[str, str | bytes], out_dir: Path) -> Path:
    """Write ``plan`` to ``out_dir`` (replacing it) via a sibling temp dir and rename; return ``out_dir``.

    Either the complete project appears or the previous state is left untouched.
    """
    out_dir = Path(out_dir)
    for rel in plan:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise CgapError(f"build plan path {rel!r} escapes the project directory")
    with atomic_dir(out_dir, force=True) as tmp:
        for rel, content in plan.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
    return out_dir
