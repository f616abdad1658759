"""Where the HLS pragmas of a translation unit are, and what they say (for :mod:`cgap.hls.lint`).

Three spellings reach Vitis HLS and all three are found:

* ``#pragma HLS ...`` lines (outside regions the preprocessor skipped);
* ``_Pragma("HLS ...")`` written in the code;
* invocations of a pragma macro: a function-like macro whose body is ``_Pragma(#p)`` or passes its
  parameter on to another pragma macro (the ``CGAP_PRAGMA(x) -> CGAP_PRAGMA_STR(x) -> _Pragma(#x)`` idiom).

Object-like macros in the pragma text are expanded, as Vitis HLS (2020.2 and later) does, so
``max=CGAP_MAX_WBEATS`` reads ``max=12``; a macro that expands to more than one token stays an
expression.  A pragma is located at its first token; :mod:`cgap.hls.lint` attaches it to the block that
directly contains that position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cgap.hls.lint_clang import cindex, is_function_like_macro, resolved, skipped_ranges

OPERATOR_TOKENS = frozenset("+ - * / % ( ) << >> , & | ^ ~ ? : < > ! ==".split())
"""Tokens that continue an option value into an expression."""

STRING_TOKEN = re.compile(r"\w+|[^\s\w]")


@dataclass(frozen=True)
class Option:
    """One ``key=value`` of a pragma: the value's tokens (more than one for an expression)."""

    key: str
    value: tuple[str, ...]


@dataclass(frozen=True)
class Pragma:
    """One HLS pragma: where it is and its tokens after ``HLS`` (object-like macros expanded)."""

    path: str
    line: int
    offset: int
    tokens: tuple[str, ...]
    options: tuple[Option, ...] = field(init=False)
    flags: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        options, flags = _split_options(self.tokens[1:])
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "flags", flags)

    @property
    def directive(self) -> str:
        """Return the directive in lower case ('pipeline', 'unroll', 'array_partition', ...)."""
        return self.tokens[0].lower() if self.tokens else ""

    def option(self, key: str) -> tuple[str, ...] | None:
        """Return the value tokens of option ``key`` (case-insensitive), or None when it is not given."""
        return next((o.value for o in self.options if o.key == key.lower()), None)

    def text(self) -> str:
        """Return the pragma as one line of text ('HLS PIPELINE II=1')."""
        return "HLS " + " ".join(self.tokens).replace(" = ", "=")


def _split_options(tokens: tuple[str, ...]) -> tuple[tuple[Option, ...], frozenset[str]]:
    """Return (key=value options, bare flags) of the tokens after the directive; a value runs on while
    operators or open parentheses join its tokens."""
    options, flags, i = [], set(), 0
    while i < len(tokens):
        if i + 1 < len(tokens) and tokens[i + 1] == "=":
            j, depth = i + 2, 0
            while j < len(tokens):
                depth += (tokens[j] == "(") - (tokens[j] == ")")
                j += 1
                joined = j < len(tokens) and (tokens[j] in OPERATOR_TOKENS or tokens[j - 1] in OPERATOR_TOKENS)
                if depth <= 0 and not joined:
                    break
            options.append(Option(tokens[i].lower(), tokens[i + 2:j]))
            i = j
        else:
            flags.add(tokens[i].lower())
            i += 1
    return tuple(options), frozenset(flags)


class MacroTable:
    """The macro definitions of a translation unit, tokenised on demand."""

    def __init__(self, tu) -> None:  # noqa: ANN001 - clang.cindex.TranslationUnit
        ci = cindex()
        self._cursors = {c.spelling: c for c in tu.cursor.get_children()
                         if c.kind == ci.CursorKind.MACRO_DEFINITION and c.location.file is not None}
        self._tokens: dict[str, list[str]] = {}
        self._pragma: dict[str, bool] = {}

    def tokens(self, name: str) -> list[str]:
        """Return the definition's tokens (name, parameter list, body), [] for an unknown macro."""
        if name not in self._tokens:
            cursor = self._cursors.get(name)
            self._tokens[name] = [t.spelling for t in cursor.get_tokens()] if cursor is not None else []
        return self._tokens[name]

    def function_like(self, name: str) -> bool:
        """Return True when ``name`` is a macro that takes arguments."""
        return name in self._cursors and is_function_like_macro(self._cursors[name])

    def body(self, name: str) -> list[str]:
        """Return the replacement tokens of ``name`` (after its parameter list)."""
        tokens = self.tokens(name)
        if self.function_like(name) and ")" in tokens:
            return tokens[tokens.index(")") + 1:]
        return tokens[1:]

    def is_pragma_macro(self, name: str, seen: frozenset[str] = frozenset()) -> bool:
        """Return True when invoking ``name`` produces a ``_Pragma`` (directly or through another macro)."""
        if name not in self._pragma:
            body = self.body(name) if self.function_like(name) and name not in seen else []
            self._pragma[name] = "_Pragma" in body or any(
                t != name and t in self._cursors and self.is_pragma_macro(t, seen | {name}) for t in body)
        return self._pragma[name]

    def expand(self, tokens: list[str], active: frozenset[str] = frozenset()) -> list[str]:
        """Return ``tokens`` with object-like macros replaced by their (expanded) bodies."""
        out: list[str] = []
        for token in tokens:
            if token in self._cursors and token not in active and not self.function_like(token):
                out += self.expand(self.body(token), active | {token})
            else:
                out.append(token)
        return out


@dataclass(frozen=True)
class _Token:
    line: int
    offset: int
    spelling: str


def find_pragmas(tu, paths: set[str]) -> list[Pragma]:  # noqa: ANN001 - clang.cindex.TranslationUnit
    """Return every HLS pragma located in ``paths`` (resolved file names) of ``tu``, in source order."""
    macros = MacroTable(tu)
    tokens = {path: _file_tokens(tu, path) for path in sorted(paths & _files_of(tu))}
    found = _macro_pragmas(tu, tokens, macros)
    for path, file_tokens in tokens.items():
        found += _line_pragmas(tu, path, file_tokens, macros)
    return sorted(found, key=lambda p: (p.path, p.offset))


def _files_of(tu) -> set[str]:  # noqa: ANN001
    return {resolved(tu.spelling)} | {resolved(inc.include.name) for inc in tu.get_includes()}


def _file_tokens(tu, path: str) -> list[_Token]:  # noqa: ANN001
    """Return the tokens of ``path`` without comments, as the file spells them (no preprocessing)."""
    ci = cindex()
    handle = ci.File.from_name(tu, path)
    extent = ci.SourceRange.from_locations(ci.SourceLocation.from_offset(tu, handle, 0),
                                           ci.SourceLocation.from_offset(tu, handle, Path(path).stat().st_size))
    return [_Token(t.location.line, t.extent.start.offset, t.spelling) for t in tu.get_tokens(extent=extent)
            if t.kind != ci.TokenKind.COMMENT]


def _macro_pragmas(tu, tokens: dict[str, list[_Token]], macros: MacroTable) -> list[Pragma]:  # noqa: ANN001
    """Return the pragmas of ``_Pragma(...)`` and of pragma-macro invocations located in the files of ``tokens``."""
    ci, found = cindex(), []
    index = {path: {t.offset: i for i, t in enumerate(file_tokens)} for path, file_tokens in tokens.items()}
    for cursor in tu.cursor.get_children():
        if cursor.kind != ci.CursorKind.MACRO_INSTANTIATION or cursor.location.file is None:
            continue
        path = resolved(cursor.location.file.name)
        if path not in tokens or not (cursor.spelling == "_Pragma" or macros.is_pragma_macro(cursor.spelling)):
            continue
        words = _invocation_words(tokens[path], index[path].get(cursor.extent.start.offset))
        if words and words[0].upper() == "HLS":
            found.append(Pragma(path, cursor.location.line, cursor.extent.start.offset,
                                tuple(macros.expand(words[1:]))))
    return found


def _invocation_words(tokens: list[_Token], start: int | None) -> list[str]:
    """Return the pragma words of the invocation ``NAME ( ... )`` starting at token ``start``: the argument
    tokens, or the words of the string literal for ``_Pragma("...")``."""
    if start is None or start + 1 >= len(tokens) or tokens[start + 1].spelling != "(":
        return []
    depth, end = 0, start + 1
    for end in range(start + 1, len(tokens)):
        depth += (tokens[end].spelling == "(") - (tokens[end].spelling == ")")
        if depth == 0:
            break
    args = [t.spelling for t in tokens[start + 2:end]]
    if tokens[start].spelling == "_Pragma":
        return STRING_TOKEN.findall(_unquote(args[0])) if len(args) == 1 else []
    return args


def _unquote(literal: str) -> str:
    """Return the contents of a C string literal token."""
    return literal[1:-1].replace('\\"', '"').replace("\\\\", "\\") if literal.startswith('"') else literal


def _line_pragmas(tu, path: str, tokens: list[_Token], macros: MacroTable) -> list[Pragma]:  # noqa: ANN001
    """Return the ``#pragma HLS`` lines of ``path`` outside the regions the preprocessor skipped."""
    skipped = skipped_ranges(tu, path)
    lines: dict[int, list[_Token]] = {}
    for token in tokens:
        lines.setdefault(token.line, []).append(token)
    found = []
    for line, words in ((n, [t.spelling for t in ts]) for n, ts in lines.items()):
        if len(words) < 3 or words[:2] != ["#", "pragma"] or words[2].upper() != "HLS":
            continue
        offset = lines[line][0].offset
        if not any(start <= offset < end for start, end in skipped):
            found.append(Pragma(path, line, offset, tuple(macros.expand(words[3:]))))
    return found
