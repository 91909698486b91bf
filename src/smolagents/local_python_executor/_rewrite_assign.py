"""The rewriter's assignment and operator rules (a mixin of ``_transform._Rewriter``).

Attribute and item assignments go through the attribute policy, augmented assignments keep
CPython's evaluation order while their operator is checked, and ``*``, ``**``, ``<<``,
``%`` and ``//`` stay native only behind an inline test that proves them cheap.
"""

from __future__ import annotations

import ast
import copy
from typing import Any

from ._ast_build import (
    CHECKED_BINOPS,
    CHECKED_INPLACE,
    call,
    fast_test,
    fused_int_test,
    inline_safe_test,
    int_tree_test,
    load,
    store,
)

__all__ = ["AssignmentRules"]


class AssignmentRules:
    """Part of the rewriter: assignments, augmented assignments and checked operators."""

    #: set while rewriting the checked fallback of a fused expression
    in_fused_fallback = False

    # provided by the rewriter class
    def visit(self, node: ast.AST) -> Any:
        raise NotImplementedError

    def mangle(self, name: str) -> str:
        raise NotImplementedError

    def attribute_getter(self, attr: str, node: ast.AST) -> str:
        raise NotImplementedError

    def attribute_setter(self, attr: str, node: ast.AST) -> str:
        raise NotImplementedError

    def temp(self) -> str:
        raise NotImplementedError

    def cleanup(self, names: list[str]) -> list[ast.stmt]:
        raise NotImplementedError

    def walrus_allowed(self) -> bool:
        raise NotImplementedError

    @property
    def scope(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ assignments
    def visit_Assign(self, node: ast.Assign) -> ast.stmt:
        target = node.targets[0]
        if (
            len(node.targets) == 1
            and isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
        ):
            owner = self.visit(target.value)
            attr = self.mangle(target.attr)
            setter = self.attribute_setter(attr, target)
            value = self.visit(node.value)
            guarded = ast.Expr(call(setter, owner, ast.Constant(attr), value))
            native = ast.Assign(
                targets=[ast.Attribute(value=load(owner.id), attr=attr, ctx=ast.Store())],
                value=copy.deepcopy(value),
            )
            test = fast_test(owner.id, setter == "__sb_psa__")
            return ast.copy_location(ast.If(test=test, body=[native], orelse=[guarded]), node)
        node.targets = [self.visit(t) for t in node.targets]
        node.value = self.visit(node.value)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        if self.scope == "module" and isinstance(node.target, ast.Name):
            # module-level ``x: T = v`` runs as ``x = v`` (the module body becomes a function)
            self.visit(node.target)
            self.visit(node.annotation)
            if node.value is None:
                return None
            assign = ast.Assign(targets=[node.target], value=self.visit(node.value))
            return ast.copy_location(assign, node)
        node.target = self.visit(node.target)
        node.annotation = self.visit(node.annotation)
        if node.value is not None:
            node.value = self.visit(node.value)
        if not isinstance(node.target, ast.Name):
            node.simple = 0
        return node

    def inplace(self, target: str, op: ast.operator, value: ast.expr) -> ast.stmt:
        helper = CHECKED_INPLACE.get(type(op))
        if helper is None:
            return ast.AugAssign(target=store(target), op=op, value=value)
        if isinstance(op, ast.Add):
            # ``+=`` stays native except on a list, where a lazy right side (an iterator over
            # the list itself) would make CPython's extend loop forever
            # (an int first, by identity: the commonest ``+=`` target skips the isinstance call)
            is_list = ast.BoolOp(
                op=ast.And(),
                values=[
                    ast.Compare(
                        left=call("__sb_type__", load(target)),
                        ops=[ast.IsNot()],
                        comparators=[load("__sb_int__")],
                    ),
                    call("__sb_isinstance__", load(target), load("__sb_list__")),  # subclasses too
                ],
            )
            checked = ast.Assign(targets=[store(target)], value=call(helper, load(target), value))
            native = ast.AugAssign(target=store(target), op=op, value=copy.deepcopy(value))
            return ast.If(test=is_list, body=[checked], orelse=[native])
        if isinstance(value, (ast.Name, ast.Constant)):
            # ``x *= y`` on small ints stays native (the helper keeps in-place semantics)
            current = load(target)
            test = inline_safe_test(op, current, value, current)
            if test is not None and test is not True:
                native = ast.AugAssign(target=store(target), op=op, value=copy.deepcopy(value))
                checked = ast.Assign(targets=[store(target)], value=call(helper, load(target), value))
                return ast.If(test=test, body=[native], orelse=[checked])
        return ast.Assign(targets=[store(target)], value=call(helper, load(target), value))

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        op, value = node.op, node.value
        if isinstance(op, ast.Add) and isinstance(node.target, ast.Name) and isinstance(value, ast.BinOp):
            test = int_tree_test(value)
            if test is not None:
                # ``total += i * i % 7``: when the right side is a small-int expression its
                # value is an int, which no ``+=`` can turn into a runaway (a list's extend
                # refuses it): the whole statement runs natively behind one test
                native = copy.deepcopy(node)
                for sub in ast.walk(native):
                    if isinstance(sub, ast.Name):
                        self.visit(sub)  # the same name checks as the checked path
                general = self._aug_assign(node, checked=True)
                statement = ast.If(
                    test=test, body=[native], orelse=general if isinstance(general, list) else [general]
                )
                return ast.copy_location(statement, node)
        if isinstance(op, ast.Add) and isinstance(value, ast.Constant):
            return self._aug_assign(node, checked=False)  # a constant is never a lazy iterable
        if isinstance(op, ast.Add) and isinstance(value, ast.Name):
            # ``x += name``: native unless the right side could feed a list's extend forever
            plain = self._aug_assign(copy.deepcopy(node), checked=False)
            guarded = self._aug_assign(node, checked=True)
            test = ast.BoolOp(  # an int by identity first: the commonest right side
                op=ast.Or(),
                values=[
                    ast.Compare(
                        left=call("__sb_type__", load(value.id)),
                        ops=[ast.Is()],
                        comparators=[load("__sb_int__")],
                    ),
                    ast.Compare(
                        left=call("__sb_type__", load(value.id)),
                        ops=[ast.In()],
                        comparators=[load("__sb_eager__")],
                    ),
                ],
            )
            statement = ast.If(
                test=test,
                body=plain if isinstance(plain, list) else [plain],
                orelse=guarded if isinstance(guarded, list) else [guarded],
            )
            return ast.copy_location(statement, node)
        return self._aug_assign(node, checked=type(op) in CHECKED_INPLACE)

    def _aug_assign(self, node: ast.AugAssign, checked: bool) -> Any:
        target = node.target
        if isinstance(target, ast.Name):
            self.visit(target)
            value = self.visit(node.value)
            if not checked:
                node.value = value
                return node
            return ast.copy_location(self.inplace(target.id, node.op, value), node)
        if isinstance(target, ast.Attribute):
            owner = self.visit(target.value)
            attr = self.mangle(target.attr)
            getter = self.attribute_getter(attr, target)
            setter = self.attribute_setter(attr, target)
            value = self.visit(node.value)
            obj, current = self.temp(), self.temp()
            statements = [
                ast.Assign(targets=[store(obj)], value=owner),
                ast.Assign(targets=[store(current)], value=call(getter, load(obj), ast.Constant(attr))),
                self.inplace(current, node.op, value),
                ast.Expr(call(setter, load(obj), ast.Constant(attr), load(current))),
                *self.cleanup([obj, current]),
            ]
            if isinstance(owner, ast.Name) and getter in ("__sb_ga__", "__sb_pga__"):
                native_target = ast.Attribute(value=load(owner.id), attr=attr, ctx=ast.Store())
                helper = CHECKED_INPLACE.get(type(node.op)) if checked else None
                if helper is None:
                    native: ast.stmt = ast.AugAssign(
                        target=native_target, op=node.op, value=copy.deepcopy(value)
                    )
                    natives = [native]
                else:
                    # read once, combine (checked), write back: CPython's own order
                    current_value = ast.Attribute(value=load(owner.id), attr=attr, ctx=ast.Load())
                    natives = [
                        ast.Assign(targets=[store(current)], value=current_value),
                        self.inplace(current, node.op, copy.deepcopy(value)),
                        ast.Assign(targets=[native_target], value=load(current)),
                        *self.cleanup([current]),
                    ]
                test = fast_test(owner.id, getter == "__sb_pga__")
                statements = [ast.If(test=test, body=natives, orelse=statements)]
        else:  # Subscript
            if not checked:
                node.target = self.visit(target)
                node.value = self.visit(node.value)
                return node
            owner = self.visit(target.value)
            index = self.slice_value(self.visit(target.slice))
            obj, key, current = self.temp(), self.temp(), self.temp()
            item = ast.Subscript(value=load(obj), slice=load(key), ctx=ast.Load())
            statements = [
                ast.Assign(targets=[store(obj)], value=owner),
                ast.Assign(targets=[store(key)], value=index),
                ast.Assign(targets=[store(current)], value=item),
                self.inplace(current, node.op, self.visit(node.value)),
                ast.Assign(
                    targets=[ast.Subscript(value=load(obj), slice=load(key), ctx=ast.Store())],
                    value=load(current),
                ),
                *self.cleanup([obj, key, current]),
            ]
        return [ast.copy_location(statement, node) for statement in statements]

    def slice_value(self, index: ast.expr) -> ast.expr:
        if isinstance(index, ast.Slice):
            parts = [
                part if part is not None else ast.Constant(None)
                for part in (index.lower, index.upper, index.step)
            ]
            return ast.copy_location(call("__sb_slice__", *parts), index)
        if isinstance(index, ast.Tuple):
            return ast.Tuple(elts=[self.slice_value(element) for element in index.elts], ctx=ast.Load())
        return index

    # ------------------------------------------------------------------ operators
    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        fused = None if self.in_fused_fallback else fused_int_test(node)
        if fused is not None:
            # small ints everywhere: the expression as written; otherwise each operation checked
            native = copy.deepcopy(node)
            for sub in ast.walk(native):
                if isinstance(sub, ast.Name):
                    self.visit(sub)  # the same name checks as the checked path
            self.in_fused_fallback = True  # its parts are not fused again (code size)
            try:
                checked = self.checked_binop_tree(node)
            finally:
                self.in_fused_fallback = False
            return ast.copy_location(ast.IfExp(test=fused, body=native, orelse=checked), node)
        return self.checked_binop_tree(node)

    def checked_binop_tree(self, node: ast.BinOp) -> ast.expr:
        node.left = self.visit(node.left)
        node.right = self.visit(node.right)
        helper = CHECKED_BINOPS.get(type(node.op))
        if helper is None:
            if isinstance(node.op, ast.Add):
                return ast.copy_location(self.checked_add(node), node)
            return node
        return ast.copy_location(self.checked_binop(node.op, node.left, node.right, helper), node)

    def checked_add(self, node: ast.BinOp) -> ast.expr:
        """``a + b`` of two non-constants has its result's length checked afterwards.

        Concatenation at most doubles a size per operation, but ``s = s + s`` in a loop does
        it in a handful of single C calls, faster than the memory watchdog can look; the
        length limit stops it deterministically. Numeric results pass an inline type test."""
        if isinstance(node.left, ast.Constant) or isinstance(node.right, ast.Constant):
            return node  # grows by a constant per operation
        if not self.walrus_allowed():
            return call("__sb_addchk__", node)
        # ``type(a := x + y) is int or type(a) in numeric``: an int passes by identity alone
        result = ast.NamedExpr(target=store("__sb_a__"), value=node)
        numeric = ast.BoolOp(
            op=ast.Or(),
            values=[
                ast.Compare(
                    left=call("__sb_type__", result), ops=[ast.Is()], comparators=[load("__sb_int__")]
                ),
                ast.Compare(
                    left=call("__sb_type__", load("__sb_a__")),
                    ops=[ast.In()],
                    comparators=[load("__sb_numeric__")],
                ),
            ],
        )
        return ast.IfExp(test=numeric, body=load("__sb_a__"), orelse=call("__sb_addchk__", load("__sb_a__")))

    def checked_binop(self, op: ast.operator, left: ast.expr, right: ast.expr, helper: str) -> ast.expr:
        """``left <op> right`` natively when an inline test proves it cheap, else the helper.

        A left operand that is not a name is bound once with ``:=`` in the test (where
        ``:=`` is allowed), so ``i * i % 7`` stays native for small ints."""
        if not isinstance(right, (ast.Name, ast.Constant)) and self.walrus_allowed():
            return self.checked_binop_bound(op, left, right, helper)
        first_left: ast.expr = left
        if not isinstance(left, (ast.Name, ast.Constant)) and self.walrus_allowed():
            first_left = ast.NamedExpr(target=store("__sb_o__"), value=left)
            left = load("__sb_o__")
        test = inline_safe_test(op, left, right, first_left)
        if test is True:
            return ast.BinOp(left=first_left, op=op, right=right)
        if test is None:
            return call(helper, first_left, right)
        native = ast.BinOp(left=copy.deepcopy(left), op=op, right=copy.deepcopy(right))
        return ast.IfExp(test=test, body=native, orelse=call(helper, copy.deepcopy(left), right))

    def checked_binop_bound(self, op: ast.operator, left: ast.expr, right: ast.expr, helper: str) -> ast.expr:
        """``r["price"] * r["qty"]``: both operands bound once, in order, to temporaries of
        their own (nested operands may use the shared ones), then the same inline test."""
        # a name on the left is bound too: evaluating the right side (a call, a ``:=``) may
        # rebind it, and Python reads the left operand first
        names = [self.temp(), self.temp()]
        binds: list[ast.expr] = [
            ast.Compare(
                left=ast.NamedExpr(target=store(name), value=value), ops=[ast.Is()], comparators=[load(name)]
            )
            for name, value in zip(names, (left, right))
        ]  # ``(t := value) is t``: always true, it only binds
        test = inline_safe_test(op, load(names[0]), load(names[1]), load(names[0]))
        if test is None:
            return call(helper, left, right)
        native = ast.BinOp(left=load(names[0]), op=op, right=load(names[1]))
        if test is not True:
            binds.append(test)
        return ast.IfExp(
            test=ast.BoolOp(op=ast.And(), values=binds) if len(binds) > 1 else binds[0],
            body=native,
            orelse=call(helper, load(names[0]), load(names[1])),
        )
