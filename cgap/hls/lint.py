"""HLS lint: flag what Vitis HLS rejects or builds badly in a generated project's firmware (libclang).

``lint_project(project)`` parses every ``firmware/*.cpp`` (and any header no source includes) as synthesis
C++ (``-D__SYNTHESIS__``, :mod:`cgap.hls.lint_clang`), finds the HLS pragmas (:mod:`cgap.hls.lint_pragmas`),
attaches them to loops and functions and builds the II=1 regions (:mod:`cgap.hls.lint_model`), and returns
one :class:`Finding` per problem, sorted by file and line.  The rules (:data:`RULES`):

=================== ===================================================================================
runtime-division    ``/`` or ``%`` whose divisor is not a compile-time constant inside an II=1 region
variable-rmw        an array read and written inside an II=1 region at an address that depends on run-time
                    values in a dimension that is not completely partitioned (unknown dependence distance)
pragma-value        a pragma option whose value is not one literal after macro expansion (``max=A + 2``),
                    or a numeric option naming neither an integer nor a ``const`` integer
rolled-in-unroll    a loop without UNROLL nested (also through calls) in an UNROLLed loop
dynamic-memory      ``new``, ``delete``, ``malloc``/``free`` and friends, variable-length arrays
recursion           a function that reaches itself through calls
float               a float / double (or half) declaration, literal or expression
=================== ===================================================================================

Arrays declared inside an II=1 region are private to one iteration and never raise ``variable-rmw``, nor do arrays
under ``#pragma HLS DEPENDENCE variable=X type=inter false`` (the code asserts each iteration touches its own
address; the engine's partial sums are read and written once per block position).  The
lint sees only what the source says: loops Vitis would flatten or arrays it would partition by itself are
judged as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from cgap.hls.csim import ap_types_dir
from cgap.hls.lint_clang import LintError, binary_operator, parse, resolved, unary_operator
from cgap.hls.lint_model import LOOP_KINDS, Firmware, Key, Loop, Scope, key_of, strip
from cgap.hls.lint_pragmas import Pragma, find_pragmas

__all__ = ["RULES", "Finding", "LintError", "lint_project", "pipelined_labels"]

RULES: dict[str, str] = {
    "runtime-division": "division or modulo by a run-time value in an II=1 loop (a multi-cycle divider core)",
    "variable-rmw": "array read and written at run-time addresses in an II=1 loop without complete partitioning",
    "pragma-value": "pragma option value that is not a single literal after macro expansion",
    "rolled-in-unroll": "loop without UNROLL inside an UNROLLed loop (stays rolled in every copy)",
    "dynamic-memory": "dynamic memory (new, delete, malloc, free) or a variable-length array",
    "recursion": "recursive function",
    "float": "floating-point type or value (the engine is fixed point)",
}
"""Rule name -> what it flags (module doc)."""

NUMERIC_OPTIONS = frozenset({"ii", "min", "max", "avg", "factor", "dim", "depth", "limit", "latency", "interval",
                             "max_read_burst_length", "max_write_burst_length", "num_read_outstanding",
                             "num_write_outstanding", "max_widen_bitwidth"})
INTEGER = re.compile(r"^(0[xX][0-9a-fA-F]+|\d+)[uUlL]*$")
DIVISIONS = ("/", "%", "/=", "%=")
OPERATOR_DIVISIONS = ("operator/", "operator%", "operator/=", "operator%=")
ALLOCATORS = frozenset({"malloc", "calloc", "realloc", "free", "alloca", "aligned_alloc", "posix_memalign"})
FLOAT_KINDS = frozenset({"FLOAT", "DOUBLE", "LONGDOUBLE", "HALF", "FLOAT16", "FLOAT128", "BFLOAT16"})
ARRAY_KINDS = frozenset({"CONSTANTARRAY", "INCOMPLETEARRAY", "VARIABLEARRAY", "DEPENDENTSIZEDARRAY"})
WRITES = {"=": "write", "operator=": "write"}
UPDATES = frozenset({"+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^=", "++", "--"})


@dataclass(frozen=True, order=True)
class Finding:
    """One lint finding: file (relative to the project), line, rule name and a one-line message."""

    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.message}"

    def to_dict(self) -> dict:
        """Return the finding as a JSON-ready dict."""
        return asdict(self)


Raw = tuple[str, int, str, str]
"""A finding before its path is made relative: (resolved path, line, rule, message)."""


def lint_project(project: Path, ap_types: Path | None = None) -> list[Finding]:
    """Return the findings of ``project/firmware`` (module doc), sorted; raise :class:`LintError` when the
    firmware is missing or does not parse as synthesis C++."""
    project = Path(project).resolve()   # libclang maps the in-memory prelude by absolute path
    firmware = project / "firmware"
    files = sorted(p for p in firmware.glob("*") if p.suffix in (".cpp", ".h")) if firmware.is_dir() else []
    if not files:
        raise LintError(f"{project} has no firmware/*.cpp or *.h to lint")
    raw: set[Raw] = set()
    covered: set[str] = set()
    for unit in [p for p in files if p.suffix == ".cpp"] + [p for p in files if p.suffix == ".h"]:
        if resolved(unit) not in covered:
            model, pragmas, included = _analyse(unit, {resolved(p) for p in files}, ap_types)
            raw |= _check(model, pragmas)
            covered |= included
    first: dict[tuple[str, int, str], str] = {}
    for path, line, rule, message in sorted(raw):
        first.setdefault((path, line, rule), message)
    return sorted(Finding(_relative(path, project), line, rule, message) for (path, line, rule), message in first.items())


def _relative(path: str, project: Path) -> str:
    root = Path(resolved(project))
    return str(Path(path).relative_to(root)) if Path(path).is_relative_to(root) else path


def _check(firmware: Firmware, pragmas: list[Pragma]) -> set[Raw]:
    """Return the raw findings of every rule on one translation unit's firmware."""
    found: set[Raw] = set(pragma_values(firmware, pragmas))
    for rule in (runtime_division, variable_rmw, rolled_in_unroll, dynamic_memory, recursion, floats):
        found.update(rule(firmware))
    return found


def _analyse(unit: Path, paths: set[str], ap_types: Path | None) -> tuple[Firmware, list[Pragma], set[str]]:
    """Return the :class:`Firmware` model of one translation unit, its pragmas and the files it includes."""
    tu = parse(unit, [unit.parent], ap_types or ap_types_dir())
    pragmas = find_pragmas(tu, paths)
    included = {resolved(unit)} | {resolved(i.include.name) for i in tu.get_includes()}
    return Firmware(tu, paths, pragmas), pragmas, included


def pipelined_labels(project: Path, ap_types: Path | None = None) -> list[str]:
    """Return the labels of the loops pipelined at II=1 in ``project``'s firmware, in source order."""
    firmware = Path(project) / "firmware"
    paths = {resolved(p) for p in firmware.glob("*") if p.suffix in (".cpp", ".h")}
    loops = []
    for unit in sorted(firmware.glob("*.cpp")):
        loops += [lp for lp in _analyse(unit, paths, ap_types)[0].loops.values() if lp.pipelined]
    return [lp.label or f"line {lp.line}" for lp in sorted(loops, key=lambda lp: (lp.path, lp.line))]


# --------------------------------------------------------------------------------------- II=1 regions

def _regions(fw: Firmware) -> Iterator[tuple[object, str, Scope, frozenset[Key]]]:
    """Yield (root cursor, description, scope, induction variables) of every II=1 loop and function."""
    for loop in fw.loops.values():
        if loop.pipelined:
            yield loop.cursor, f"II=1 {loop.describe()}", Scope(chain=(fw.functions[loop.function].name,)), loop.induction
    for function in fw.functions.values():
        if function.pipelined:
            yield function.body, f"II=1 function {function.name}", Scope(chain=(function.name,)), frozenset()


def _via(scope: Scope) -> str:
    return f" (inlined through {' -> '.join(scope.chain[1:])})" if len(scope.chain) > 1 else ""


def _at(cursor, rule: str, message: str) -> Raw:  # noqa: ANN001
    return resolved(cursor.location.file.name), cursor.location.line, rule, message


def _divisor(cursor):  # noqa: ANN001, ANN202 - Cursor -> Cursor | None
    """Return the divisor of a division / modulo expression (built-in or overloaded), else None."""
    kind = cursor.kind.name
    if kind in ("BINARY_OPERATOR", "COMPOUND_ASSIGNMENT_OPERATOR") and binary_operator(cursor) in DIVISIONS:
        return list(cursor.get_children())[-1]
    if kind == "CALL_EXPR" and cursor.spelling in OPERATOR_DIVISIONS:
        args = list(cursor.get_arguments())
        return args[-1] if args else None
    return None


def runtime_division(fw: Firmware) -> list[Raw]:
    """Return a finding for every division or modulo by a run-time value inside an II=1 region."""
    found: list[Raw] = []
    for root, where, scope, _ in _regions(fw):
        runtime = lambda c, s: (d := _divisor(c)) is not None and not fw.is_constant(d, s)  # noqa: E731
        for cursor, inner in _collect(fw, root, scope, runtime):
            found.append(_at(cursor, "runtime-division", f"division or modulo by a run-time value in {where}"
                             f"{_via(inner)}: HLS builds a multi-cycle divider; divide by a constant or "
                             "multiply by a reciprocal chosen ahead"))
    return found


def _collect(fw: Firmware, root, scope: Scope, wanted) -> list[tuple[object, Scope]]:  # noqa: ANN001
    """Return (cursor, scope) of every cursor of the region at ``root`` for which ``wanted(cursor, scope)``."""
    hits: list[tuple[object, Scope]] = []
    fw.walk_region(root, scope, lambda cursor, parents, inner: hits.append((cursor, inner))
                   if wanted(cursor, inner) else None)
    return hits


@dataclass(frozen=True)
class _Access:
    cursor: object
    root: Key
    name: str
    mode: str            # read, write, update
    fixed: tuple[bool, ...]


def _mode(cursor, parents: tuple) -> str:  # noqa: ANN001
    """Return how an element access is used: 'write' (assigned), 'update' (+=, ++) or 'read'."""
    child = cursor
    for parent in reversed(parents):
        if parent.kind.name != "PAREN_EXPR":
            break
        child = parent
    else:
        return "read"
    operator = binary_operator(parent) or unary_operator(parent) or parent.spelling
    first = next(iter(parent.get_children()), None)
    is_target = first is not None and strip(first) == child
    if operator in WRITES and is_target:
        return "write"
    if operator.removeprefix("operator") in UPDATES and (is_target or parent.kind.name == "UNARY_OPERATOR"):
        return "update"
    return "read"


def _element_access(fw: Firmware, cursor, parents: tuple, scope: Scope, induction: frozenset[Key]) -> _Access | None:  # noqa: ANN001
    """Return the element access an outermost subscript expression makes, or None (an inner subscript of a
    chain, or a sub-array handed on to a call)."""
    outer = next((p for p in reversed(parents) if p.kind.name not in ("UNEXPOSED_EXPR", "PAREN_EXPR")), None)
    if outer is not None and outer.kind.name == "ARRAY_SUBSCRIPT_EXPR" and strip(next(outer.get_children())) == cursor:
        return None
    if cursor.type.get_canonical().kind.name in ARRAY_KINDS:
        return None
    binding = fw.binding_of(cursor, scope, induction)
    if binding is None:
        return None
    return _Access(cursor, binding.root, binding.name, _mode(cursor, parents), binding.prefix)


def variable_rmw(fw: Firmware) -> list[Raw]:
    """Return a finding for every array an II=1 region both reads and writes with a run-time-dependent index
    in a dimension that is not completely partitioned (arrays declared inside the region excepted)."""
    found: list[Raw] = []
    for root, where, scope, induction in _regions(fw):
        accesses, local = _region_accesses(fw, root, scope, induction)
        found += _hazards(fw, [a for a in accesses if a.root not in local], where)
    return found


def _region_accesses(fw: Firmware, root, scope: Scope, induction: frozenset[Key]) -> tuple[list[_Access], set[Key]]:  # noqa: ANN001
    """Return (element accesses, variables declared inside) of the region at ``root``."""
    accesses: list[_Access] = []
    local: set[Key] = set()

    def visit(cursor, parents: tuple, inner: Scope) -> None:  # noqa: ANN001
        if cursor.kind.name == "VAR_DECL" and cursor.storage_class.name != "STATIC":
            local.add(key_of(cursor))
        elif cursor.kind.name == "ARRAY_SUBSCRIPT_EXPR":
            access = _element_access(fw, cursor, parents, inner, induction)
            if access is not None:
                accesses.append(access)
    fw.walk_region(root, scope, visit)
    return accesses, local


def _hazards(fw: Firmware, accesses: list[_Access], where: str) -> list[Raw]:
    """Return one finding per array whose accesses in a region make a variable-distance read-modify-write."""
    found: list[Raw] = []
    roots: dict[Key, list[_Access]] = {}
    for access in accesses:
        roots.setdefault(access.root, []).append(access)
    for root, group in roots.items():
        writes = [a for a in group if a.mode != "read"]
        if root in fw.independent:
            continue
        if not writes or all(a.mode == "write" for a in group):
            continue
        dims = fw.complete_dims(root)
        variable = any(not fixed and d not in dims for a in group for d, fixed in enumerate(a.fixed, start=1))
        if variable:
            found.append(_at(writes[0].cursor, "variable-rmw", f"array {writes[0].name} is read and written in "
                             f"{where} at addresses that depend on run-time values and is not completely "
                             "partitioned there: the unknown dependence distance forces II > 1; partition it "
                             "completely or keep the value in a register"))
    return found


# --------------------------------------------------------------------------------------- other rules

def rolled_in_unroll(fw: Firmware) -> list[Raw]:
    """Return a finding for every loop without UNROLL nested (also through calls) in an UNROLLed loop."""
    found: list[Raw] = []
    for outer in [lp for lp in fw.loops.values() if lp.unrolled]:
        scope = Scope(chain=(fw.functions[outer.function].name,))
        for cursor, inner in _collect(fw, outer.cursor, scope, lambda c, s, outer=outer: _rolled(fw, c, outer)):
            nested = fw.loops[key_of(cursor)]
            found.append(_at(cursor, "rolled-in-unroll", f"{nested.describe()} is nested in UNROLLed "
                             f"{outer.describe()}{_via(inner)} but has no UNROLL of its own: it stays a "
                             "rolled loop in every unrolled copy"))
    return found


def _rolled(fw: Firmware, cursor, outer: Loop) -> bool:  # noqa: ANN001
    """Return True when ``cursor`` is a loop other than ``outer`` without an UNROLL pragma."""
    nested = fw.loops.get(key_of(cursor)) if cursor.kind.name in LOOP_KINDS else None
    return nested is not None and nested is not outer and not nested.unrolled


def _all_cursors(fw: Firmware) -> Iterator[object]:
    """Yield every cursor of the firmware's top-level declarations that lies in a linted file."""
    for top in fw.globals:
        for cursor in top.walk_preorder():
            if fw.in_firmware(cursor):
                yield cursor


def dynamic_memory(fw: Firmware) -> list[Raw]:
    """Return a finding for every new, delete, allocator call and variable-length array."""
    found: list[Raw] = []
    for cursor in _all_cursors(fw):
        kind, what = cursor.kind.name, None
        if kind in ("CXX_NEW_EXPR", "CXX_DELETE_EXPR"):
            what = kind.split("_")[1].lower()
        elif kind == "CALL_EXPR" and cursor.spelling in ALLOCATORS:
            what = f"{cursor.spelling}()"
        elif kind == "VAR_DECL" and cursor.type.kind.name == "VARIABLEARRAY":
            what = f"variable-length array {cursor.spelling}"
        if what:
            found.append(_at(cursor, "dynamic-memory", f"{what}: HLS cannot synthesise dynamic memory; use "
                             "arrays of a size fixed at compile time"))
    return found


def recursion(fw: Firmware) -> list[Raw]:
    """Return a finding for every function that reaches itself through calls."""
    found: list[Raw] = []
    for key, function in fw.functions.items():
        cycle = _cycle(fw, key)
        if cycle:
            names = " -> ".join(fw.functions[k].name for k in cycle)
            found.append(_at(function.cursor, "recursion", f"{function.name} is recursive ({names}): HLS cannot "
                             "synthesise recursion; rewrite it as a loop"))
    return found


def _cycle(fw: Firmware, start: Key) -> list[Key]:
    """Return a call path start -> ... -> start, or [] when ``start`` does not reach itself."""
    previous: dict[Key, Key] = {}
    frontier = [start]
    while frontier:
        caller = frontier.pop()
        for callee in sorted(fw.callees.get(caller, ())):
            if callee == start:
                path = [caller]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start] if caller != start else [start, start]
            if callee not in previous and callee in fw.functions:
                previous[callee] = caller
                frontier.append(callee)
    return []


def _floating(type_) -> bool:  # noqa: ANN001 - clang.cindex.Type
    """Return True for float/double types and arrays, pointers or references of them."""
    type_ = type_.get_canonical()
    for _ in range(8):
        name = type_.kind.name
        if name in ARRAY_KINDS:
            type_ = type_.element_type.get_canonical()
        elif name in ("POINTER", "LVALUEREFERENCE", "RVALUEREFERENCE"):
            type_ = type_.get_pointee().get_canonical()
        else:
            break
    return type_.kind.name in FLOAT_KINDS


def floats(fw: Firmware) -> list[Raw]:
    """Return a finding for every line that declares or computes a floating-point value."""
    found: list[Raw] = []
    for cursor in _all_cursors(fw):
        functional = cursor.kind.name in ("FUNCTION_DECL", "FUNCTION_TEMPLATE", "CXX_METHOD")
        if _floating(cursor.result_type if functional else cursor.type):
            found.append(_at(cursor, "float", "floating-point type or value: HLS builds floating-point cores "
                             "(many DSPs, long latency); the engine computes in fixed point"))
    return found


def pragma_values(fw: Firmware, pragmas: list[Pragma]) -> list[Raw]:
    """Return a finding for every pragma option whose value is not one literal after macro expansion."""
    found: list[Raw] = []
    for pragma in pragmas:
        for option in pragma.options:
            value = " ".join(option.value)
            if len(option.value) != 1:
                problem = f"{option.key}={value or '(nothing)'} is an expression, not one literal"
            elif option.key in NUMERIC_OPTIONS and not (INTEGER.match(value) or _const_int(fw, value)):
                problem = f"{option.key}={value} is neither an integer literal nor a const integer"
            else:
                continue
            found.append((pragma.path, pragma.line, "pragma-value", f"{pragma.text()}: {problem}; Vitis HLS "
                          "needs a literal (a macro that expands to one integer is fine)"))
    return found


def _const_int(fw: Firmware, name: str) -> bool:
    """Return True when ``name`` is a const integer variable with a constant initialiser."""
    for cursor, _ in fw.decls.values():
        if cursor.spelling == name and cursor.kind.name == "VAR_DECL" and cursor.type.is_const_qualified():
            init = [c for c in cursor.get_children() if c.kind.is_expression()]
            if init and fw.is_constant(init[-1], Scope()):
                return True
    return False
