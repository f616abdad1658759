"""What the HLS lint rules read (:mod:`cgap.hls.lint`): the firmware's functions, loops with their pragmas,
the arrays' partitioning and call sites, and the question "is this expression a compile-time constant here?".

How a pragma is attached (the rule Vitis HLS applies): a pragma that lies directly in a loop's body block
(not in a block nested in it) belongs to that loop; directly in a function's body block, to the function.
So a loop is **pipelined at II=1** when its own body holds ``PIPELINE`` with ``II=1`` or no II (the default)
and not ``off``, and **unrolled** when it holds ``UNROLL`` (not ``off``).  ``ARRAY_PARTITION`` /
``ARRAY_RESHAPE ... complete`` names its variable in the block where it lies: the nearest declaration of
that name before it in the same function, else a global.

A **region** is what one pipelined (or unrolled) loop synthesises into: its body, the loops nested in it
(unrolled by the tool inside a pipeline, so their counters are constants per copy) and the bodies of the
firmware functions it calls (inlined into the pipeline), with each callee parameter bound to the caller's
argument: a constant when the argument is one, the caller's array when it passes one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from cgap.hls.lint_clang import binary_operator, cindex, resolved, unary_operator
from cgap.hls.lint_pragmas import Pragma

Key = tuple[str, int]
"""A declaration or statement: (resolved file name, byte offset of its location)."""

ALL_DIMS = frozenset(range(1, 17))
"""``dim=0``: every dimension completely partitioned."""


def key_of(cursor) -> Key | None:  # noqa: ANN001 - clang.cindex.Cursor
    """Return the :data:`Key` of a cursor's location, or None for built-ins without a file."""
    loc = cursor.location
    return (resolved(loc.file.name), loc.offset) if loc.file is not None else None


def callee_key(call) -> Key | None:  # noqa: ANN001 - clang.cindex.Cursor (a CALL_EXPR)
    """Return the key of the definition a call reaches (not of a forward declaration), or None."""
    target = call.referenced
    if target is None:
        return None
    definition = target.get_definition()
    return key_of(definition if definition is not None else target)


def strip(cursor):  # noqa: ANN001, ANN201 - clang.cindex.Cursor -> Cursor
    """Return ``cursor`` without implicit-conversion and parenthesis wrappers."""
    ci = cindex()
    while cursor.kind in (ci.CursorKind.UNEXPOSED_EXPR, ci.CursorKind.PAREN_EXPR):
        children = list(cursor.get_children())
        if len(children) != 1:
            break
        cursor = children[0]
    return cursor


@dataclass
class Function:
    """A firmware function definition."""

    key: Key
    name: str
    cursor: object
    body: object
    params: list[object]
    pragmas: list[Pragma] = field(default_factory=list)

    @property
    def pipelined(self) -> bool:
        """Return True when the function itself carries PIPELINE at II=1."""
        return any(_is_ii1_pipeline(p) for p in self.pragmas)


@dataclass
class Loop:
    """A firmware loop: its body block, label and the pragmas placed directly in that body."""

    key: Key
    cursor: object
    body: object | None
    function: Key
    path: str
    line: int
    label: str | None
    induction: frozenset[Key]
    pragmas: list[Pragma] = field(default_factory=list)

    @property
    def pipelined(self) -> bool:
        """Return True when the loop is pipelined at II=1 (module doc)."""
        return any(_is_ii1_pipeline(p) for p in self.pragmas)

    @property
    def unrolled(self) -> bool:
        """Return True when the loop carries an UNROLL that is not ``off``."""
        return any(p.directive == "unroll" and "off" not in p.flags for p in self.pragmas)

    def describe(self) -> str:
        """Return 'loop LABEL (file:line)' for messages."""
        return f"loop {self.label or '(unlabelled)'} ({self.path.rsplit('/', 1)[-1]}:{self.line})"


def _is_ii1_pipeline(pragma: Pragma) -> bool:
    ii = pragma.option("ii")
    return pragma.directive == "pipeline" and "off" not in pragma.flags and ii in (None, ("1",))


@dataclass(frozen=True)
class Binding:
    """What an array expression refers to: the root declaration and whether each leading index is fixed."""

    root: Key
    name: str
    prefix: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Scope:
    """Facts valid inside one region: constant variables, callee parameters bound to caller arrays, and
    the chain of functions entered (for messages)."""

    constants: frozenset[Key] = frozenset()
    bindings: tuple[tuple[Key, Binding], ...] = ()
    chain: tuple[str, ...] = ()

    def binding(self, key: Key) -> Binding | None:
        """Return the caller array a callee parameter is bound to, or None."""
        return next((b for k, b in self.bindings if k == key), None)


FUNCTION_KINDS = ("FUNCTION_DECL", "FUNCTION_TEMPLATE", "CXX_METHOD", "CONSTRUCTOR")
LOOP_KINDS = ("FOR_STMT", "WHILE_STMT", "DO_STMT", "CXX_FOR_RANGE_STMT")
CONTAINER_KINDS = ("NAMESPACE", "STRUCT_DECL", "CLASS_DECL", "CLASS_TEMPLATE", "UNEXPOSED_DECL")
PASS_THROUGH = ("UNEXPOSED_EXPR", "PAREN_EXPR", "CSTYLE_CAST_EXPR", "CXX_FUNCTIONAL_CAST_EXPR",
                "CXX_STATIC_CAST_EXPR", "BINARY_OPERATOR", "UNARY_OPERATOR", "CONDITIONAL_OPERATOR")
LITERALS = ("INTEGER_LITERAL", "FLOATING_LITERAL", "CHARACTER_LITERAL", "CXX_BOOL_LITERAL_EXPR",
            "CXX_UNARY_EXPR")
NAME_KINDS = ("TYPE_REF", "TEMPLATE_REF", "NAMESPACE_REF", "OVERLOADED_DECL_REF")


class Firmware:
    """The firmware part of one translation unit (module doc): functions, loops, pragmas, partitions, calls."""

    def __init__(self, tu, paths: set[str], pragmas: list[Pragma]) -> None:  # noqa: ANN001 - TranslationUnit
        self.paths = paths
        self.functions: dict[Key, Function] = {}
        self.loops: dict[Key, Loop] = {}
        self.calls: dict[Key, list[object]] = {}       # callee -> its call expressions
        self.callees: dict[Key, set[Key]] = {}         # caller -> firmware callees
        self.decls: dict[Key, tuple[object, Key | None]] = {}   # variable / parameter -> (cursor, function)
        self._blocks: list[tuple[str, int, int, object]] = []   # (path, start, end, owning Loop | Function)
        self.globals = list(self._top_level(tu.cursor))
        for cursor in self.globals:
            if cursor.kind.name in FUNCTION_KINDS and self._body(cursor) is not None:
                self._add_function(cursor)
            elif cursor.kind.name == "VAR_DECL":
                self.decls[key_of(cursor)] = (cursor, None)
        self.partitions: dict[Key, frozenset[int]] = {}
        self.independent: set[Key] = set()   # arrays under a DEPENDENCE inter false pragma
        for pragma in pragmas:
            self._place(pragma)

    def in_firmware(self, cursor) -> bool:  # noqa: ANN001
        """Return True when ``cursor`` lies in one of the linted files."""
        return cursor.location.file is not None and resolved(cursor.location.file.name) in self.paths

    def _top_level(self, cursor) -> Iterator[object]:  # noqa: ANN001
        for child in cursor.get_children():
            if child.kind.name in ("MACRO_DEFINITION", "MACRO_INSTANTIATION", "INCLUSION_DIRECTIVE"):
                continue
            if not self.in_firmware(child):
                continue
            yield child
            if child.kind.name in CONTAINER_KINDS:
                yield from self._top_level(child)

    @staticmethod
    def _body(cursor):  # noqa: ANN001, ANN205
        return next((c for c in cursor.get_children() if c.kind.name == "COMPOUND_STMT"), None)

    def _add_function(self, cursor) -> None:  # noqa: ANN001
        key = key_of(cursor)
        params = [c for c in cursor.get_children() if c.kind.name == "PARM_DECL"]
        function = Function(key, cursor.spelling, cursor, self._body(cursor), params)
        self.functions[key] = function
        self.callees[key] = set()
        for param in params:
            self.decls[key_of(param)] = (param, key)
        self._scan(function.body, None, function, function)

    def _scan(self, cursor, parent, owner, function: Function) -> None:  # noqa: ANN001
        """Record the blocks, loops, calls and declarations under ``cursor`` (``owner`` owns its blocks)."""
        kind = cursor.kind.name
        if kind == "COMPOUND_STMT":
            ext = cursor.extent
            self._blocks.append((resolved(ext.start.file.name), ext.start.offset, ext.end.offset, owner))
            owner = None  # a block nested in this one belongs to no loop or function
        elif kind in LOOP_KINDS:
            owner = self._add_loop(cursor, parent, function)
        elif kind == "CALL_EXPR":
            self._add_call(cursor, function)
        elif kind == "VAR_DECL":
            self.decls[key_of(cursor)] = (cursor, function.key)
        for child in cursor.get_children():
            self._scan(child, cursor, owner if child.kind.name == "COMPOUND_STMT" else None, function)

    def _add_loop(self, cursor, parent, function: Function) -> Loop:  # noqa: ANN001
        children = list(cursor.get_children())
        body = children[0] if cursor.kind.name == "DO_STMT" else children[-1]
        body = body if body.kind.name == "COMPOUND_STMT" else None
        label = parent.spelling if parent is not None and parent.kind.name == "LABEL_STMT" else None
        init = children[0] if cursor.kind.name == "FOR_STMT" and children[0].kind.name == "DECL_STMT" else None
        induction = frozenset(key_of(v) for v in (init.get_children() if init else ()) if v.kind.name == "VAR_DECL")
        loop = Loop(key_of(cursor), cursor, body, function.key, resolved(cursor.location.file.name),
                    cursor.location.line, label, induction)
        self.loops[loop.key] = loop
        return loop

    def _add_call(self, cursor, function: Function) -> None:  # noqa: ANN001
        callee = callee_key(cursor)
        if callee is not None and callee[0] in self.paths:
            self.calls.setdefault(callee, []).append(cursor)
            self.callees[function.key].add(callee)

    def _place(self, pragma: Pragma) -> None:
        """Attach ``pragma`` to the loop or function whose body directly holds it; record partitions."""
        inside = [b for b in self._blocks if b[0] == pragma.path and b[1] <= pragma.offset < b[2]]
        if not inside:
            return
        _, start, _, owner = max(inside, key=lambda b: b[1])
        if owner is not None:
            owner.pragmas.append(pragma)
        if pragma.directive in ("array_partition", "array_reshape"):
            self._add_partition(pragma, start)
        if pragma.directive == "dependence":
            self._add_independence(pragma)

    def _add_independence(self, pragma: Pragma) -> None:
        """Record an array a ``DEPENDENCE variable=X inter false`` pragma declares free of loop-carried
        dependences (the writer asserts no iteration reads what another writes)."""
        name = pragma.option("variable")
        inter = "inter" in pragma.flags or pragma.option("type") == ("inter",)
        independent = "false" in pragma.flags or pragma.option("dependent") == ("false",)
        if name and len(name) == 1 and inter and independent:
            decl = self._declaration(name[0], pragma)
            if decl is not None:
                self.independent.add(decl)

    def _add_partition(self, pragma: Pragma, block_start: int) -> None:
        complete = "complete" in pragma.flags or pragma.option("type") == ("complete",)
        name, dim = pragma.option("variable"), pragma.option("dim") or ("1",)
        if not complete or not name or len(name) != 1 or not dim[0].isdigit():
            return
        decl = self._declaration(name[0], pragma)
        if decl is not None:
            dims = ALL_DIMS if dim[0] == "0" else frozenset({int(dim[0])})
            self.partitions[decl] = self.partitions.get(decl, frozenset()) | dims

    def _declaration(self, name: str, pragma: Pragma) -> Key | None:
        """Return the declaration ``name`` in a pragma refers to (module doc), or None."""
        function = next((f for f in self.functions.values() if _contains(f.body, pragma)), None)
        local = [k for k, (c, fn) in self.decls.items() if c.spelling == name and function is not None
                 and fn == function.key and k[1] <= pragma.offset]
        if local:
            return max(local, key=lambda k: k[1])
        return next((k for k, (c, fn) in self.decls.items() if c.spelling == name and fn is None), None)

    # ------------------------------------------------------------------------------- constants

    def is_constant(self, cursor, scope: Scope, allowed: frozenset[Key] = frozenset(), depth: int = 0) -> bool:  # noqa: ANN001
        """Return True when the expression is a compile-time constant in ``scope``: literals, template and
        enum constants, macros (already literals), constant variables, unrolled loop counters, parameters
        bound to constants, and operators or calls on those.  ``allowed`` adds more variables."""
        kind = cursor.kind.name
        if kind in LITERALS:
            return True
        if kind == "DECL_REF_EXPR":
            return self._constant_ref(cursor.referenced, scope, allowed, depth)
        if kind == "CALL_EXPR":
            args = list(cursor.get_arguments())
            return bool(args) and all(self.is_constant(a, scope, allowed, depth) for a in args)
        if kind not in PASS_THROUGH:
            return False
        if binary_operator(cursor).endswith("=") and binary_operator(cursor) not in ("==", "<=", ">=", "!="):
            return False
        if unary_operator(cursor) in ("++", "--"):
            return False
        operands = [c for c in cursor.get_children() if c.kind.name not in NAME_KINDS]
        return bool(operands) and all(self.is_constant(c, scope, allowed, depth) for c in operands)

    def _constant_ref(self, ref, scope: Scope, allowed: frozenset[Key], depth: int) -> bool:  # noqa: ANN001
        if ref is None:
            return False
        if ref.kind.name in ("TEMPLATE_NON_TYPE_PARAMETER", "ENUM_CONSTANT_DECL"):
            return True
        key = key_of(ref)
        if key in scope.constants or key in allowed:
            return True
        if ref.kind.name != "VAR_DECL" or not ref.type.is_const_qualified() or depth > 8:
            return False
        init = [c for c in ref.get_children() if c.kind.is_expression()]
        return bool(init) and self.is_constant(init[-1], scope, allowed, depth + 1)

    # ------------------------------------------------------------------------------- arrays

    def binding_of(self, cursor, scope: Scope, allowed: frozenset[Key] = frozenset()) -> Binding | None:  # noqa: ANN001
        """Return what an array (or sub-array, or pointer) expression refers to in ``scope``, or None."""
        cursor = _strip_casts(cursor)
        if cursor.kind.name == "DECL_REF_EXPR" and cursor.referenced is not None:
            key = key_of(cursor.referenced)
            return scope.binding(key) or Binding(key, cursor.spelling)
        if cursor.kind.name == "ARRAY_SUBSCRIPT_EXPR":
            base, index = list(cursor.get_children())[:2]
            inner = self.binding_of(base, scope, allowed)
            fixed = self.is_constant(index, scope, allowed)
            return replace(inner, prefix=inner.prefix + (fixed,)) if inner else None
        return None

    def complete_dims(self, key: Key, depth: int = 0) -> frozenset[int]:
        """Return the dimensions (1-based) of an array that are completely partitioned; for a parameter,
        those partitioned in the arrays every call site passes."""
        own = self.partitions.get(key, frozenset())
        cursor, function = self.decls.get(key, (None, None))
        if cursor is None or cursor.kind.name != "PARM_DECL" or function is None or depth > 6:
            return own
        index = [key_of(p) for p in self.functions[function].params].index(key)
        per_site = [self._passed_dims(call, index, depth) for call in self.calls.get(function, [])]
        return own | frozenset.intersection(*per_site) if per_site else own

    def _passed_dims(self, call, index: int, depth: int) -> frozenset[int]:  # noqa: ANN001
        args = list(call.get_arguments())
        binding = self.binding_of(args[index], Scope()) if index < len(args) else None
        if binding is None:
            return frozenset()
        shift = len(binding.prefix)
        return frozenset(d - shift for d in self.complete_dims(binding.root, depth + 1) if d > shift)

    # ------------------------------------------------------------------------------- regions

    def walk_region(self, root, scope: Scope, visit: Callable[[object, tuple, Scope], None]) -> None:  # noqa: ANN001
        """Call ``visit(cursor, parents, scope)`` on every cursor of a region rooted at ``root`` (module doc):
        nested loops make their counters constants, calls to firmware functions enter the callee's body
        with its parameters bound."""
        self._walk(root, (), scope, visit, root)

    def _walk(self, cursor, parents: tuple, scope: Scope, visit, root) -> None:  # noqa: ANN001
        visit(cursor, parents, scope)
        kind = cursor.kind.name
        if kind in LOOP_KINDS and cursor != root:
            loop = self.loops.get(key_of(cursor))
            if loop is not None:
                scope = replace(scope, constants=scope.constants | loop.induction)
        for child in cursor.get_children():
            self._walk(child, parents + (cursor,), scope, visit, root)
        if kind == "CALL_EXPR":
            self._enter(cursor, scope, visit)

    def _enter(self, call, scope: Scope, visit) -> None:  # noqa: ANN001
        callee = self.functions.get(callee_key(call))
        if callee is None or callee.name in scope.chain:
            return
        constants, bindings = set(scope.constants), dict(scope.bindings)
        for param, arg in zip(callee.params, call.get_arguments(), strict=False):
            if self.is_constant(arg, scope):
                constants.add(key_of(param))
            binding = self.binding_of(arg, scope)
            if binding is not None:
                bindings[key_of(param)] = binding
        inner = Scope(frozenset(constants), tuple(bindings.items()), scope.chain + (callee.name,))
        self._walk(callee.body, (), inner, visit, callee.body)


def _strip_casts(cursor):  # noqa: ANN001, ANN202
    while cursor.kind.name in ("UNEXPOSED_EXPR", "PAREN_EXPR", "CSTYLE_CAST_EXPR", "CXX_STATIC_CAST_EXPR"):
        children = [c for c in cursor.get_children() if c.kind.name not in NAME_KINDS]
        if len(children) != 1:
            break
        cursor = children[0]
    return cursor


def _contains(block, pragma: Pragma) -> bool:  # noqa: ANN001
    ext = block.extent
    return resolved(ext.start.file.name) == pragma.path and ext.start.offset <= pragma.offset < ext.end.offset
