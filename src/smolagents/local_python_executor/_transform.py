"""Checked AST -> guarded AST, compiled once by CPython.

The rewriter refuses what the sandbox never allows (dunder names, frame attributes,
``async``, rebinding tools) and rewrites the rest so that the *compiled bytecode* cannot
leave the policy:

* every attribute access calls a guard from ``_security`` (name chosen statically);
* ``*``, ``**``, ``<<`` and ``%`` call the checked operators of ``_ops``;
* loop iterations and comprehension steps draw a tick (``compress(it, __sb_tk__)`` or
  ``if __sb_next__(__sb_it__, True): __sb_slow__()``), which counts operations and runs
  the periodic checks; function entries, generator resumptions and calls in straight-line
  code check a flag (``if __sb_halt__: __sb_gate__()``), which is how time and memory
  limits and aborts preempt code without loops;
* ``except``/``finally`` blocks start by re-raising sandbox aborts and final answers
  (handlers of builtin ``Exception`` classes, which cannot catch them, pass the gate);
  ``with`` managers are wrapped so ``__exit__`` cannot swallow them either;
* imports become calls to the import policy.

Nodes keep their original line numbers, so tracebacks point at the user's code.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import copy
from typing import Any

from ._ast_build import (
    EXCEPTION_NAMES,
    GUESSED_RECEIVERS,
    MODULE_LIKE_NAMES,
    OPERATOR_NODES,
    PLAIN_NODES,
    REFUSED_NODES,
    MatchAndImportRules,
    StaticRefusal,
    call,
    gate_statement,
    gate_test,
    guessed_fast_test,
    is_super_call,
    load,
    spec_is_small,
    store,
    super_test,
    tick_condition,
    tick_statement,
    ticked,
)
from ._hoist import bound_names, hoist_receiver_checks, stable_parameters
from ._loop_types import (
    LoopTypeRules,
    counted_range,
    declared_names,
    drop_tail_resume_ticks,
    drop_unread_flag,
    fold_comprehension,
    fold_int_guards,
    innermost,
    iterated,
    mark_resume_tick,
    real_range,
    short_or_ticked,
)
from ._policy import (
    ALLOWED_DUNDER_ACCESS,
    ALLOWED_DUNDER_DEFINITIONS,
    BLOCKED_ATTRIBUTES,
)
from ._rewrite_assign import AssignmentRules
from ._special import SPECIAL_ATTRIBUTES

__all__ = ["StaticRefusal", "rewrite"]


#: Arguments up to this many AST nodes are duplicated into both branches of a method call.
_DUPLICABLE_NODES = 40


def _small(nodes: list[ast.AST]) -> bool:
    count = 0
    for node in nodes:
        for _ in ast.walk(node):
            count += 1
            if count > _DUPLICABLE_NODES:
                return False
    return True


def _calls_something(statement: ast.stmt) -> bool:
    return any(isinstance(node, ast.Call) for node in ast.walk(statement))


def _rebinding_message(name: str) -> str:
    what = (
        f"it is the builtin '{name}'; rebinding it would change every later step"
        if hasattr(builtins, name)
        else "it is a tool, final_answer or a function provided to the sandbox"
    )
    return f"Cannot assign to name '{name}' at module level: {what}. Pick another variable name."


class _Rewriter(AssignmentRules, MatchAndImportRules, LoopTypeRules, ast.NodeTransformer):
    def __init__(self, protected: frozenset[str]) -> None:
        self.protected = protected
        #: (kind, class name) per scope: module, function, lambda, class, comprehension
        self.scopes: list[tuple[str, str]] = [("module", "")]
        self.temp_counter = 0
        self.future_flags = 0
        #: names bound at module level; the module body runs as a function declaring them global
        self.module_names: set[str] = set()
        #: every name the code binds anywhere (set by ``rewrite``)
        self.bound: set[str] = set()
        #: the first positional parameter of each enclosing function (None for lambdas)
        self.first_parameters: list[str | None] = []
        #: names whose attribute reads try the module proxy type first (``rewrite`` adds
        #: the names this code binds with ``import``)
        self.module_like: set[str] = set(MODULE_LIKE_NAMES)
        #: the module body will run inside ``__sb_main__`` (so module scope is a function scope)
        self.as_function = True
        #: > 0 while visiting a comprehension's iterable (no ``:=`` allowed there)
        self.iterable_depth = 0
        #: statements to run before the ``match`` statement being visited
        self.match_prelude: list[ast.stmt] = []
        #: builtins whose calls go straight to their maker (set by ``rewrite``)
        self.direct_builtins: dict[str, str] = {}
        #: per enclosing function: names some scope of it declares ``global``/``nonlocal``
        self.declared: list[set[str]] = []

    # ------------------------------------------------------------------ dispatch
    def visit(self, node: ast.AST) -> Any:
        kind = type(node).__name__
        if kind in REFUSED_NODES:
            raise StaticRefusal(REFUSED_NODES[kind], node, security=False)
        method = getattr(self, "visit_" + kind, None)
        if method is not None:
            return method(node)
        if kind in PLAIN_NODES or isinstance(node, OPERATOR_NODES):
            return self.generic_visit(node)
        raise StaticRefusal(f"'{kind}' syntax is not supported in the sandbox", node, security=False)

    def body(self, statements: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        called = False  # a statement since the last tick called something
        for statement in statements:
            calls = _calls_something(statement)
            if calls and called:
                # straight-line code (``sorted(big); sorted(big); ...``) must reach a tick
                # between slow calls, or it would run past the deadline unchecked; the first
                # call of a body follows the tick of its loop, function or parent
                out.append(ast.copy_location(gate_statement(), statement))
            called = called or calls
            result = self.visit(statement)
            if isinstance(result, list):
                out.extend(result)
            elif result is not None:
                out.append(result)
        return out

    def visit_body_of(self, node: Any, field: str = "body") -> None:
        setattr(node, field, self.body(getattr(node, field)))

    # ------------------------------------------------------------------ scopes & names
    @property
    def scope(self) -> str:
        return self.scopes[-1][0]

    def class_name(self) -> str:
        for kind, name in reversed(self.scopes):
            if kind == "class":
                return name
        return ""

    def mangle(self, name: str) -> str:
        if name.startswith("__") and not name.endswith("__"):
            owner = self.class_name().lstrip("_")
            if owner:
                return f"_{owner}{name}"
        return name

    def check_name(self, name: str, node: ast.AST, load: bool = False) -> None:
        if not name.startswith("__"):
            return
        if load and name == "__name__":
            return
        if self.scope == "class" and name in ALLOWED_DUNDER_DEFINITIONS:
            return
        raise StaticRefusal(f"Forbidden name '{name}': names starting with '__' are not allowed", node)

    def check_binding(self, name: str, node: ast.AST, scope: str | None = None) -> None:
        """Tools and ``final_answer`` cannot be rebound at module level."""
        if (scope or self.scope) == "module":
            self.module_names.add(name)
        if (scope or self.scope) == "module" and name in self.protected:
            raise StaticRefusal(_rebinding_message(name), node, security=False)

    def walrus_allowed(self) -> bool:
        """``:=`` must bind in a function scope and never inside a comprehension's iterable."""
        if self.iterable_depth:
            return False
        binding = next(kind for kind, _ in reversed(self.scopes) if kind != "comprehension")
        return binding in ("function", "lambda") or (binding == "module" and self.as_function)

    def temp(self) -> str:
        self.temp_counter += 1
        return f"__sb_t{self.temp_counter}__"

    def cleanup(self, names: list[str]) -> list[ast.stmt]:
        if self.scope == "class":
            return [ast.Delete(targets=[ast.Name(id=name, ctx=ast.Del()) for name in names])]
        return []

    # ------------------------------------------------------------------ module
    def visit_Module(self, node: ast.Module) -> ast.Module:
        kept: list[ast.stmt] = []
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
                for alias in statement.names:
                    feature = getattr(__future__, alias.name, None)
                    if feature is None:
                        raise StaticRefusal(f"future feature {alias.name} is not defined", statement, False)
                    self.future_flags |= feature.compiler_flag
                continue
            kept.append(statement)
        node.body = self.body(kept)
        return node

    # ------------------------------------------------------------------ names
    def visit_Name(self, node: ast.Name) -> ast.Name:
        self.check_name(node.id, node, load=isinstance(node.ctx, ast.Load))
        if not isinstance(node.ctx, ast.Load):
            self.check_binding(node.id, node)
        return node

    def visit_NamedExpr(self, node: ast.NamedExpr) -> ast.NamedExpr:
        self.check_name(node.target.id, node)
        binding_scope = next(kind for kind, _ in reversed(self.scopes) if kind != "comprehension")
        self.check_binding(node.target.id, node, binding_scope)
        node.value = self.visit(node.value)
        return node

    def visit_Global(self, node: ast.Global) -> ast.Global:
        for name in node.names:
            self.check_name(name, node)
            if name in self.protected:
                raise StaticRefusal(_rebinding_message(name), node, False)
        return node

    def visit_Nonlocal(self, node: ast.Nonlocal) -> ast.Nonlocal:
        for name in node.names:
            self.check_name(name, node)
        return node

    # ------------------------------------------------------------------ attributes
    def attribute_getter(self, attr: str, node: ast.AST) -> str:
        if attr.startswith("__"):
            if attr in ALLOWED_DUNDER_ACCESS:
                return "__sb_dga__"
            raise StaticRefusal(f"Forbidden access to dunder attribute '{attr}'", node)
        if attr.startswith("_"):
            return "__sb_pga__"
        if attr in BLOCKED_ATTRIBUTES:
            raise StaticRefusal(f"Forbidden access to attribute '{attr}'", node)
        return "__sb_gas__" if attr in SPECIAL_ATTRIBUTES else "__sb_ga__"

    def attribute_setter(self, attr: str, node: ast.AST) -> str:
        if attr.startswith("__") or attr in BLOCKED_ATTRIBUTES:
            raise StaticRefusal(f"Forbidden assignment to attribute '{attr}'", node)
        return "__sb_psa__" if attr.startswith("_") else "__sb_sa__"

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        value = self.visit(node.value)
        attr = self.mangle(node.attr)
        if isinstance(node.ctx, ast.Load):
            getter = self.attribute_getter(attr, node)
            guarded = ast.copy_location(call(getter, value, ast.Constant(attr)), node)
            if getter not in ("__sb_ga__", "__sb_pga__"):
                return guarded
            # inline fast path: plain values and sandbox-made objects need no guard
            table = "__sb_pfast__" if getter == "__sb_pga__" else "__sb_fast__"
            if isinstance(value, ast.Name):
                native = ast.Attribute(value=load(value.id), attr=attr, ctx=ast.Load())
                guess = "__sb_module__" if value.id in self.module_like else GUESSED_RECEIVERS.get(attr)
                test = guessed_fast_test(load(value.id), load(value.id), guess, table)
                return ast.copy_location(ast.IfExp(test=test, body=native, orelse=guarded), node)
            if self.walrus_allowed():
                # chains (``self.items.append``): name the receiver once with ``:=``
                named = ast.NamedExpr(target=store("__sb_r__"), value=value)
                receiver_test = (
                    super_test(named, table, self.first_parameters[-1] if self.first_parameters else None)
                    if is_super_call(value)
                    else guessed_fast_test(named, load("__sb_r__"), GUESSED_RECEIVERS.get(attr), table)
                )
                native = ast.Attribute(value=load("__sb_r__"), attr=attr, ctx=ast.Load())
                guarded = call(getter, load("__sb_r__"), ast.Constant(attr))
                return ast.copy_location(ast.IfExp(test=receiver_test, body=native, orelse=guarded), node)
            return guarded
        self.attribute_setter(attr, node)
        view = ast.copy_location(call("__sb_av__", value), node)
        return ast.copy_location(ast.Subscript(value=view, slice=ast.Constant(attr), ctx=node.ctx), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.FormattedValue:
        node.value = self.visit(node.value)
        spec = node.format_spec
        if spec is None:
            return node
        parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
        if all(isinstance(part, ast.Constant) for part in parts) and spec_is_small(
            "".join(str(part.value) for part in parts if isinstance(part, ast.Constant))
        ):
            return node
        spec = self.visit(spec)
        checked = call("__sb_fstr__", node.value, ast.Constant(node.conversion), spec)
        return ast.copy_location(ast.FormattedValue(value=checked, conversion=-1, format_spec=None), node)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        for keyword in node.keywords:
            if keyword.arg is not None and keyword.arg.startswith("__"):
                raise StaticRefusal(f"Forbidden keyword argument '{keyword.arg}'", node)
        node = self.generic_visit(node)  # type: ignore[assignment]
        if isinstance(node.func, ast.Name) and node.func.id in self.direct_builtins:
            # the builtin itself (the code never rebinds the name): call its checked maker
            # directly, without the stand-in class's constructor dispatch
            node.func = ast.copy_location(load(self.direct_builtins[node.func.id]), node.func)
        for keyword in node.keywords:
            if keyword.arg is None:  # ``f(**mapping)``: the same rule for keys chosen at run time
                keyword.value = ast.copy_location(call("__sb_kwargs__", keyword.value), keyword.value)
        func = node.func
        if not (
            isinstance(func, ast.IfExp)
            and isinstance(func.body, ast.Attribute)
            and isinstance(func.orelse, ast.Call)
            and isinstance(func.orelse.func, ast.Name)
            and func.orelse.func.id in ("__sb_ga__", "__sb_pga__")
            and _small([*node.args, *node.keywords])
        ):
            return node
        # ``obj.method(args)`` on a fast receiver: call the method directly, so CPython keeps
        # its method-call fast path (no bound method object); the arguments are evaluated
        # in exactly one of the two branches
        native = ast.Call(func=func.body, args=node.args, keywords=node.keywords)
        guarded = ast.Call(
            func=func.orelse, args=copy.deepcopy(node.args), keywords=copy.deepcopy(node.keywords)
        )
        return ast.copy_location(ast.IfExp(test=func.test, body=native, orelse=guarded), node)

    # ------------------------------------------------------------------ functions & classes
    def visit_arguments(self, node: ast.arguments) -> ast.arguments:
        for arg in [*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg]:
            if arg is None:
                continue
            if arg.arg.startswith("__"):
                raise StaticRefusal(f"Forbidden parameter name '{arg.arg}'", arg)
            if arg.annotation is not None:
                arg.annotation = self.visit(arg.annotation)
        node.defaults = [self.visit(default) for default in node.defaults]
        node.kw_defaults = [None if d is None else self.visit(d) for d in node.kw_defaults]
        return node

    def check_definition(self, name: str, node: ast.AST) -> None:
        if name.startswith("__") and not (self.scope == "class" and name in ALLOWED_DUNDER_DEFINITIONS):
            raise StaticRefusal(
                f"Defining '{name}' is not allowed in the sandbox"
                + (
                    " (the host would run it later)"
                    if name in ("__del__", "__reduce__", "__reduce_ex__")
                    else ""
                ),
                node,
            )
        self.check_binding(name, node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.check_definition(node.name, node)
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.args = self.visit_arguments(node.args)
        if node.returns is not None:
            node.returns = self.visit(node.returns)
        for param in getattr(node, "type_params", []) or []:
            self.visit(param)
        stable = stable_parameters(node)
        self.scopes.append(("function", ""))
        self.declared.append(declared_names(node))
        positional = [*node.args.posonlyargs, *node.args.args]
        self.first_parameters.append(positional[0].arg if positional else None)
        statements = self.body(node.body)
        self.first_parameters.pop()
        self.declared.pop()
        self.scopes.pop()
        docstring = (
            statements[:1]
            if statements
            and isinstance(statements[0], ast.Expr)
            and isinstance(statements[0].value, ast.Constant)
            and isinstance(statements[0].value.value, str)
            else []
        )
        rest = drop_tail_resume_ticks(hoist_receiver_checks(statements[len(docstring) :], stable))
        node.body = [*docstring, ast.copy_location(gate_statement(), node), *rest]
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.Lambda:
        node.args = self.visit_arguments(node.args)
        self.scopes.append(("lambda", ""))
        self.first_parameters.append(None)  # a lambda has no ``__class__`` cell: no zero-argument super
        body = self.visit(node.body)
        self.first_parameters.pop()
        self.scopes.pop()
        guard = ast.BoolOp(op=ast.And(), values=[gate_test(), call("__sb_gate__")])
        node.body = ast.copy_location(ast.BoolOp(op=ast.Or(), values=[guard, body]), node.body)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        self.check_definition(node.name, node)
        for keyword in node.keywords:
            if keyword.arg == "metaclass":
                raise StaticRefusal("Custom metaclasses are not allowed in the sandbox", node)
        node.bases = [self.visit(base) for base in node.bases]
        node.keywords = [self.visit(keyword) for keyword in node.keywords]
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        for param in getattr(node, "type_params", []) or []:
            self.visit(param)
        self.scopes.append(("class", node.name))
        node.body = self.body(node.body)
        self.scopes.pop()
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.keyword:
        node.value = self.visit(node.value)
        return node

    def visit_Return(self, node: ast.Return) -> ast.Return:
        if self.scope == "module":
            raise StaticRefusal("SyntaxError: 'return' outside function", node, security=False)
        return self.generic_visit(node)  # type: ignore[return-value]

    def outside_function(self, node: ast.AST) -> None:
        if all(kind in ("module", "class", "comprehension") for kind, _ in self.scopes):
            raise StaticRefusal("SyntaxError: 'yield' outside function", node, security=False)

    # ------------------------------------------------------------------ generators
    def visit_Expr(self, node: ast.Expr) -> Any:
        if isinstance(node.value, (ast.Yield, ast.YieldFrom)):
            self.outside_function(node)
            if node.value.value is not None:
                node.value.value = self.visit(node.value.value)
            return [node, mark_resume_tick(ast.copy_location(gate_statement(), node))]
        node.value = self.visit(node.value)
        return node

    def visit_Yield(self, node: ast.Yield) -> ast.expr:
        self.outside_function(node)
        if node.value is not None:
            node.value = self.visit(node.value)
        return ast.copy_location(call("__sb_resume__", node), node)

    def visit_YieldFrom(self, node: ast.YieldFrom) -> ast.expr:
        self.outside_function(node)
        node.value = self.visit(node.value)
        return ast.copy_location(call("__sb_resume__", node), node)

    def comprehension(self, node: Any, elements: list[str]) -> Any:
        generators = node.generators
        ranged = self.comprehension_ranges(generators)
        flags: list[tuple[str, ast.expr, ast.comprehension]] = []
        out: list[ast.comprehension] = []
        for index, generator in enumerate(generators):
            if generator.is_async:
                raise StaticRefusal("async comprehensions are not supported in the sandbox", node, False)
            self.iterable_depth += 1
            generator.iter = iterated(self.visit(generator.iter))
            self.iterable_depth -= 1
            if index in ranged:
                self.comprehension_range_flag(ranged[index], generator, flags, out)
            if index == 0:
                self.scopes.append(("comprehension", ""))
            generator.target = self.visit(generator.target)
            ifs = [self.visit(condition) for condition in generator.ifs]
            if self.in_function():
                generator.ifs = [tick_condition(), *ifs]
            else:
                generator.iter, generator.ifs = ticked(generator.iter), ifs
            out.append(generator)
        for field in elements:
            setattr(node, field, self.visit(getattr(node, field)))
        fold_comprehension(node, elements, flags, out)
        self.scopes.pop()
        return node

    def visit_ListComp(self, node: ast.ListComp) -> Any:
        return self.comprehension(node, ["elt"])

    def visit_SetComp(self, node: ast.SetComp) -> Any:
        return self.comprehension(node, ["elt"])

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> Any:
        return self.comprehension(node, ["elt"])

    def visit_DictComp(self, node: ast.DictComp) -> Any:
        return self.comprehension(node, ["key", "value"])

    # ------------------------------------------------------------------ control flow
    def in_function(self) -> bool:
        """Inside a function, loops may be short and entered often (``for d in range(2, k)``
        in a helper called per item): a tick statement per iteration costs nothing on entry.
        At module level loops run once per call and are long: drawing ticks at C speed with
        ``compress`` costs a little on entry and much less per iteration."""
        return any(kind in ("function", "lambda") for kind, _ in self.scopes)

    def visit_For(self, node: ast.For) -> Any:
        variable = self.range_variable(node)
        node.target = self.visit(node.target)
        node.iter = self.visit(node.iter)
        counted = counted_range(node.iter)
        node.iter = iterated(node.iter)
        ranged = real_range(node.iter)
        prelude: list[ast.stmt] = []
        flag = None
        if variable is not None and ranged:
            flag, prelude = self.range_flag(node, *variable)  # may bind the range to a name
        if self.in_function() and ranged and innermost(node.body):
            # a range loop with no loop inside: a short range (a constant one, or one found
            # short on entry) runs behind the gate; its iterations are bounded by the call's
            # time, as calls are, and the loops around it are counted
            if counted:
                node.iter = short_or_ticked(node.iter, self.temp())
            node.body = [ast.copy_location(gate_statement(), node), *self.body(node.body)]
        elif self.in_function() and not counted:
            node.body = [ast.copy_location(tick_statement(), node), *self.body(node.body)]
        else:
            node.iter = ticked(node.iter)
            node.body = self.body(node.body)
        if flag is not None:
            node.body = fold_int_guards(node.body, variable[0], flag)  # type: ignore[index]
            prelude = drop_unread_flag(prelude, flag, node.body)
        node.orelse = self.body(node.orelse)
        return [*prelude, node] if prelude else node

    def visit_While(self, node: ast.While) -> ast.stmt:
        node.test = self.visit(node.test)
        node.body = self.body(node.body)
        node.orelse = self.body(node.orelse)
        if node.orelse:  # ``break`` in the else clause belongs to an enclosing loop: keep it a while
            node.body = [ast.copy_location(tick_statement(), node), *node.body]
            return node
        # ``while test: body`` as ``for _ in ticks: if not test: break; body``: one C-level tick
        # per iteration instead of a call
        stop = ast.If(test=ast.UnaryOp(op=ast.Not(), operand=node.test), body=[ast.Break()], orelse=[])
        loop = ast.For(
            target=store("__sb_w__"),
            iter=load("__sb_tk__"),
            body=[ast.copy_location(stop, node.test), *node.body],
            orelse=[],
            type_comment=None,
        )
        return ast.copy_location(loop, node)

    def visit_With(self, node: ast.With) -> ast.With:
        for item in node.items:
            item.context_expr = ast.copy_location(call("__sb_with__", self.visit(item.context_expr)), node)
            if item.optional_vars is not None:
                item.optional_vars = self.visit(item.optional_vars)
        node.body = self.body(node.body)
        return node

    def catches_only_exceptions(self, kind: ast.expr | None) -> bool:
        """``except`` clauses naming builtin ``Exception`` subclasses the code never rebinds
        (module-level rebinding of builtins is refused, so no earlier call did either)."""
        names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
        return all(
            isinstance(name, ast.Name) and name.id in EXCEPTION_NAMES and name.id not in self.bound
            for name in names
        )

    def visit_Try(self, node: ast.Try) -> ast.Try:
        node.body = self.body(node.body)
        for handler in node.handlers:
            if handler.type is not None:
                handler.type = self.visit(handler.type)
            if handler.name is not None:
                self.check_name(handler.name, handler)
                self.check_binding(handler.name, handler)
            if self.catches_only_exceptions(handler.type):
                # ``except ValueError:`` cannot catch the sandbox's BaseException signals:
                # the gate (stopping, use outside a call) is all the handler needs
                first: ast.stmt = ast.copy_location(gate_statement(), handler)
            else:
                first = ast.copy_location(ast.Expr(call("__sb_rethrow__")), handler)
            handler.body = [first, *self.body(handler.body)]
        node.orelse = self.body(node.orelse)
        if node.finalbody:
            rethrow = ast.copy_location(ast.Expr(call("__sb_rethrow__")), node.finalbody[0])
            node.finalbody = [rethrow, *self.body(node.finalbody)]
        return node


#: builtins (stand-in classes) whose plain calls can skip the class: name -> maker helper
_DIRECT_BUILTINS = {"range": "__sb_range__"}


def rewrite(tree: ast.Module, protected: frozenset[str], as_function: bool = True) -> tuple[ast.Module, int]:
    """Rewrite ``tree`` in place; returns it with the ``__future__`` compiler flags it asked for.

    With ``as_function`` the module body is wrapped in ``def __sb_main__()`` that declares
    every module-level name ``global``: same semantics, but names resolve with CPython's
    specialised global lookups instead of the slow module-level ``LOAD_NAME``.
    """
    rewriter = _Rewriter(protected)
    rewriter.as_function = as_function
    rewriter.module_like.update(
        (alias.asname or alias.name.split(".")[0])
        for sub in ast.walk(tree)
        if isinstance(sub, ast.Import)
        for alias in sub.names
    )
    rewriter.bound = bound_names(tree)
    rewriter.direct_builtins = {
        name: helper for name, helper in _DIRECT_BUILTINS.items() if name not in rewriter.bound
    }
    tree = rewriter.visit(tree)
    if as_function and tree.body:
        body: list[ast.stmt] = list(tree.body)
        if rewriter.module_names:
            body.insert(0, ast.Global(names=sorted(rewriter.module_names)))
        main = ast.FunctionDef(
            name="__sb_main__",
            args=ast.arguments(
                posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
            ),
            body=body,
            decorator_list=[],
            returns=None,
            type_params=[],  # type: ignore[call-arg]  # a field since Python 3.12 (mypy targets 3.10)
        )
        ast.copy_location(main, tree.body[0])
        run_main = ast.copy_location(ast.Expr(call("__sb_main__")), tree.body[-1])
        tree.body = [main, run_main]
    ast.fix_missing_locations(tree)
    return tree, rewriter.future_flags
