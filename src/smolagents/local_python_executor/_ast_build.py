"""AST builders, static checks and the ``match``/``import`` rules of the rewriter (``_transform``)."""

from __future__ import annotations

import ast
import builtins
from typing import Any

from ._policy import BLOCKED_ATTRIBUTES
from ._special import SPECIAL_ATTRIBUTES

__all__ = [
    "CHECKED_BINOPS",
    "CHECKED_INPLACE",
    "EXCEPTION_NAMES",
    "GUESSED_RECEIVERS",
    "MATCH_ACCESSORS",
    "MODULE_LIKE_NAMES",
    "OPERATOR_NODES",
    "PLAIN_NODES",
    "REFUSED_NODES",
    "MatchAndImportRules",
    "StaticRefusal",
    "call",
    "fast_test",
    "fused_int_test",
    "gate_statement",
    "gate_test",
    "guessed_fast_test",
    "inline_safe_test",
    "int_tree_test",
    "is_super_call",
    "load",
    "spec_is_small",
    "store",
    "super_test",
    "tick_condition",
    "tick_statement",
    "tick_test",
]

REFUSED_NODES = {
    "AsyncFunctionDef": "async functions (async def) are not supported in the sandbox; write a regular function",
    "AsyncFor": "'async for' is not supported in the sandbox",
    "AsyncWith": "'async with' is not supported in the sandbox",
    "Await": "'await' is not supported in the sandbox",
    "TryStar": "'except*' (exception groups) is not supported in the sandbox; use a plain 'except'",
}

PLAIN_NODES = frozenset(
    {
        "Expr",
        "Pass",
        "Break",
        "Continue",
        "Return",
        "If",
        "Assert",
        "Raise",
        "Delete",
        "BoolOp",
        "UnaryOp",
        "IfExp",
        "Dict",
        "Set",
        "List",
        "Tuple",
        "Starred",
        "Compare",
        "Constant",
        "Subscript",
        "Slice",
        "Index",
        "JoinedStr",
        "withitem",
        "match_case",
        "MatchValue",
        "MatchSingleton",
        "MatchSequence",
        "MatchOr",
        "type_ignore",
        "TypeAlias",
        "TypeVar",
        "ParamSpec",
        "TypeVarTuple",
    }
)
OPERATOR_NODES = (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)

CHECKED_BINOPS = {
    ast.Mult: "__sb_mul__",
    ast.Pow: "__sb_pow__",
    ast.LShift: "__sb_lshift__",
    ast.Mod: "__sb_mod__",
    ast.FloorDiv: "__sb_floordiv__",
}
CHECKED_INPLACE = {
    ast.Add: "__sb_iadd__",  # only lists take the helper (see ``_Rewriter.inplace``)
    ast.Mult: "__sb_imul__",
    ast.Pow: "__sb_ipow__",
    ast.LShift: "__sb_ilshift__",
    ast.Mod: "__sb_imod__",
    ast.FloorDiv: "__sb_ifloordiv__",
}
#: ``int % d`` / ``int // d`` is linear when ``d`` is one CPython digit (below 2**30).
_ONE_DIGIT = 1 << 30
#: f-string format specs with no number above this stay native (checked at compile time).
_STATIC_SPEC_LIMIT = 100_000


class StaticRefusal(Exception):
    """The code was refused before running; ``security`` tells the error class."""

    def __init__(self, message: str, node: ast.AST | None, security: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = getattr(node, "lineno", None)
        self.security = security


def load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def store(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Store())


def call(helper: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=load(helper), args=list(args), keywords=[])


#: The receiver type a method name suggests (``x.append`` -> list), by the builtins name
#: of the type. ``type(x) is list or type(x) in __sb_fast__`` answers a right guess by
#: identity instead of a set lookup, and a wrong one costs one more ``is``. A guess must be
#: a type whose attribute of that name the guard would hand out unchanged: the plain value
#: and date types (always fast), or ``re.Match`` for its group accessors.
#: ``re.Match`` attributes the guard hands out unchanged (see ``GUESSED_RECEIVERS``)
MATCH_ACCESSORS = ("group", "groups", "groupdict", "span", "start", "end")
_STR_METHODS = (
    "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith",
    "endswith", "isdigit", "isalpha", "isalnum", "isspace", "title", "capitalize", "casefold",
    "partition", "rpartition", "removeprefix", "removesuffix", "encode",
)  # fmt: skip
GUESSED_RECEIVERS: dict[str, str] = {
    **dict.fromkeys(("append", "insert", "sort", "reverse"), "__sb_list__"),
    **dict.fromkeys(("get", "items", "keys", "values", "setdefault"), "__sb_dict__"),
    **dict.fromkeys(_STR_METHODS, "__sb_str__"),
    **dict.fromkeys(("add", "discard"), "__sb_set__"),
    **dict.fromkeys(("weekday", "isoweekday", "isoformat", "toordinal", "isocalendar"), "__sb_date__"),
    # not a fast type (``m.re`` is the raw pattern), but these accessors return plain values
    **dict.fromkeys(MATCH_ACCESSORS, "__sb_match__"),
}


#: Names agent code commonly binds to modules (also across calls: ``import math`` in one
#: step, ``math.sqrt`` in the next): ``type(math) is <module proxy>`` is tried first.
MODULE_LIKE_NAMES = frozenset(
    {
        "math", "re", "json", "datetime", "random", "statistics", "itertools", "collections", "functools",
        "operator", "string", "time", "decimal", "fractions", "heapq", "bisect", "unicodedata", "textwrap",
        "csv", "np", "numpy", "pd", "pandas", "cmath", "copy", "calendar", "zoneinfo", "hashlib", "base64",
    }
)  # fmt: skip


def guessed_fast_test(first: ast.expr, again: ast.expr, guess: str | None, table: str) -> ast.expr:
    """The fast-receiver test, with a guessed type (a builtins name) tried first by identity.

    ``first`` evaluates the receiver (it may bind it with ``:=``), ``again`` reads it."""
    if guess is None or table != "__sb_fast__":
        return ast.Compare(left=call("__sb_type__", first), ops=[ast.In()], comparators=[load(table)])
    is_guess = ast.Compare(left=call("__sb_type__", first), ops=[ast.Is()], comparators=[load(guess)])
    in_table = ast.Compare(left=call("__sb_type__", again), ops=[ast.In()], comparators=[load(table)])
    return ast.BoolOp(op=ast.Or(), values=[is_guess, in_table])


def fast_test(owner: str, private: bool) -> ast.Compare:
    """``__sb_type__(owner) in __sb_fast__``: receivers whose attributes need no guard."""
    table = "__sb_pfast__" if private else "__sb_fast__"
    return ast.Compare(left=call("__sb_type__", load(owner)), ops=[ast.In()], comparators=[load(table)])


def ticked(iterable: ast.expr) -> ast.Call:
    """``compress(iterable, __sb_tk__)``: the same items, one loop tick drawn per item at C
    speed (the tick stream runs the slow-path checks every chunk and stops when tripped)."""
    return ast.copy_location(call("__sb_compress__", iterable, load("__sb_tk__")), iterable)


def tick_test() -> ast.Call:
    return call("__sb_next__", load("__sb_it__"), ast.Constant(True))


def tick_statement() -> ast.If:
    return ast.If(test=tick_test(), body=[ast.Expr(call("__sb_slow__"))], orelse=[])


def gate_test() -> ast.Name:
    return load("__sb_halt__")


def gate_statement() -> ast.If:
    """``if __sb_halt__: __sb_gate__()``: the check at function entries, between calling
    statements and after ``yield``. One global load while nothing is wrong; the runtime sets
    the flag to stop the call, to refuse code run outside one, and every few milliseconds
    for the periodic checks (see ``Runtime.gate``). Unlike a tick it counts nothing: loops
    are what ``max_operations`` counts."""
    return ast.If(test=gate_test(), body=[ast.Expr(call("__sb_gate__"))], orelse=[])


def tick_condition() -> ast.BoolOp:
    """Always true; used as the first ``if`` of each comprehension clause."""
    return ast.BoolOp(
        op=ast.Or(), values=[ast.UnaryOp(op=ast.Not(), operand=tick_test()), call("__sb_slowt__")]
    )


def _simple(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) or (isinstance(node, ast.Constant) and type(node.value) in (int, float))


def _is_int(operand: ast.expr) -> ast.Compare:
    """``type(x) is int`` with the real ``int`` (user code may bind a local named ``int``)."""
    return ast.Compare(left=call("__sb_type__", operand), ops=[ast.Is()], comparators=[load("__sb_int__")])


def _one_digit(operand: ast.expr) -> ast.Compare:
    return ast.Compare(
        left=ast.Constant(-_ONE_DIGIT),
        ops=[ast.Lt(), ast.Lt()],
        comparators=[operand, ast.Constant(_ONE_DIGIT)],
    )


def _small_int_constant(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and abs(node.value) < _ONE_DIGIT


def _float_constant(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is float


def inline_safe_test(op: ast.operator, left: ast.expr, right: ast.expr, first_left: ast.expr) -> Any:
    """An inline condition under which the native operator is safe (True: always; None:
    always use the helper).

    ``left`` and ``right`` are names or constants (the rewriter names any other left operand
    with ``:=``; ``first_left`` is that operand's first use in the test, which binds it). The
    native path covers one-digit ints (``|x| < 2**30``: products, remainders and small
    powers of them are cheap) and float constants; everything else calls the checked helper.
    """
    if isinstance(op, (ast.Mult, ast.Pow, ast.FloorDiv)) and (
        _float_constant(left) or _float_constant(right)
    ):
        return True  # float arithmetic cannot allocate or run long
    if not _simple(right) or not (_simple(left) or isinstance(first_left, ast.NamedExpr)):
        return None
    if isinstance(op, (ast.Mod, ast.FloorDiv)) and not isinstance(left, ast.Constant):
        # an int on the left is never string formatting; the division is linear when the
        # divisor is a one-digit constant, or the dividend is small
        if _small_int_constant(right) or _float_constant(right):
            return _is_int(first_left)
        return ast.BoolOp(op=ast.And(), values=[_is_int(first_left), _one_digit(left)])
    if isinstance(op, ast.Pow):
        exponent = right.value if isinstance(right, ast.Constant) else None
        if isinstance(left, ast.Constant) or type(exponent) is not int or not 0 <= exponent <= 8:
            return None
        return ast.BoolOp(op=ast.And(), values=[_is_int(first_left), _one_digit(left)])
    if isinstance(op, ast.Mult):
        checks: list[ast.expr] = []
        for operand, first in ((left, first_left), (right, right)):
            if isinstance(operand, ast.Constant):
                if not _small_int_constant(operand):
                    return None
                continue
            if operand is right and isinstance(left, ast.Name) and left.id == getattr(right, "id", None):
                continue  # ``x * x``: one check
            checks += [_is_int(first), _one_digit(operand)]
        if not checks:
            return None
        return checks[0] if len(checks) == 1 else ast.BoolOp(op=ast.And(), values=checks)
    return None


#: a fused expression's integers stay below this many bits (every operation on them is cheap)
_FUSED_BITS = 4096


def _int_bits(node: ast.expr, names: list[str]) -> int | None:
    """Bits an int arithmetic tree can reach when every name in it holds a one-digit int
    (None: not such a tree). Collects the names, in order, into ``names``."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        if node.id not in names:
            names.append(node.id)
        return 30
    if _small_int_constant(node):
        return 30
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _int_bits(node.operand, names)
    if not isinstance(node, ast.BinOp):
        return None
    if isinstance(node.op, ast.Pow):
        exponent = node.right.value if isinstance(node.right, ast.Constant) else None
        if type(exponent) is not int or not 0 <= exponent <= 8:
            return None
        base = _int_bits(node.left, names)
        return None if base is None else max(base * exponent, 1)
    if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Mod, ast.FloorDiv)):
        return None
    left, right = _int_bits(node.left, names), _int_bits(node.right, names)
    if left is None or right is None:
        return None
    if isinstance(node.op, ast.Mult):
        return left + right
    if isinstance(node.op, ast.Mod):
        return right  # |a % b| < |b|
    if isinstance(node.op, ast.FloorDiv):
        return left
    return max(left, right) + 1


def _checked_add(node: ast.BinOp) -> bool:
    """``a + b`` of two non-constants: its result is length-checked unless fused."""
    return isinstance(node.op, ast.Add) and not (
        isinstance(node.left, ast.Constant) or isinstance(node.right, ast.Constant)
    )


def fused_int_test(node: ast.BinOp) -> ast.expr | None:
    """One inline test under which a whole arithmetic expression over names and small int
    constants runs natively (``i * i % 7``, ``(a * b + c) // d``): every name holds a
    one-digit int, so no intermediate can grow past a few thousand bits. None when the
    expression is not such a tree or nothing in it would be checked anyway."""
    checked = [
        sub
        for sub in ast.walk(node)
        if isinstance(sub, ast.BinOp) and (type(sub.op) in CHECKED_BINOPS or _checked_add(sub))
    ]
    if len(checked) < 2:
        return None  # one operation: its own inline test is as cheap or cheaper
    return int_tree_test(node)


def int_tree_test(node: ast.expr) -> ast.expr | None:
    """The inline test under which ``node``, an arithmetic tree over names and small int
    constants, evaluates natively to an int of at most a few thousand bits (None: not
    such a tree)."""
    names: list[str] = []
    bits = _int_bits(node, names)
    if bits is None or bits > _FUSED_BITS or not names:
        return None
    tests: list[ast.expr] = []
    for name in names:
        tests += [_is_int(load(name)), _one_digit(load(name))]
    return ast.BoolOp(op=ast.And(), values=tests)


def spec_is_small(spec: str) -> bool:
    digits = ""
    for char in spec + " ":
        if char.isdigit():
            digits += char
            continue
        if digits and (len(digits) > 6 or int(digits) > _STATIC_SPEC_LIMIT):
            return False
        digits = ""
    return True


class MatchAndImportRules:
    """Part of the rewriter: ``match`` patterns and ``import`` statements."""

    match_prelude: list[ast.stmt]

    # provided by the rewriter class
    def visit(self, node: ast.AST) -> Any:
        raise NotImplementedError

    def body(self, statements: list[ast.stmt]) -> list[ast.stmt]:
        raise NotImplementedError

    def check_name(self, name: str, node: ast.AST, load: bool = False) -> None:
        raise NotImplementedError

    def check_binding(self, name: str, node: ast.AST, scope: str | None = None) -> None:
        raise NotImplementedError

    def temp(self) -> str:
        raise NotImplementedError

    def cleanup(self, names: list[str]) -> list[ast.stmt]:
        raise NotImplementedError

    def visit_Match(self, node: ast.Match) -> Any:
        node.subject = self.visit(node.subject)
        outer, self.match_prelude = self.match_prelude, []
        for case in node.cases:
            case.pattern = self.visit(case.pattern)
        prelude, self.match_prelude = self.match_prelude, outer
        for case in node.cases:
            if case.guard is not None:
                case.guard = self.visit(case.guard)
            case.body = self.body(case.body)
        if not prelude:
            return node
        names = [statement.targets[0].id for statement in prelude]  # type: ignore[attr-defined]
        return [*(ast.copy_location(s, node) for s in prelude), node, *self.cleanup(names)]

    def visit_MatchValue(self, node: ast.MatchValue) -> ast.MatchValue:
        if not isinstance(node.value, ast.Attribute):
            node.value = self.visit(node.value)
            return node
        # ``case Color.RED:`` must stay a dotted name: evaluate it (guarded) before the match
        # into a holder, and match against ``holder.v``
        holder = self.temp()
        value = call("__sb_holder__", self.visit(node.value))
        self.match_prelude.append(ast.Assign(targets=[store(holder)], value=value))
        node.value = ast.Attribute(value=load(holder), attr="v", ctx=ast.Load())
        return node

    def capture(self, name: str | None, node: ast.AST) -> None:
        if name is not None:
            self.check_name(name, node)
            self.check_binding(name, node)

    def visit_MatchAs(self, node: ast.MatchAs) -> ast.MatchAs:
        self.capture(node.name, node)
        if node.pattern is not None:
            node.pattern = self.visit(node.pattern)
        return node

    def visit_MatchStar(self, node: ast.MatchStar) -> ast.MatchStar:
        self.capture(node.name, node)
        return node

    def visit_MatchMapping(self, node: ast.MatchMapping) -> ast.MatchMapping:
        self.capture(node.rest, node)
        node.keys = [self.visit(key) for key in node.keys]
        node.patterns = [self.visit(pattern) for pattern in node.patterns]
        return node

    def visit_MatchClass(self, node: ast.MatchClass) -> ast.MatchClass:
        """``case C(p, k=q)``: CPython reads the attributes natively, bypassing the guard.

        The class expression is evaluated (guarded) before the ``match`` into a holder, as
        ``__sb_mcls__(C, n_positional, keyword_names)``, which returns ``C`` when nothing is
        read, else a gate class whose ``isinstance`` vets the attributes (``__match_args__``
        entries included) before CPython reads them."""
        for attr in node.kwd_attrs:
            if attr.startswith("_") or attr in BLOCKED_ATTRIBUTES or attr in SPECIAL_ATTRIBUTES:
                raise StaticRefusal(f"Forbidden attribute '{attr}' in class pattern", node)
        holder = self.temp()
        gate = call(
            "__sb_mcls__",
            self.visit(node.cls),
            ast.Constant(len(node.patterns)),
            ast.Tuple(elts=[ast.Constant(attr) for attr in node.kwd_attrs], ctx=ast.Load()),
        )
        self.match_prelude.append(ast.Assign(targets=[store(holder)], value=gate))
        node.cls = load(holder)
        node.patterns = [self.visit(pattern) for pattern in node.patterns]
        node.kwd_patterns = [self.visit(pattern) for pattern in node.kwd_patterns]
        return node

    # ------------------------------------------------------------------ imports
    def check_module_name(self, module: str, node: ast.AST) -> None:
        if any(part.startswith("_") for part in module.split(".")):
            raise StaticRefusal(f"Import of private module '{module}' is not allowed", node)

    def visit_Import(self, node: ast.Import) -> list[ast.stmt]:
        statements: list[ast.stmt] = []
        for alias in node.names:
            self.check_module_name(alias.name, node)
            bound = alias.asname or alias.name.split(".")[0]
            self.check_name(bound, node)
            self.check_binding(bound, node)
            importer = call("__sb_import__", ast.Constant(alias.name), ast.Constant(alias.asname is not None))
            statements.append(ast.copy_location(ast.Assign(targets=[store(bound)], value=importer), node))
        return statements

    def visit_ImportFrom(self, node: ast.ImportFrom) -> list[ast.stmt]:
        if node.level:
            raise StaticRefusal("Relative imports are not allowed in the sandbox", node)
        module = node.module or ""
        self.check_module_name(module, node)
        statements: list[ast.stmt] = []
        for alias in node.names:
            if alias.name == "*":
                statements.append(ast.Expr(call("__sb_import_star__", ast.Constant(module))))
                continue
            if alias.name.startswith("_"):
                raise StaticRefusal(
                    f"Import of private name '{alias.name}' from '{module}' is not allowed", node
                )
            bound = alias.asname or alias.name
            self.check_name(bound, node)
            self.check_binding(bound, node)
            importer = call("__sb_import_from__", ast.Constant(module), ast.Constant(alias.name))
            statements.append(ast.Assign(targets=[store(bound)], value=importer))
        return [ast.copy_location(statement, node) for statement in statements]


#: builtin names of ``Exception`` subclasses: handlers for them never see ``SandboxAbort``
#: or ``FinalAnswerException`` (both ``BaseException`` only)
EXCEPTION_NAMES = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, Exception)
)


def is_super_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def super_test(named: ast.NamedExpr, table: str, first: str | None) -> ast.expr:
    """``super().method``: native when the instance's (or class's) own type is a fast type.
    ``super(C, obj)`` searches ``type(obj).__mro__`` after ``C``; a fast type's MRO holds only
    sandbox classes, ``object`` and plain builtins, which ``obj.attr`` reaches natively anyway.

    A zero-argument ``super()`` in a function whose first parameter is ``first`` is
    ``super(__class__, first)`` with ``first``'s current value: for an instance its
    ``__self_class__`` is ``type(first)``, which the hoister reads from the method's flag
    (for a class, ``type(first)`` is its metaclass, never fast: the guarded path)."""
    is_super = ast.Compare(
        left=call("__sb_type__", named), ops=[ast.Is()], comparators=[load("__sb_super__")]
    )
    if first is not None and not named.value.args and not named.value.keywords:  # type: ignore[attr-defined]
        fast = ast.Compare(left=call("__sb_type__", load(first)), ops=[ast.In()], comparators=[load(table)])
    else:
        self_class = ast.Attribute(value=load("__sb_r__"), attr="__self_class__", ctx=ast.Load())
        fast = ast.Compare(left=self_class, ops=[ast.In()], comparators=[load(table)])
    return ast.BoolOp(op=ast.And(), values=[is_super, fast])
