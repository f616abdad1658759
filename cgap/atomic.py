"""Write files and folders atomically: build under a temporary name beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary file path beside ``target``; on success rename it over ``target``.

    On any exception the temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the result should look like any other file
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)


def refuse_non_empty(target: str | Path, force: bool, what: str = "output directory") -> None:
    """Raise CgapError if ``target`` is a non-empty directory and ``force`` is not set."""
    from cgap_ir.errors import CgapError

    target = Path(target)
    if target.is_dir() and any(target.iterdir()) and not force:
        raise CgapError(f"{what} {target} exists and is not empty (use --force to replace it)")


@contextlib.contextmanager
def atomic_dir(target: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; on success it replaces ``target``.

    A non-empty existing ``target`` is refused unless ``force``; on failure it stays untouched.
    """
    target = Path(target)
    refuse_non_empty(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_output(target: str | Path, text: str) -> Path:
    """Write a user-requested output file atomically; an OS failure becomes a one-line CgapError naming it."""
    from cgap_ir.errors import CgapError

    try:
        return write_text_atomic(target, text)
    except OSError as exc:
        raise CgapError(f"cannot write {target}: {exc.strerror or exc}") from None
