"""The builtins namespace of sandboxed code.

Safe builtins are the real objects (so ``isinstance(x, list)`` and speed are native).
Risky ones are replaced: ``print`` writes to the call's capture buffer, the attribute
builtins go through the attribute policy, ``type`` refuses the three-argument form,
``range``/``bytes``/``bytearray`` check sizes first, ``iter(f, sentinel)`` and big ranges
tick so C consumers stay preemptible. ``eval``, ``exec``, ``compile``, ``open``,
``__import__``, ``globals``, ``locals``, ``vars``, ``input``, ``breakpoint``,
``memoryview`` and ``help`` are simply absent.
"""

from __future__ import annotations

import builtins
import datetime
import itertools
import operator
import re
from collections.abc import Callable, Iterator
from itertools import islice
from types import SimpleNamespace
from typing import Any

from ._datalibs import seal_protocol_lookups, type_stand_in
from ._limits import SandboxLimits, check_length
from ._resource_overrides import ChainGuard, builtin_overrides
from ._runtime import Runtime, WithProxy
from ._security import DATE_VALUE_TYPES, AttributeGuard, AttrView
from ._special import EAGER_ITERABLES, grow_from

__all__ = ["BigRange", "build_builtins"]

_REAL_BUILTINS = [
    "abs",
    "all",
    "any",
    "ascii",
    "bin",
    "bool",
    "callable",
    "chr",
    "classmethod",
    "complex",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "hash",
    "hex",
    "id",
    "int",
    "isinstance",
    "issubclass",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "object",
    "oct",
    "ord",
    "property",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "super",
    "tuple",
    "zip",
    "Ellipsis",
    "NotImplemented",
]
_EXCEPTIONS = [
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException) and not name.startswith("_")
]
_RANGE_CHUNK = 4096
_SUM_CHUNK = 4096
#: ``sum()`` of a list or tuple up to this long is one C call (milliseconds at most)
_SUM_DIRECT = 1 << 20


class _CheckedMeta(type):
    """Metaclass of the stand-ins for builtin types whose constructors need checks."""

    _sb_real: tuple[type, ...]  # set in each stand-in's namespace: the real type(s) it stands for

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._sb_real)

    def __subclasscheck__(cls, sub: Any) -> bool:
        return isinstance(sub, type) and issubclass(sub, cls._sb_real)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(cls._sb_real[0], name)

    def __repr__(cls) -> str:
        return repr(cls._sb_real[0])


def _stand_in(real: tuple[type, ...], make: Callable[..., Any]) -> type:
    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        return make(*args, **kwargs)  # not an instance of cls, so __init__ is skipped

    return _CheckedMeta(real[0].__name__, (), {"_sb_real": real, "__new__": __new__, "__slots__": ()})


class BigRange:
    """A ``range`` longer than ``max_sequence_length``: lazy, ticking, never materialised."""

    __slots__ = ("_limits", "_range", "_rt")

    def __init__(self, real: range, runtime: Runtime, limits: SandboxLimits) -> None:
        self._range = real
        self._rt = runtime
        self._limits = limits

    def _iterate(self, real: range) -> Iterator[int]:
        tick = self._rt.tick
        for start in builtins.range(real.start, real.stop, real.step * _RANGE_CHUNK):
            tick()
            yield from builtins.range(start, real.stop, real.step)[:_RANGE_CHUNK]

    def __iter__(self) -> Iterator[int]:
        return self._iterate(self._range)

    def __reversed__(self) -> Iterator[int]:
        return self._iterate(self._range[::-1])

    def __len__(self) -> int:
        try:
            length = len(self._range)
        except OverflowError:
            length = self._limits.max_sequence_length + 1
        check_length(length, self._limits, "Materialising this range")
        return length

    def __bool__(self) -> bool:
        return bool(self._range)

    def __contains__(self, item: Any) -> bool:
        return item in self._range

    def __getitem__(self, index: Any) -> Any:
        item = self._range[index]
        return BigRange(item, self._rt, self._limits) if isinstance(item, range) else item

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BigRange):
            return self._range == other._range
        return self._range == other

    def __hash__(self) -> int:
        return hash(self._range)

    def __repr__(self) -> str:
        return repr(self._range)

    def count(self, value: Any) -> int:
        return self._range.count(value)

    def index(self, value: Any) -> int:
        return self._range.index(value)

    start = property(lambda self: self._range.start)
    stop = property(lambda self: self._range.stop)
    step = property(lambda self: self._range.step)


def build_builtins(
    runtime: Runtime, guard: AttributeGuard, limits: SandboxLimits, operators: dict[str, Callable[..., Any]]
) -> dict[str, Any]:
    """Everything sandboxed code can name without importing, plus the rewriter's helpers."""
    rt = runtime
    namespace: dict[str, Any] = {name: getattr(builtins, name) for name in _REAL_BUILTINS + _EXCEPTIONS}

    # ------------------------------------------------------------------ sized types
    real_range = builtins.range
    longest = limits.max_sequence_length

    def make_range(*args: Any) -> Any:
        real = real_range(*args)
        try:
            if len(real) <= longest:
                return real
        except OverflowError:
            pass
        return BigRange(real, rt, limits)

    def as_size(source: Any) -> Any:
        """``bytes(n)``-style sizes, including objects with ``__index__`` (checked once, as ints)."""
        if isinstance(source, int) or (
            hasattr(builtins.type(source), "__index__")
            and not isinstance(source, (str, builtins.bytes, builtins.bytearray, memoryview, list, tuple))
            and not hasattr(builtins.type(source), "__iter__")
        ):
            try:
                source = operator.index(source)
            except TypeError:
                return source
        return source

    def make_bytes(source: Any = b"", *args: Any) -> bytes:
        source = as_size(source)
        if isinstance(source, int) and not isinstance(source, bool):
            check_length(source, limits, "bytes(n)")
        return builtins.bytes(source, *args)

    def make_bytearray(source: Any = b"", *args: Any) -> bytearray:
        source = as_size(source)
        if isinstance(source, int) and not isinstance(source, bool):
            check_length(source, limits, "bytearray(n)")
        return builtins.bytearray(source, *args)

    def make_type(*args: Any) -> Any:
        if len(args) != 1:
            rt.security(
                "type() with three arguments (dynamic class creation) is not allowed; use a class statement"
            )
        kind = builtins.type(args[0])
        mapped = to_stand_in.get(kind) or type_stand_in(guard, kind)  # numpy arrays: _datalibs
        if mapped is not None:
            return mapped
        # host types are vetted like any value: functions, methods, generators, proxies and
        # namespaces come back as opaque stand-ins (name and isinstance, no construction)
        return safe_type if issubclass(kind, builtins.type) else guard.type_view(kind)

    chains = builtin_overrides(rt, limits, ChainGuard(rt))
    iterator_stand_ins = {
        getattr(builtins, name): _stand_in((getattr(builtins, name),), chains[name])
        for name in ("map", "filter", "zip", "enumerate")
    }
    range_ = _stand_in((builtins.range, BigRange), make_range)
    bytes_ = _stand_in((builtins.bytes,), make_bytes)
    bytearray_ = _stand_in((builtins.bytearray,), make_bytearray)
    safe_type = _stand_in((builtins.type,), make_type)
    to_stand_in = {
        builtins.range: range_,
        BigRange: range_,
        builtins.bytes: bytes_,
        builtins.bytearray: bytearray_,
        builtins.type: safe_type,
        **iterator_stand_ins,
    }
    real_of = {range_: builtins.range, bytes_: builtins.bytes, bytearray_: builtins.bytearray}

    # ------------------------------------------------------------------ wrapped functions
    def print_(*args: Any, sep: Any = " ", end: Any = "\n", file: Any = None, flush: bool = False) -> None:
        if file is not None:
            builtins.print(*args, sep=sep, end=end, file=file, flush=flush)
            return
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        if not isinstance(sep, str):
            raise TypeError(f"sep must be None or a string, not {builtins.type(sep).__name__}")
        if not isinstance(end, str):
            raise TypeError(f"end must be None or a string, not {builtins.type(end).__name__}")
        texts = [str(arg) for arg in args]
        check_length(len(sep) * max(len(texts) - 1, 0) + len(end), limits, "print() separators")
        rt.output.write(sep.join(texts) + end)

    def iter_(obj: Any, *sentinel: Any) -> Iterator[Any]:
        if not sentinel:
            return builtins.iter(obj)
        if len(sentinel) > 1:
            raise TypeError(f"iter expected at most 2 arguments, got {1 + len(sentinel)}")
        stop = sentinel[0]

        def calls() -> Iterator[Any]:
            while True:
                rt.tick()
                value = obj()
                if value == stop:
                    return
                yield value

        if not callable(obj):
            raise TypeError("iter(v, w): v must be callable")
        return calls()

    def sum_(iterable: Any, /, start: Any = 0) -> Any:
        if not isinstance(start, (list, tuple)):
            if builtins.type(iterable) in (list, tuple) and len(iterable) <= _SUM_DIRECT:
                return builtins.sum(iterable, start)  # a list in memory: bounded, one C call
            # C speed, but in chunks with a tick between them so huge inputs stay preemptible
            iterator = builtins.iter(iterable)
            total = start
            while True:
                chunk = list(islice(iterator, _SUM_CHUNK))
                total = builtins.sum(chunk, total)
                if len(chunk) < _SUM_CHUNK:
                    return total
                rt.tick()
        kind = builtins.type(start)
        out = list(start)
        for index, item in enumerate(iterable):
            if not index & 255:
                rt.tick()
            if not isinstance(item, kind):
                return builtins.sum([item], kind(out))  # raises the usual TypeError
            out.extend(item)
            check_length(len(out), limits, "sum() of sequences")
        return out if kind is list else tuple(out)

    sized_results = (builtins.str, builtins.bytes, builtins.bytearray, builtins.list, builtins.tuple)
    # results of ``+`` that have no length to check (numbers, dates and durations)
    numeric_types = frozenset(
        {builtins.int, builtins.float, builtins.complex, builtins.bool, *DATE_VALUE_TYPES}
    )

    def add_checked(result: Any) -> Any:
        """The result of ``a + b``: a sequence over ``max_sequence_length`` stops the call."""
        if isinstance(result, sized_results):
            check_length(len(result), limits, f"{builtins.type(result).__name__} concatenation")
        return result

    def kwargs_(mapping: Any) -> Any:
        """``**mapping`` in a call: keys starting with ``__`` are refused, as written keyword
        names are (``Namespace(**{'__array_interface__': ...})`` would set a protocol dunder)."""
        if builtins.type(mapping) is not builtins.dict:
            if not builtins.hasattr(builtins.type(mapping), "keys"):
                raise TypeError(f"argument after ** must be a mapping, not {builtins.type(mapping).__name__}")
            mapping = builtins.dict(mapping)
        for key in mapping:
            if builtins.type(key) is builtins.str and key.startswith("__"):
                rt.security(
                    f"Keyword argument {key!r} passed with ** is not allowed (names starting with '__')"
                )
        return mapping

    def iadd(target: Any, value: Any) -> Any:
        """``target += value`` for a list target (the rewriter sends only lists here)."""
        if isinstance(target, builtins.list) and builtins.type(value) not in EAGER_ITERABLES:
            grow_from(target.extend, target, value, rt, limits)
            return target
        target += value
        return target

    def getattr_(obj: Any, name: Any, *default: Any) -> Any:
        if len(default) > 1:
            raise TypeError(f"getattr expected at most 3 arguments, got {2 + len(default)}")
        if default:
            try:
                return guard.resolve(obj, name)
            except AttributeError:
                return default[0]
        return guard.resolve(obj, name)

    def hasattr_(obj: Any, name: Any) -> bool:
        try:
            guard.resolve(obj, name)
        except AttributeError:
            return False
        return True

    def dir_(*args: Any) -> list[str]:
        if not args:
            return sorted(name for name in rt.state if not name.startswith("_"))
        return [name for name in builtins.dir(args[0]) if not name.startswith("_")]

    def build_class(func: Callable[..., Any], name: str, *bases: Any, **keywords: Any) -> type:
        if "metaclass" in keywords:
            rt.security("Custom metaclasses are not allowed in the sandbox")
        real_bases = []
        for base in bases:
            if isinstance(base, builtins.type):
                # stand-ins that may be subclassed (range, enum.Enum...) -> the real class; the
                # numpy array stand-ins are not listed, and refuse subclassing themselves
                base = guard.subclass_bases.get(base, base)
                if base is safe_type or issubclass(base, builtins.type):
                    rt.security("Defining metaclasses (subclasses of type) is not allowed in the sandbox")
            real_bases.append(base)
        cls = builtins.__build_class__(func, name, *real_bases, **keywords)
        if not isinstance(cls, builtins.type):
            return cls
        slots = cls.__dict__.get("__slots__", ())
        if any(
            isinstance(slot, str) and slot.startswith("__")
            for slot in (slots if not isinstance(slots, str) else [slots])
        ):
            rt.security("__slots__ entries starting with '__' are not allowed")
        rt.sandbox_classes.add(cls)
        if builtins.type(cls) is builtins.type and all(
            klass in rt.private_fast_types
            or klass is object
            or (klass.__module__ == "builtins" and klass is not builtins.type)
            for klass in cls.__mro__[1:]
        ):
            rt.fast_types.add(cls)
            rt.private_fast_types.add(cls)
        return cls

    namespace.update(
        {
            "range": range_,
            "__sb_range__": make_range,  # ``range(...)`` calls where the code never rebinds ``range``
            "__sb_super__": builtins.super,  # the real ``super`` type, for ``super().method`` tests
            "__sb_rrange__": real_range,  # ... and those only looped over (``for``, comprehensions)
            "bytes": bytes_,
            "bytearray": bytearray_,
            "type": safe_type,
            "print": print_,
            "iter": iter_,
            "sum": sum_,
            "pow": operators["pow"],
            "divmod": operators["divmod"],
            "hash": chains["hash"],
            "round": chains["round"],
            **{real.__name__: stand_in for real, stand_in in iterator_stand_ins.items()},
            "format": guard.format_value,
            "getattr": getattr_,
            "hasattr": hasattr_,
            "setattr": guard.assign,
            "delattr": guard.delete,
            "dir": dir_,
            "__build_class__": build_class,
            "__name__": "__main__",
            # helpers referenced by rewritten code
            "__sb_next__": builtins.next,
            "__sb_compress__": itertools.compress,
            "__sb_tk__": rt.loop_ticks,
            "__sb_rebound__": rt.rebound,
            "__sb_type__": builtins.type,
            "__sb_int__": builtins.int,
            "__sb_list__": builtins.list,
            "__sb_dict__": builtins.dict,
            "__sb_str__": builtins.str,
            "__sb_set__": builtins.set,
            "__sb_date__": datetime.date,
            "__sb_match__": re.Match,  # guessed only for its group accessors (``_ast_build``)
            "__sb_isinstance__": builtins.isinstance,
            "__sb_eager__": EAGER_ITERABLES | numeric_types,
            "__sb_iadd__": iadd,
            "__sb_kwargs__": kwargs_,
            "__sb_addchk__": add_checked,
            "__sb_numeric__": numeric_types,
            "__sb_fast__": rt.fast_types,
            "__sb_pfast__": rt.private_fast_types,
            "__sb_slow__": rt.slow_tick,
            "__sb_gate__": rt.gate,
            "__sb_slowt__": rt.slow_true,
            "__sb_resume__": rt.resume,
            "__sb_rethrow__": rt.rethrow,
            "__sb_ga__": guard.ga,
            "__sb_gas__": guard.gas,
            "__sb_dga__": guard.dga,
            "__sb_pga__": guard.pga,
            "__sb_sa__": guard.sa,
            "__sb_psa__": guard.psa,
            "__sb_av__": lambda obj: AttrView(guard, obj),
            "__sb_with__": WithProxy,
            "__sb_slice__": builtins.slice,
            "__sb_holder__": lambda value: SimpleNamespace(v=value),
            "__sb_fstr__": guard.fstring_value,
            **{name: helper for name, helper in operators.items() if name.startswith("__sb_")},
        }
    )
    guard.real_types.update(real_of)
    guard.subclass_bases.update(real_of)
    rt.sandbox_classes.checks.append(lambda cls: seal_protocol_lookups(cls, rt))  # see _datalibs
    guard.real_types[safe_type] = builtins.type
    guard.safe_ids.update(id(value) for value in namespace.values())
    return namespace
