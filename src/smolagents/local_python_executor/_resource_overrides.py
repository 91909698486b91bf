"""Resource guards for builtins and base modules whose *single* C call can run away.

A tick cannot interrupt a C function, so whatever one call could do for too long, or too
deep, is estimated first and refused with a :class:`SandboxResourceError`:

* **iterator chains**: ``map``/``filter``/``zip``/``enumerate`` and the ``itertools``
  combinators call ``next`` on their input in C; a chain a million deep overflows the C
  stack (the process dies). Constructors measure the depth of the chain they extend
  (``__reduce__`` shows an iterator's inputs) and refuse past :data:`CHAIN_DEPTH_LIMIT`;
  ``chain.from_iterable`` becomes a generator, so lazily produced nesting is bounded by
  the recursion limit instead.
* **hash** of tuples: exponential on shared structures (``t = (t, t)``), stack overflow on
  deep ones; ``hash()`` walks the structure first (linear, shared nodes counted once).
* **quadratic integer functions**: ``math.gcd``/``lcm``/``isqrt``, ``round(n, -k)``.
* **size arguments** of ``random`` generators (including ``Random``/``SystemRandom``
  instances), ``statistics`` (pure Python: it never ticks, so inputs are bounded).
"""

from __future__ import annotations

import builtins
import itertools
import math
import operator
import random
import statistics
from collections.abc import Callable, Iterable, Iterator
from typing import Any, SupportsIndex

from ._limits import SandboxLimits, check_int_bits, check_int_work, check_length, resource_error
from ._ops import check_division
from ._runtime import Runtime

__all__ = [
    "CHAIN_DEPTH_LIMIT",
    "HASH_DEPTH_LIMIT",
    "HASH_NODE_LIMIT",
    "HASH_WORK_LIMIT",
    "ChainGuard",
    "builtin_overrides",
    "itertools_overrides",
    "math_overrides",
    "random_overrides",
    "statistics_overrides",
]

#: Nested C iterators allowed in one chain (about 100 bytes of C stack each; Python frames
#: in between are bounded by the recursion limit, so the product stays far below 8 MB).
CHAIN_DEPTH_LIMIT = 48
#: Tuple nesting and distinct-node budget for ``hash()``.
HASH_DEPTH_LIMIT = 1000
HASH_NODE_LIMIT = 1_000_000
HASH_WORK_LIMIT = 20_000_000
#: Values a ``statistics`` function may get (pure Python, about 1 us each, never ticks).
STATISTICS_MAX_ITEMS = 1_000_000
#: Integers wider than this make ``statistics``' exact fraction arithmetic quadratic.
STATISTICS_MAX_INT_BITS = 4096

_FLOAT_ONLY = {float}
_INT_KINDS = frozenset({int, bool})

#: itertools combinators whose constructors are depth-checked (``chain``/``cycle`` apart).
_COMBINATORS = (
    "islice",
    "accumulate",
    "compress",
    "dropwhile",
    "takewhile",
    "filterfalse",
    "starmap",
    "zip_longest",
    "pairwise",
    "groupby",
    "batched",
)
_CHAIN_TYPES: frozenset[type] = frozenset(
    {map, filter, zip, enumerate}
    | {getattr(itertools, name) for name in (*_COMBINATORS, "chain", "cycle") if hasattr(itertools, name)}
    | {type(next(itertools.groupby([1]))[1])}  # itertools._grouper
)


class ChainGuard:
    """Measures how deep a new C iterator would nest and refuses too deep chains."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def depth(self, args: Iterable[Any]) -> int:
        """1 + the deepest C iterator among ``args`` (0 for plain data and generators)."""
        memo: dict[int, int] = {}
        seen = [0]
        return 1 + max((self._depth(arg, memo, seen, 0) for arg in args), default=0)

    def _depth(self, obj: Any, memo: dict[int, int], seen: list[int], level: int) -> int:
        if type(obj) not in _CHAIN_TYPES:
            return 0
        key = id(obj)
        if key in memo:
            return memo[key]
        if level > CHAIN_DEPTH_LIMIT:
            self._refuse(level)
        seen[0] += 1
        if not seen[0] & 255:
            self.rt.tick()
        try:
            reduced = obj.__reduce__()
        except Exception:  # an iterator that cannot describe itself is a leaf
            reduced = ()
        inner = 0
        for part in reduced[1:]:
            for item in part if type(part) is tuple else (part,):
                if type(item) in _CHAIN_TYPES:
                    inner = max(inner, self._depth(item, memo, seen, level + 1))
                elif type(item) in (tuple, list) and len(item) < 4096 and _CHAIN_TYPES & set(map(type, item)):
                    for element in item:  # ``chain(a, b)`` keeps its inputs in a tuple
                        inner = max(inner, self._depth(element, memo, seen, level + 1))
                elif type(item).__name__ in ("tuple_iterator", "list_iterator"):
                    source = item.__reduce__()[1][0]
                    if len(source) < 4096 and _CHAIN_TYPES & set(map(type, source)):
                        for element in source:
                            inner = max(inner, self._depth(element, memo, seen, level + 1))
        memo[key] = inner + 1
        return inner + 1

    def _refuse(self, depth: int) -> None:
        resource_error(
            f"this iterator would nest more than {CHAIN_DEPTH_LIMIT} iterators (map/filter/zip/"
            "itertools...) deep; iterating it could overflow the interpreter's C stack. Build the "
            "pipeline with a loop or a list instead of nesting it",
            "max_recursion_depth",
        )

    def wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        """A checked constructor for the C iterator type or factory ``real``."""

        def construct(*args: Any, **kwargs: Any) -> Any:
            nested = any(type(arg) in _CHAIN_TYPES for arg in args) or any(
                type(value) in _CHAIN_TYPES for value in kwargs.values()
            )
            if nested and self.depth([*args, *kwargs.values()]) > CHAIN_DEPTH_LIMIT:
                self._refuse(CHAIN_DEPTH_LIMIT + 1)
            return real(*args, **kwargs)

        construct.__name__ = getattr(real, "__name__", "iterator")
        construct.__doc__ = getattr(real, "__doc__", None)
        return construct


# --------------------------------------------------------------------------- builtins


def _tuple_children(node: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    kinds = set(map(type, node))  # C speed: flat tuples cost one pass
    if tuple in kinds or any(issubclass(kind, tuple) for kind in kinds):
        return [item for item in node if isinstance(item, tuple)]
    return []


def _check_hashable_structure(root: tuple[Any, ...], runtime: Runtime) -> None:
    """Before ``hash`` recurses through nested tuples (re-hashing shared parts every time),
    count the work it would do and the depth it would reach, visiting shared parts once."""
    memo: dict[int, tuple[int, int]] = {}  # id -> (elements hashed below, depth below)
    stack: list[tuple[tuple[Any, ...], int, bool]] = [(root, 1, False)]
    while stack:
        node, level, done = stack.pop()
        key = id(node)
        if not done:
            if key in memo:
                continue
            if level > HASH_DEPTH_LIMIT:
                resource_error(
                    f"hash() of tuples nested more than {HASH_DEPTH_LIMIT} deep could overflow the C stack",
                    "max_recursion_depth",
                )
            if len(memo) + len(stack) > HASH_NODE_LIMIT:
                resource_error(f"hash() of more than {HASH_NODE_LIMIT} nested tuples", "max_operations")
            if not len(stack) & 1023:
                runtime.tick()
            stack.append((node, level, True))
            stack.extend(
                (child, level + 1, False) for child in _tuple_children(node) if id(child) not in memo
            )
            continue
        work, depth = len(node) + 1, 1
        for child in _tuple_children(node):
            child_work, child_depth = memo[id(child)]
            work += child_work
            depth = max(depth, child_depth + 1)
        if work > HASH_WORK_LIMIT or level + depth - 1 > HASH_DEPTH_LIMIT:
            resource_error(
                f"hash() of this tuple structure would hash about {work} nested items (shared parts are "
                f"re-hashed every time they appear; limit {HASH_WORK_LIMIT}) or nest {depth} deep",
                "max_operations",
            )
        memo[key] = (work, depth)


def builtin_overrides(runtime: Runtime, limits: SandboxLimits, guard: ChainGuard) -> dict[str, Any]:
    """Checked ``map``/``filter``/``zip``/``enumerate``, ``hash`` and ``round``."""
    real_hash = builtins.hash
    real_round = builtins.round
    digits_bits = math.log2(10)

    def hash_(value: Any, /) -> int:
        if isinstance(value, tuple) and _tuple_children(value):
            _check_hashable_structure(value, runtime)
        return real_hash(value)

    def round_(number: Any, ndigits: Any = None) -> Any:
        if ndigits is None or type(number) is float:
            return real_round(number, ndigits)
        places = operator.index(ndigits)
        if isinstance(number, int) and places < 0:
            power_bits = int(-places * digits_bits) + 1
            if power_bits > number.bit_length() + 2:
                return 0  # |number| < 10**-places / 2: rounds to zero, no power needed
            check_int_bits(power_bits, limits, f"round(x, {places})")
            check_division(number, 1 << power_bits, limits, f"round(x, {places})")
        elif not isinstance(number, int) and abs(places) * digits_bits > limits.max_int_bits:
            check_int_bits(int(abs(places) * digits_bits), limits, f"round(x, {places})")
        return real_round(number, ndigits)

    return {
        "map": guard.wrap(builtins.map),
        "filter": guard.wrap(builtins.filter),
        "zip": guard.wrap(builtins.zip),
        "enumerate": guard.wrap(builtins.enumerate),
        "hash": hash_,
        "round": round_,
    }


# --------------------------------------------------------------------------- modules


#: ``math.isqrt`` below this is cheap whatever the limits (a module constant: ``1 << 4096``
#: written inline is not folded by the compiler and would be rebuilt on every call)
_CHEAP_ISQRT = 1 << 4096
_CHEAP_INT = 1 << 62


def math_overrides(limits: SandboxLimits, runtime: Runtime) -> dict[str, Any]:
    """``gcd``/``lcm`` pairwise with cost checks and ticks; ``isqrt`` by operand size."""

    def pairwise_gcd_cost(a: int, b: int, what: str) -> None:
        small, large = sorted((abs(a).bit_length(), abs(b).bit_length()))
        check_int_work(small * large, limits, what, (large, small))

    real_gcd = math.gcd

    def gcd(*integers: Any) -> int:
        if len(integers) == 2:  # fast path: two machine-size ints are cheap whatever the limits
            a, b = integers
            if (
                type(a) is int
                and type(b) is int
                and -_CHEAP_INT < a < _CHEAP_INT
                and -_CHEAP_INT < b < _CHEAP_INT
            ):
                return real_gcd(a, b)
        values = [operator.index(value) for value in integers]
        result = 0
        for index, value in enumerate(values):
            if not index & 255:
                runtime.tick()
            pairwise_gcd_cost(result, value, "math.gcd()")
            result = math.gcd(result, value)
            if result == 1:
                return 1
        return result

    def lcm(*integers: Any) -> int:
        values = [operator.index(value) for value in integers]
        result = 1
        for index, value in enumerate(values):
            if not index & 255:
                runtime.tick()
            if value == 0:
                return 0
            pairwise_gcd_cost(result, value, "math.lcm()")
            common = math.gcd(result, value)
            check_int_bits(
                result.bit_length() + abs(value).bit_length() - common.bit_length() + 1, limits, "math.lcm()"
            )
            result = result // common * abs(value)
        return result

    real_isqrt = math.isqrt

    def isqrt(n: Any) -> int:
        if type(n) is int and 0 <= n < _CHEAP_ISQRT:  # fast path: cheap whatever the limits
            return real_isqrt(n)
        value = operator.index(n)
        bits = value.bit_length()
        check_int_work(bits * bits // 4, limits, "math.isqrt()", (bits,))
        return math.isqrt(value)

    return {"gcd": gcd, "lcm": lcm, "isqrt": isqrt}


def itertools_overrides(guard: ChainGuard, runtime: Runtime) -> dict[str, Any]:
    """Depth-checked constructors for the ``itertools`` combinators."""
    table: dict[str, Any] = {}
    for name in _COMBINATORS:
        real = getattr(itertools, name, None)
        if real is not None:
            table[name] = guard.wrap(real)
    chain_real = guard.wrap(itertools.chain)

    def flatten(iterables: Iterable[Any]) -> Iterator[Any]:
        # a generator: nesting made lazily (a generator yielding chains of generators...)
        # then costs a Python frame per level, which the recursion limit bounds
        for iterable in iterables:
            runtime.tick()
            yield from iterable

    class _Chain:
        """``itertools.chain`` with a depth check; ``from_iterable`` is a generator."""

        def __new__(cls, *iterables: Any) -> Any:
            return chain_real(*iterables)

        from_iterable = staticmethod(flatten)

    table["chain"] = _Chain
    return table


def random_overrides(limits: SandboxLimits) -> dict[str, Any]:
    """A private generator for the module functions, and size-checked generator classes."""

    def checked_class(base: type[random.Random]) -> type:
        def getrandbits(self: Any, k: int) -> int:
            check_int_bits(k, limits, "random.getrandbits()")
            return base.getrandbits(self, k)

        def randbytes(self: Any, n: int) -> bytes:
            check_length(operator.index(n), limits, "random.randbytes()")
            return base.randbytes(self, n)

        def choices(
            self: Any, population: Any, weights: Any = None, *, cum_weights: Any = None, k: int = 1
        ) -> Any:
            check_length(operator.index(k), limits, "random.choices()")
            return base.choices(self, population, weights, cum_weights=cum_weights, k=k)

        def sample(self: Any, population: Any, k: int, *, counts: Any = None) -> Any:
            check_length(operator.index(k), limits, "random.sample()")
            return base.sample(self, population, k, counts=counts)

        real_getrandbits = base.getrandbits

        def _randbelow(self: Any, n: int) -> int:
            # ``randrange``/``randint``/``choice``/``shuffle`` draw through here with ``n``
            # a value the code already holds (so its bits are already bounded): skip the
            # size check of the public ``getrandbits`` and its extra Python frame
            k = n.bit_length()
            r = real_getrandbits(self, k)
            while r >= n:
                r = real_getrandbits(self, k)
            return r

        namespace = {
            "_randbelow": _randbelow,
            "getrandbits": getrandbits,
            "randbytes": randbytes,
            "choices": choices,
            "sample": sample,
            "__module__": "random",
        }
        return type(base.__name__, (base,), namespace)

    checked_random = checked_class(random.Random)
    checked_system = checked_class(random.SystemRandom)
    generator = checked_random()
    shared = getattr(random, "_inst", None)
    table: dict[str, Any] = {
        name: getattr(generator, name)
        for name in dir(random)
        if not name.startswith("_") and getattr(getattr(random, name), "__self__", None) is shared
    }
    table.update(Random=checked_random, SystemRandom=checked_system)
    return table


def statistics_overrides(limits: SandboxLimits) -> dict[str, Any]:
    """``statistics`` is pure Python and never ticks: bound its inputs before it runs."""

    def check_data(data: Any, what: str) -> Any:
        if isinstance(data, (str, bytes, dict)) or not isinstance(data, Iterable):
            return data
        if not isinstance(data, (list, tuple)):
            data = list(itertools.islice(data, STATISTICS_MAX_ITEMS + 1))
        if len(data) > STATISTICS_MAX_ITEMS:
            resource_error(
                f"statistics.{what}() on more than {STATISTICS_MAX_ITEMS} values would run too long "
                "without interruption (the module is pure Python); use numpy for large data",
                "max_operations",
            )
        # the common inputs checked at C speed: all floats need nothing, all ints (or bools)
        # only their extremes; anything else is looked at value by value
        kinds = set(map(type, data))
        if kinds == _FLOAT_ONLY:
            return data
        if (
            kinds
            and kinds <= _INT_KINDS
            and max(max(data).bit_length(), min(data).bit_length()) <= STATISTICS_MAX_INT_BITS
        ):
            return data
        for value in data:
            if isinstance(value, int) and value.bit_length() > STATISTICS_MAX_INT_BITS:
                resource_error(
                    f"statistics.{what}() on an integer of {value.bit_length()} bits would run too long "
                    f"(exact fraction arithmetic; limit {STATISTICS_MAX_INT_BITS} bits)",
                    "max_int_bits",
                )
            if not isinstance(value, (int, float)) and type(value).__module__ in ("fractions", "decimal"):
                resource_error(
                    f"statistics.{what}() on {type(value).__name__} values is not supported in the sandbox "
                    "(unbounded exact arithmetic); convert to float",
                    "max_int_bits",
                )
        return data

    def checked(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            args = tuple(check_data(arg, name) for arg in args)
            for value in kwargs.values():
                if isinstance(value, int) and value.bit_length() > STATISTICS_MAX_INT_BITS:
                    check_data([value], name)
            return real(*args, **kwargs)

        run.__name__ = name
        run.__doc__ = real.__doc__
        return run

    class NormalDist(statistics.NormalDist):
        __module__ = "statistics"

        def samples(self, n: SupportsIndex, *, seed: Any = None) -> list[float]:
            check_length(operator.index(n), limits, "NormalDist.samples()")
            return super().samples(n, seed=seed)

        @classmethod
        def from_samples(cls, data: Any) -> Any:
            return super().from_samples(check_data(data, "NormalDist.from_samples"))

    def refused(name: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            resource_error(
                f"statistics.{name} is not available in the sandbox (unbounded exact arithmetic); "
                f"authorise and import the '{name.lower()}s' module if you need it",
                "max_int_bits",
            )

        return refuse

    table: dict[str, Any] = {}
    for name in getattr(statistics, "__all__", ()):
        value = getattr(statistics, name, None)
        if callable(value) and not isinstance(value, type):
            table[name] = checked(name, value)
    table["NormalDist"] = NormalDist
    table["Fraction"] = refused("Fraction")
    table["Decimal"] = refused("Decimal")
    return table
