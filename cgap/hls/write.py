"""The one function that writes a build plan to disk (atomically: temp dir, then rename)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cgap.errors import CgapError


def write_plan(plan: dict[str, str | bytes], out_dir: Path) -> Path:
    """Write ``plan`` to ``out_dir`` (replacing it) via a sibling temp dir and rename; return ``out_dir``.

    Either the complete project appears or the previous state is left untouched.
    """
    out_dir = Path(out_dir)
    for rel in plan:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise CgapError(f"build plan path {rel!r} escapes the project directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for rel, content in plan.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        old = out_dir.with_name(f".{out_dir.name}.old") if out_dir.exists() else None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
        tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
