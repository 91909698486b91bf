"""The variable of a ``range`` loop is a small int: its arithmetic guards become one flag.

Every operation the sandbox checks (``*``, ``%``, ``//``, ``**``) runs natively behind an
inline test, ``type(i) is int and -2**30 < i < 2**30``. In ``for i in range(n)`` that test
asks, every iteration, what the loop already knows: ``i`` is an element of the range, so an
int between its start and its stop, for as long as nothing rebinds ``i``. The test is
therefore computed once, before the loop, into a flag (``True`` at compile time when the
bounds are small constants), and the body reads the flag.

When is ``i`` not rebound during the body?

* in a function, when the body never binds it and no scope of the function declares it
  ``global`` or ``nonlocal`` (locals cannot be reached any other way: frames are refused);
* at module level ``i`` is a global of the state, which any sandbox function declaring
  ``global i`` (or a comprehension's ``:=`` at module level) can rebind from a call in the
  body. The executor records every such name of every code it runs (``rebinding_names``)
  in ``__sb_rebound__``; the flag also requires ``i`` not to be there;
* in a comprehension, the iteration variable is the comprehension's own: only another
  ``for`` clause of the same comprehension could rebind it.

A stale "no" is always safe: the body then takes the checked path it took before.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Sequence
from typing import Any, TypeGuard, TypeVar

from ._ast_build import _ONE_DIGIT, call, load, store
from ._hoist import _NESTED_SCOPES, _bounds_test, _int_test, and_chain, bound_names

_Node = TypeVar("_Node", bound=ast.AST)

__all__ = [
    "LoopTypeRules",
    "counted_range",
    "declared_names",
    "drop_tail_resume_ticks",
    "drop_unread_flag",
    "fold_comprehension",
    "fold_int_guards",
    "innermost",
    "iterated",
    "mark_resume_tick",
    "real_range",
    "rebinding_names",
    "short_or_ticked",
]


def _calls(node: ast.expr, name: str) -> TypeGuard[ast.Call]:
    """``node`` is a call of the plain name ``name``."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def range_call(node: ast.expr) -> bool:
    """``range(a[, b[, c]])`` with plain positional arguments (before rewriting)."""
    return (
        _calls(node, "range")
        and 1 <= len(node.args) <= 3
        and not node.keywords
        and not any(isinstance(arg, ast.Starred) for arg in node.args)
    )


def small_constant_range(node: ast.Call) -> bool:
    """Every argument an int constant of one digit: the elements are small at compile time."""
    return all(
        isinstance(arg, ast.Constant) and type(arg.value) is int and abs(arg.value) < _ONE_DIGIT
        for arg in node.args
    )


def stable_in(name: str, statements: list[ast.stmt]) -> bool:
    """``name`` is bound nowhere in ``statements`` (nested scopes included)."""
    return name not in bound_names(ast.Module(body=statements, type_ignores=[]))


def declared_names(node: ast.AST) -> set[str]:
    """Names a ``global`` or ``nonlocal`` statement anywhere inside ``node`` declares."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Global, ast.Nonlocal)):
            names.update(sub.names)
    return names


def rebinding_names(tree: ast.AST) -> frozenset[str]:
    """Module globals this code may rebind from inside a call: every ``global`` (and
    ``nonlocal``) declaration and every ``:=`` target (a comprehension's walrus at module
    level binds a global)."""
    names = declared_names(tree)
    for sub in ast.walk(tree):
        if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
            names.add(sub.target.id)
    return frozenset(names)


def range_bounds_test(range_value: ast.expr | None, global_name: str | None) -> ast.expr:
    """``-2**30 < r.start < 2**30 and -2**30 < r.stop < 2**30`` on a real range, and for a
    module-level loop variable ``'name' not in __sb_rebound__``."""
    tests: list[ast.expr] = []
    if global_name is not None:
        tests.append(
            ast.Compare(
                left=ast.Constant(global_name), ops=[ast.NotIn()], comparators=[load("__sb_rebound__")]
            )
        )
    if range_value is not None:
        for bound in ("start", "stop"):
            value = ast.Attribute(value=copy.deepcopy(range_value), attr=bound, ctx=ast.Load())
            tests.append(
                ast.Compare(
                    left=ast.Constant(-_ONE_DIGIT),
                    ops=[ast.Lt(), ast.Lt()],
                    comparators=[value, ast.Constant(_ONE_DIGIT)],
                )
            )
    return tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.And(), values=tests)


def _one_digit_bounds(node: ast.AST, name: str) -> bool:
    return (
        _bounds_test(node, name)
        and node.left.value == -_ONE_DIGIT  # type: ignore[attr-defined]
        and node.comparators[1].value == _ONE_DIGIT  # type: ignore[attr-defined]
    )


class _GuardFolder(ast.NodeTransformer):
    """Replaces ``type(name) is int`` (alone, or followed by its one-digit bounds in an
    ``and`` chain) with the loop's flag; nested scopes keep their own tests."""

    def __init__(self, name: str, flag: ast.expr) -> None:
        self.name = name
        self.names = {name}
        self.flag = flag

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, _NESTED_SCOPES):
            return node
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            return self._chain(node)
        if _int_test(node, self.names) is not None:
            return ast.copy_location(copy.deepcopy(self.flag), node)
        return self.generic_visit(node)

    def _chain(self, node: ast.BoolOp) -> ast.expr:
        values: list[ast.expr] = []
        index = 0
        while index < len(node.values):
            value = node.values[index]
            if _int_test(value, self.names) is not None:
                values.append(ast.copy_location(copy.deepcopy(self.flag), value))
                pair = index + 1 < len(node.values) and _one_digit_bounds(node.values[index + 1], self.name)
                index += 2 if pair else 1
                continue
            values.append(self.visit(value))  # type: ignore[arg-type]
            index += 1
        return and_chain(node, values)


def fold_int_guards(nodes: Sequence[_Node], name: str, flag: ast.expr) -> list[_Node]:
    """``nodes`` (rewritten statements or expressions) with the int guards on ``name`` read
    from ``flag``."""
    folder = _GuardFolder(name, flag)
    return [folder.visit(node) for node in nodes]  # type: ignore[misc]


def comprehension_range_names(generators: list[ast.comprehension]) -> dict[int, str]:
    """Generator index -> variable, for ``for x in range(...)`` clauses whose ``x`` no other
    clause of the same comprehension binds (before rewriting)."""
    found: dict[int, str] = {}
    for index, generator in enumerate(generators):
        if not (isinstance(generator.target, ast.Name) and range_call(generator.iter)):
            continue
        name = generator.target.id
        others = [g.target for i, g in enumerate(generators) if i != index]
        if any(name in bound_names(target) for target in others):
            continue
        found[index] = name
    return found


def one_shot(target: str, value: ast.expr) -> ast.comprehension:
    """``for target in (value,)``: binds ``target`` once inside a comprehension."""
    return ast.comprehension(
        target=store(target), iter=ast.Tuple(elts=[value], ctx=ast.Load()), ifs=[], is_async=0
    )


def fold_comprehension(
    node: Any,
    elements: list[str],
    flags: list[tuple[str, ast.expr, ast.comprehension]],
    out: list[ast.comprehension],
) -> None:
    """Set the rewritten clauses ``out`` on ``node``, each range variable's guards folded in
    its own clause, the clauses after it and the element(s)."""
    for variable, flag, generator in flags:
        for later in out[out.index(generator) :]:
            later.ifs = fold_int_guards(later.ifs, variable, flag)
            if later is not generator:
                later.iter = fold_int_guards([later.iter], variable, flag)[0]
        for field in elements:
            setattr(node, field, fold_int_guards([getattr(node, field)], variable, flag)[0])
    node.generators = out


def iterated(node: ast.expr) -> ast.expr:
    """An iterable only looped over: ``range(...)`` there is the real range (one C call, no
    checked maker): a loop never materialises it, and every item it yields costs a tick."""
    if _calls(node, "__sb_range__"):
        node.func = ast.copy_location(load("__sb_rrange__"), node.func)
    return node


def real_range(node: ast.expr) -> bool:
    """A rewritten iterable that is the real ``range`` (see ``iterated``)."""
    return _calls(node, "__sb_rrange__")


def counted_range(node: ast.expr) -> bool:
    """A ``range(...)`` whose bounds are not small constants: a counting loop that is usually
    long, so even inside a function its ticks are drawn at C speed (``compress``) rather
    than by a tick statement per iteration (``for d in range(2, isqrt(n) + 1)``)."""
    if not _calls(node, "__sb_range__"):
        return False
    args = node.args
    constants = [arg.value for arg in args if isinstance(arg, ast.Constant)]
    return len(constants) < len(args) or not all(type(c) is int and abs(c) <= 16 for c in constants)


#: Iterations of an innermost range loop in a function that run behind the gate instead of
#: drawing ticks: ``compress`` costs ~120 ns to set up and a little per item, which short
#: loops entered once per call (``for d in range(2, isqrt(n) + 1)``) pay in full.
SHORT_LOOP = 256


def innermost(body: list[ast.stmt]) -> bool:
    """No loop statement anywhere in ``body`` (nested definitions included, conservatively)."""
    return not any(isinstance(sub, (ast.For, ast.While)) for statement in body for sub in ast.walk(statement))


def short_or_ticked(iterable: ast.expr, name: str) -> ast.expr:
    """``r if (r := range(...)).start <= r.stop <= r.start + SHORT_LOOP else compress(r, ticks)``
    (``iterable`` is the range call, or a name bound to the range).

    True only for a range of at most ``SHORT_LOOP`` items (a positive step from ``start``,
    or empty); unlike ``len(r)`` it cannot overflow on an astronomically long range. The
    loop body starts with the gate, so the short loop still stops with the call, and
    counts its iterations where entries are counted (``Runtime.count_entries``)."""
    bound: ast.expr = ast.NamedExpr(target=store(name), value=iterable)
    if isinstance(iterable, ast.Name):  # already bound before the loop (``range_flag``)
        name, bound = iterable.id, iterable
    start = ast.Attribute(value=load(name), attr="start", ctx=ast.Load())
    short = ast.Compare(
        left=ast.Attribute(value=bound, attr="start", ctx=ast.Load()),
        ops=[ast.LtE(), ast.LtE()],
        comparators=[
            ast.Attribute(value=load(name), attr="stop", ctx=ast.Load()),
            ast.BinOp(left=start, op=ast.Add(), right=ast.Constant(SHORT_LOOP)),
        ],
    )
    ticked = call("__sb_compress__", load(name), load("__sb_tk__"))
    return ast.copy_location(ast.IfExp(test=short, body=load(name), orelse=ticked), iterable)


class LoopTypeRules:
    """The rewriter's part for range loops (mixed into it; uses its scopes and temps)."""

    scopes: list[tuple[str, str]]
    as_function: bool
    direct_builtins: dict[str, str]
    declared: list[set[str]]

    def temp(self) -> str:  # provided by the rewriter
        raise NotImplementedError

    def range_variable(self, node: ast.For) -> tuple[str, bool] | None:
        """``(name, is_global)`` for ``for name in range(...)`` whose body cannot rebind
        ``name``, else None (before the loop is rewritten)."""
        if not (
            isinstance(node.target, ast.Name) and range_call(node.iter) and "range" in self.direct_builtins
        ):
            return None
        name = node.target.id
        if not stable_in(name, node.body):
            return None
        scope = self.scopes[-1][0]
        if scope == "module" and self.as_function:
            return name, True
        if scope == "function" and self.declared and name not in self.declared[-1]:
            return name, False
        return None

    def range_flag(self, node: ast.For, name: str, is_global: bool) -> tuple[ast.expr, list[ast.stmt]]:
        """The loop's flag and the statements computing it before the loop (the range is
        then built there too, once, as Python would)."""
        prelude: list[ast.stmt] = []
        if small_constant_range(node.iter):  # type: ignore[arg-type]
            if not is_global:
                return ast.Constant(True), []
            test = range_bounds_test(None, name)
        else:
            bound = self.temp()
            prelude.append(ast.Assign(targets=[store(bound)], value=node.iter))
            node.iter = load(bound)
            test = range_bounds_test(load(bound), name if is_global else None)
        flag = self.temp()
        prelude.append(ast.Assign(targets=[store(flag)], value=test))
        return load(flag), [ast.copy_location(statement, node) for statement in prelude]

    def comprehension_ranges(self, generators: list[ast.comprehension]) -> dict[int, str]:
        """Clause index -> variable for the range clauses whose variable stays stable."""
        return comprehension_range_names(generators) if "range" in self.direct_builtins else {}

    def comprehension_range_flag(
        self,
        variable: str,
        generator: ast.comprehension,
        flags: list[tuple[str, ast.expr, ast.comprehension]],
        out: list[ast.comprehension],
    ) -> None:
        """Record the flag of a range clause (its iterable already rewritten); for bounds
        that are not constants, ``for r in (range(n),) for f in (<r is small>,)`` clauses go
        before it, so the test runs once per comprehension, not once per item."""
        if not real_range(generator.iter):
            return
        if small_constant_range(generator.iter):  # type: ignore[arg-type]
            flag: ast.expr = ast.Constant(True)
        else:
            bound, name = self.temp(), self.temp()
            out += [one_shot(bound, generator.iter), one_shot(name, range_bounds_test(load(bound), None))]
            generator.iter, flag = load(bound), load(name)
        flags.append((variable, flag, generator))


def mark_resume_tick(statement: ast.stmt) -> ast.stmt:
    """Tag the tick that follows a ``yield`` statement (see ``drop_tail_resume_ticks``)."""
    statement._sb_resume_tick = True  # type: ignore[attr-defined]
    return statement


def drop_tail_resume_ticks(body: list[ast.stmt]) -> list[ast.stmt]:
    """A function body without the ticks after ``yield`` statements that end a loop body
    when that loop ends the function.

    The tick after a ``yield`` stops code from running when the generator is resumed
    outside an executor call, and preempts what follows. At the end of such a loop what
    follows is the loop's next iteration, which ticks itself, or the end of the loop and so
    of the generator: nothing runs before a tick either way. ``for x in rows: if ok(x):
    yield x`` then costs one tick per item, not two."""
    if body and isinstance(body[-1], ast.For) and not body[-1].orelse:
        _drop_in_loop_body(body[-1].body)
    return body


def _drop_in_loop_body(statements: list[ast.stmt]) -> None:
    if not statements:
        return
    last = statements[-1]
    if getattr(last, "_sb_resume_tick", False) and len(statements) >= 2:
        before = statements[-2]
        if isinstance(before, ast.Expr) and isinstance(before.value, ast.Yield):
            statements.pop()
    elif isinstance(last, ast.If):
        _drop_in_loop_body(last.body)
        _drop_in_loop_body(last.orelse)
    elif isinstance(last, ast.For) and not last.orelse:
        _drop_in_loop_body(last.body)


def drop_unread_flag(prelude: list[ast.stmt], flag: ast.expr, body: list[ast.stmt]) -> list[ast.stmt]:
    """The loop's prelude without its flag assignment when the body never reads the flag
    (no guard on the variable: ``for d in range(2, k): if n % d == 0: ...``)."""
    if not isinstance(flag, ast.Name):
        return prelude
    if any(isinstance(sub, ast.Name) and sub.id == flag.id for stmt in body for sub in ast.walk(stmt)):
        return prelude
    return [
        stmt
        for stmt in prelude
        if not (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == flag.id
        )
    ]
