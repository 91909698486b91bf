"""Hoist receiver checks on parameters out of a function body.

Every attribute read on a name is rewritten to ``name.attr if __sb_type__(name) in
__sb_fast__ else __sb_ga__(name, 'attr')``. Inside a method, ``self`` is read this way
again and again, and its answer cannot change while the function runs: a parameter that
the function never rebinds keeps its object, an object keeps its type (``__class__`` is
out of reach), and the fast-type tables only ever grow (a stale "no" just takes the
guarded path, which is always correct). So the test is computed once at function entry
into a local flag, and each use reads the flag.

The same holds for the inline arithmetic guards on a stable parameter (``type(n) is int``
and ``-2**30 < n < 2**30`` before a native ``n % d``): an int never changes its value, so a
helper like ``is_prime(n)`` tests ``n`` once per call instead of once per loop iteration.
"""

from __future__ import annotations

import ast
import copy
from typing import Any

from ._ast_build import load, store

__all__ = ["and_chain", "bound_names", "hoist_receiver_checks", "stable_parameters", "version_loops"]

_TABLES = ("__sb_fast__", "__sb_pfast__")
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
                  ast.SetComp, ast.DictComp, ast.GeneratorExp)  # fmt: skip


def stable_parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Parameters the (original, not yet rewritten) function never rebinds, also from
    nested scopes (``nonlocal``)."""
    args = node.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    for sub in ast.walk(node):
        if sub is node:
            continue
        if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
            names.discard(sub.id)
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            names.difference_update(sub.names)
        elif isinstance(sub, ast.alias):
            names.discard((sub.asname or sub.name).split(".")[0])
        elif (
            isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            or (isinstance(sub, ast.ExceptHandler) and sub.name)
            or (isinstance(sub, (ast.MatchAs, ast.MatchStar)) and sub.name)
        ):
            names.discard(sub.name)
        elif isinstance(sub, ast.MatchMapping) and sub.rest:
            names.discard(sub.rest)
    return names


#: nodes that bind their ``name`` (a function/class name, ``except ... as``, a pattern capture)
_NAMED_BINDERS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.ExceptHandler,
    ast.MatchAs,
    ast.MatchStar,
)


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere, in any scope (assignments, parameters, imports,
    definitions, ``except ... as``, pattern captures, ``global``/``nonlocal``)."""
    names: set[str] = set()
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
            names.add(sub.id)
        elif isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            names.update(sub.names)
        elif isinstance(sub, ast.alias):
            names.add((sub.asname or sub.name).split(".")[0])
        elif isinstance(sub, _NAMED_BINDERS):
            if sub.name:  # None for a bare ``except:`` / ``case _:`` / ``*_``
                names.add(sub.name)
        elif isinstance(sub, ast.MatchMapping) and sub.rest:
            names.add(sub.rest)
    return names


def _receiver_test(node: ast.AST, names: set[str]) -> tuple[str, str] | None:
    """``(name, table)`` when ``node`` is ``__sb_type__(name) in <table>`` for a stable name."""
    if not (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.In)
        and isinstance(node.comparators[0], ast.Name)
        and node.comparators[0].id in _TABLES
        and isinstance(node.left, ast.Call)
        and isinstance(node.left.func, ast.Name)
        and node.left.func.id == "__sb_type__"
        and len(node.left.args) == 1
        and not node.left.keywords
        and isinstance(node.left.args[0], ast.Name)
        and node.left.args[0].id in names
    ):
        return None
    return node.left.args[0].id, node.comparators[0].id


def _int_test(node: ast.AST, names: set[str]) -> str | None:
    """``name`` when ``node`` is ``__sb_type__(name) is __sb_int__`` for a stable name."""
    if (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Is)
        and isinstance(node.comparators[0], ast.Name)
        and node.comparators[0].id == "__sb_int__"
        and isinstance(node.left, ast.Call)
        and isinstance(node.left.func, ast.Name)
        and node.left.func.id == "__sb_type__"
        and len(node.left.args) == 1
        and not node.left.keywords
        and isinstance(node.left.args[0], ast.Name)
        and node.left.args[0].id in names
    ):
        return node.left.args[0].id
    return None


def _type_is(node: ast.AST, name: str) -> bool:
    """Whether ``node`` is ``__sb_type__(name) is <something>``."""
    return (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Is)
        and isinstance(node.left, ast.Call)
        and isinstance(node.left.func, ast.Name)
        and node.left.func.id == "__sb_type__"
        and len(node.left.args) == 1
        and isinstance(node.left.args[0], ast.Name)
        and node.left.args[0].id == name
    )


def _bounds_test(node: ast.AST, name: str) -> bool:
    """Whether ``node`` is ``low < name < high`` with constant bounds."""
    return (
        isinstance(node, ast.Compare)
        and len(node.ops) == 2
        and all(isinstance(op, ast.Lt) for op in node.ops)
        and isinstance(node.left, ast.Constant)
        and isinstance(node.comparators[0], ast.Name)
        and node.comparators[0].id == name
        and isinstance(node.comparators[1], ast.Constant)
    )


class _Replacer(ast.NodeTransformer):
    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.flags: dict[tuple[str, str], str] = {}
        self.tests: dict[str, ast.AST] = {}  # flag -> the test computed once at entry

    def flag_for(self, key: tuple[str, str], test: ast.AST) -> ast.Name:
        flag = self.flags.setdefault(key, f"__sb_f{len(self.flags)}_{key[0]}__")
        self.tests.setdefault(flag, test)
        return load(flag)

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, _NESTED_SCOPES):
            return node  # a nested scope keeps its own tests
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            return self.guard_chain(node)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) == 2:
            # ``type(x) is list or type(x) in __sb_fast__`` (a guessed receiver): the flag alone
            key = _receiver_test(node.values[1], self.names)
            if key is not None and _type_is(node.values[0], key[0]):
                return ast.copy_location(self.flag_for(key, node.values[1]), node)
        key = _receiver_test(node, self.names)
        if key is not None:
            return ast.copy_location(self.flag_for(key, node), node)
        name = _int_test(node, self.names)
        if name is not None:
            return ast.copy_location(self.flag_for((name, "int"), node), node)
        return self.generic_visit(node)

    def guard_chain(self, node: ast.BoolOp) -> ast.expr:
        """``a and b and ...`` with each ``type(n) is int and low < n < high`` pair on a
        stable ``n`` read from one flag."""
        values: list[ast.expr] = []
        index = 0
        while index < len(node.values):
            value = node.values[index]
            name = _int_test(value, self.names)
            if (
                name is not None
                and index + 1 < len(node.values)
                and _bounds_test(node.values[index + 1], name)
            ):
                pair = ast.BoolOp(op=ast.And(), values=[value, node.values[index + 1]])
                bounds = ast.unparse(node.values[index + 1])
                values.append(ast.copy_location(self.flag_for((name, bounds), pair), value))
                index += 2
                continue
            values.append(self.visit(value))  # type: ignore[arg-type]
            index += 1
        if len(values) == 1:
            return values[0]
        node.values = values
        return node


def hoist_receiver_checks(body: list[ast.stmt], names: set[str]) -> list[ast.stmt]:
    """``body`` with receiver tests on ``names`` read from flags set once at its start."""
    if not names:
        return body
    replacer = _Replacer(names)
    new_body = [replacer.visit(statement) for statement in body]
    if not replacer.flags:
        return body
    # each flag is computed just before the first statement that reads it: a call that
    # returns early (``if n < 2: return False``) does not pay for a loop's tests
    out: list[ast.stmt] = []
    pending = dict(replacer.tests)
    for statement in new_body:
        if pending:
            used = {sub.id for sub in ast.walk(statement) if isinstance(sub, ast.Name)}
            for flag in [flag for flag in pending if flag in used]:
                test = pending.pop(flag)
                out.append(ast.Assign(targets=[store(flag)], value=test, lineno=0))  # type: ignore[arg-type]
        out.append(statement)  # type: ignore[arg-type]
    return version_loops(out, set(replacer.tests))


#: Largest innermost loop (in AST nodes) that ``version_loops`` duplicates.
_VERSIONED_LOOP_NODES = 300


def version_loops(body: list[ast.stmt], flags: set[str]) -> list[ast.stmt]:
    """Innermost loops that read hoisted flags, run as ``if <flags>: <loop with the flags
    taken as true> else: <loop>``.

    A flag is set once per call and never changes, so testing it on every iteration
    (``n % d if __sb_f0_n__ else __sb_mod__(n, d)``) is wasted: the copy that runs when the
    flags hold has the native operations only. Only small loops are copied (code size)."""
    out: list[ast.stmt] = []
    for statement in body:
        if isinstance(statement, ast.For) and _loop_free(statement):
            used = sorted(
                {sub.id for sub in ast.walk(statement) if isinstance(sub, ast.Name) and sub.id in flags}
            )
            if used and sum(1 for _ in ast.walk(statement)) <= _VERSIONED_LOOP_NODES:
                fast = _AssumeTrue(set(used)).visit(copy.deepcopy(statement))
                test = (
                    load(used[0])
                    if len(used) == 1
                    else ast.BoolOp(op=ast.And(), values=[load(f) for f in used])
                )
                statement = ast.copy_location(ast.If(test=test, body=[fast], orelse=[statement]), statement)
        else:
            for field in ("body", "orelse", "finalbody"):
                block = getattr(statement, field, None)
                if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                    setattr(statement, field, version_loops(block, flags))
            for handler in getattr(statement, "handlers", None) or []:
                handler.body = version_loops(handler.body, flags)
        out.append(statement)
    return out


def _loop_free(loop: ast.For) -> bool:
    """No loop or nested scope inside ``loop`` (its copies stay small and flat)."""
    return not any(
        isinstance(sub, (ast.For, ast.While, *_NESTED_SCOPES))
        for part in loop.body + loop.orelse
        for sub in ast.walk(part)
    )


def _true(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def and_chain(node: ast.BoolOp, values: list[ast.expr]) -> ast.expr:
    """``node`` (an ``and`` test) made of ``values`` without their constant ``True`` parts,
    which say nothing: ``True`` when none is left, the value itself when one is."""
    values = [value for value in values if not _true(value)]
    if not values:
        return ast.copy_location(ast.Constant(True), node)
    if len(values) == 1:
        return values[0]
    node.values = values
    return node


class _AssumeTrue(ast.NodeTransformer):
    """Replace reads of ``flags`` by ``True`` and fold the guards that tested them."""

    def __init__(self, flags: set[str]) -> None:
        self.flags = flags

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in self.flags and isinstance(node.ctx, ast.Load):
            return ast.copy_location(ast.Constant(True), node)
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        self.generic_visit(node)
        return node.body if _true(node.test) else node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        self.generic_visit(node)
        return and_chain(node, node.values) if isinstance(node.op, ast.And) else node

    def visit_If(self, node: ast.If) -> Any:
        self.generic_visit(node)
        return node.body if _true(node.test) else node
