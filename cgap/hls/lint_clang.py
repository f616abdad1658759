"""libclang access for the HLS lint (:mod:`cgap.hls.lint`): parse generated firmware the way Vitis HLS
sees it, and the few cursor queries the Python bindings lack (operator kinds, skipped preprocessor ranges,
function-like macros).

Firmware is parsed with ``-D__SYNTHESIS__``, so ``CGAP_PRAGMA(x)`` expands to ``_Pragma("x")`` and the
C-sim-only counters vanish, exactly as in synthesis.  The open-source ap_types headers refuse
``__SYNTHESIS__`` with ``#error``, so a prelude includes them first with the macro undefined and defines it
again afterwards (their include guards keep the firmware's own ``#include <ap_int.h>`` a no-op).  The
libclang wheel ships no compiler headers (``stddef.h``); the system compiler's are used.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

from cgap_ir.errors import CgapError


class LintError(CgapError):
    """The lint cannot run: libclang missing, or the firmware does not parse as synthesis C++."""


PRELUDE_NAME = "cgap_lint_prelude.h"
PRELUDE = """\
#undef __SYNTHESIS__
#include <ap_int.h>
#include <ap_fixed.h>
#define __SYNTHESIS__ 1
"""
"""Included before every translation unit (see the module doc)."""


def cindex() -> ModuleType:
    """Return ``clang.cindex`` with the extra C functions bound; raise :class:`LintError` when absent."""
    try:
        import clang.cindex as ci
    except ImportError:
        raise LintError("the HLS lint needs libclang, which is not installed: pip install libclang") from None
    _bind(ci)
    return ci


@functools.cache
def _bind(ci: ModuleType) -> None:
    lib, cursor, cxstring = ci.conf.lib, ci.Cursor, ci._CXString
    signatures = {
        "clang_getCursorBinaryOperatorKind": ([cursor], ctypes.c_int),
        "clang_getBinaryOperatorKindSpelling": ([ctypes.c_int], cxstring),
        "clang_getCursorUnaryOperatorKind": ([cursor], ctypes.c_int),
        "clang_getUnaryOperatorKindSpelling": ([ctypes.c_int], cxstring),
        "clang_Cursor_isMacroFunctionLike": ([cursor], ctypes.c_uint),
        "clang_getSkippedRanges": ([ci.TranslationUnit, ci.File], ctypes.POINTER(_RangeList)),
        "clang_disposeSourceRangeList": ([ctypes.POINTER(_RangeList)], None),
    }
    for name, (args, result) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = args, result


class _RangeList(ctypes.Structure):
    """CXSourceRangeList: a count and a pointer to CXSourceRange (two pointers and two offsets each)."""

    _fields_ = [("count", ctypes.c_uint), ("ranges", ctypes.c_void_p)]


def binary_operator(cursor) -> str:  # noqa: ANN001 - clang.cindex.Cursor
    """Return the spelling of a (compound) binary operator cursor ('/', '%=', '='), or '' for other cursors."""
    ci = cindex()
    kind = ci.conf.lib.clang_getCursorBinaryOperatorKind(cursor)
    return ci._CXString.from_result(ci.conf.lib.clang_getBinaryOperatorKindSpelling(kind)) if kind else ""


def unary_operator(cursor) -> str:  # noqa: ANN001 - clang.cindex.Cursor
    """Return the spelling of a unary operator cursor ('++', '-', '!'), or '' for other cursors."""
    ci = cindex()
    kind = ci.conf.lib.clang_getCursorUnaryOperatorKind(cursor)
    return ci._CXString.from_result(ci.conf.lib.clang_getUnaryOperatorKindSpelling(kind)) if kind else ""


def is_function_like_macro(cursor) -> bool:  # noqa: ANN001 - clang.cindex.Cursor (a MACRO_DEFINITION)
    """Return True when a macro definition takes arguments."""
    return bool(cindex().conf.lib.clang_Cursor_isMacroFunctionLike(cursor))


def skipped_ranges(tu, path: str) -> list[tuple[int, int]]:  # noqa: ANN001 - clang.cindex.TranslationUnit
    """Return the (start, end) byte offsets of the regions of ``path`` the preprocessor skipped (#if false)."""
    ci = cindex()
    handle = ci.File.from_name(tu, path)
    ranges = ci.conf.lib.clang_getSkippedRanges(tu, handle)
    try:
        block = ctypes.cast(ranges.contents.ranges, ctypes.POINTER(ci.SourceRange))
        return [(block[i].start.offset, block[i].end.offset) for i in range(ranges.contents.count)]
    finally:
        ci.conf.lib.clang_disposeSourceRangeList(ranges)


@functools.cache
def resolved(name: str) -> str:
    """Return the canonical path of a file name libclang reports (cached: cursors repeat a few names)."""
    return os.path.realpath(name)


@functools.cache
def compiler_include_dir() -> str | None:
    """Return the system C compiler's own header directory (stddef.h, stdarg.h), or None when there is none."""
    for compiler in ("g++", "gcc", "clang"):
        if shutil.which(compiler) is None:
            continue
        path = subprocess.run([compiler, "-print-file-name=include"], capture_output=True, text=True).stdout.strip()
        if (Path(path) / "stddef.h").is_file():
            return path
    return None


def parse(path: Path, include_dirs: list[Path], ap_types: Path):  # noqa: ANN201 - clang.cindex.TranslationUnit
    """Return the translation unit of ``path`` parsed as synthesis C++ (module doc); raise :class:`LintError`
    naming the first error when it does not parse."""
    ci = cindex()
    prelude = str(path.parent / PRELUDE_NAME)
    args = ["-x", "c++", "-std=c++14", "-D__SYNTHESIS__", "-Wno-unknown-pragmas", "-isystem", str(ap_types)]
    if compiler_include_dir():
        args += ["-isystem", compiler_include_dir()]
    args += [f"-I{d}" for d in include_dirs] + ["-include", prelude]
    options = ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD
    try:
        tu = ci.Index.create().parse(str(path), args=args, unsaved_files=[(prelude, PRELUDE)], options=options)
    except ci.TranslationUnitLoadError as exc:
        raise LintError(f"libclang could not parse {path}: {exc}") from None
    errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        raise LintError(f"{path} does not compile as synthesis C++ (-D__SYNTHESIS__): {errors[0]}")
    return tu
