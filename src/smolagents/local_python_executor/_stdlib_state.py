"""Private copies of host-global stdlib state for sandboxed code.

The sandbox runs in the host's interpreter and thread, so a stdlib module's global
registry *is* the host's: ``collections.abc.Sequence.register(int)``, a csv dialect, the
decimal context, logging's root logger and manager. Each registry an authorisable module
exposes is handled here in one of three ways:

* a private copy per executor (logging's loggers/manager/level names, csv dialects);
* swapped in and out at every call boundary (decimal context, csv field size limit:
  C code reads the real global, so the sandbox's value is installed only while it runs);
* refused with a message that says how to do it instead (registering into host ABCs,
  ``timeit`` code strings, ``functools.update_wrapper`` on host functions).

Builders here are registered in ``_modules._OVERRIDE_BUILDERS``; they receive the
executor's ``ModuleGateway`` and return ``{name: replacement}`` tables.
"""

from __future__ import annotations

import abc
import csv
import dataclasses
import decimal
import enum
import functools
import re
import sys
import timeit
import typing
from collections.abc import Callable
from typing import Any, Literal

from ._policy import BLOCKED_ATTRIBUTES
from ._stdlib_logging import HOST_STATE_TYPES, logging_overrides
from ._stdlib_logging import SandboxMade as _SandboxMade
from ._stdlib_logging import refuse as _refuse

__all__ = [
    "HOST_STATE_TYPES",
    "STATE_BUILDERS",
    "host_mutator_checks",
]

_DOTTED_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*\Z")


# --------------------------------------------------------------------------- in-place decorators


def _owned_only(gateway: Any, real: Callable[..., Any], label: str) -> Callable[..., Any]:
    """``real(target, ...)`` that changes ``target`` in place: only sandbox-made targets."""

    def decorate(target: Any, *args: Any, **kwargs: Any) -> Any:
        inner = target
        if isinstance(inner, (staticmethod, classmethod)):
            inner = inner.__func__
        elif isinstance(inner, (property, functools.cached_property)):
            inner = inner.fget if isinstance(inner, property) else inner.func
        if not gateway.guard._owns(inner):
            _refuse(
                gateway,
                f"{label}() changes its argument in place; it only works on functions and classes defined "
                f"in the sandbox, not on {target!r} (that would modify the host)",
            )
        return real(target, *args, **kwargs)

    decorate.__name__ = real.__name__
    return decorate


def _owned_only_factory(gateway: Any, real: Callable[..., Any], label: str) -> Callable[..., Any]:
    """``@real`` or ``@real(**options)`` (``dataclass``), applied only to sandbox-made targets."""

    def factory(target: Any = None, /, **options: Any) -> Any:
        def apply(cls: Any) -> Any:
            return _owned_only(gateway, lambda c: real(c, **options), label)(cls)

        return apply if target is None else apply(target)

    factory.__name__ = real.__name__
    return factory


def _refuse_dunder_names(gateway: Any, names: Any, label: str) -> None:
    """Class factories turn strings into attribute names: ``__array_interface__`` given as a
    field or member name would hand numpy a raw-memory description. Refuse ``__`` names."""
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    elif isinstance(names, dict):
        names = list(names)
    for entry in names or ():
        name = entry[0] if isinstance(entry, (tuple, list)) and entry else entry
        if isinstance(name, str) and name.startswith("__"):
            _refuse(gateway, f"{label}: the name {name!r} starts with '__'; such names are not allowed")


def _dataclasses(gateway: Any) -> dict[str, Any]:
    def make_dataclass(cls_name: str, fields: Any, *args: Any, **kwargs: Any) -> Any:
        fields = list(fields)
        _refuse_dunder_names(gateway, fields, "dataclasses.make_dataclass()")
        _refuse_dunder_names(gateway, kwargs.get("namespace") or {}, "dataclasses.make_dataclass()")
        return dataclasses.make_dataclass(cls_name, fields, *args, **kwargs)

    return {
        "dataclass": _owned_only_factory(gateway, dataclasses.dataclass, "dataclasses.dataclass"),
        "make_dataclass": make_dataclass,
    }


def _typing(gateway: Any) -> dict[str, Any]:
    table = {
        name: _owned_only(gateway, getattr(typing, name), f"typing.{name}")
        for name in ("final", "runtime_checkable", "no_type_check", "overload")
    }

    if sys.version_info >= (3, 11):  # as in the real module

        def dataclass_transform(**options: Any) -> Callable[[Any], Any]:
            return _owned_only(gateway, typing.dataclass_transform(**options), "typing.dataclass_transform")

        table["dataclass_transform"] = dataclass_transform
    return table


# --------------------------------------------------------------------------- abc


def _check_abc_register(guard: Any, value: Any) -> None:
    owner = getattr(value, "__self__", None)
    if owner is not None and guard.rt.is_sandbox_class(owner):
        return
    name = getattr(owner, "__name__", "an ABC") if owner is not None else "ABCMeta"
    guard.rt.security(
        f"Registering virtual subclasses into the host's '{name}' would change isinstance() for the "
        "whole process; register() only works on ABCs defined in the sandbox (class MyABC(abc.ABC): ...)"
    )


def _check_dispatch_method_register(guard: Any, value: Any) -> None:
    if not isinstance(getattr(value, "__self__", None), _SandboxMade):
        guard.rt.security(
            "register() on a singledispatchmethod made by the host would change the host's dispatch table"
        )


def host_mutator_checks() -> dict[Any, Callable[[Any, Any], None]]:
    """Host callables that mutate a registry, keyed like ``_security._callable_key``."""
    return {
        abc.ABCMeta.register: _check_abc_register,
        functools.singledispatchmethod.register: _check_dispatch_method_register,
    }


def _abc(gateway: Any) -> dict[str, Any]:
    return {
        "update_abstractmethods": _owned_only(
            gateway, abc.update_abstractmethods, "abc.update_abstractmethods"
        ),
        "abstractmethod": _owned_only(gateway, abc.abstractmethod, "abc.abstractmethod"),
    }


# --------------------------------------------------------------------------- enum


def _enum(gateway: Any) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # global_enum and the names it uses are new in 3.11

        def global_enum(cls: Any, update_str: bool = False) -> Any:
            """``enum.global_enum`` that exports the members into the sandbox's globals (not the
            host's ``__main__``, which ``sys.modules[cls.__module__]`` would be)."""
            if not gateway.rt.is_sandbox_class(cls) or not isinstance(cls, enum.EnumType):
                _refuse(gateway, "enum.global_enum() only works on enums defined in the sandbox")
            clash = gateway.protected() & set(cls.__members__)
            if clash:
                _refuse(gateway, f"enum.global_enum() would overwrite the tools {sorted(clash)}")
            cls.__repr__ = enum.global_flag_repr if issubclass(cls, enum.Flag) else enum.global_enum_repr
            if not issubclass(cls, enum.ReprEnum) or update_str:
                cls.__str__ = enum.global_str
            gateway.state().update(cls.__members__)
            return cls

    def functional(real: type) -> Any:
        def create(*args: Any, **kwargs: Any) -> Any:
            names = kwargs.get("names", args[1] if len(args) > 1 else None)
            _refuse_dunder_names(gateway, names, f"enum.{real.__name__}()")
            return real(*args, **kwargs)

        return gateway.stand_in(real, create)

    bases = ("Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "ReprEnum")
    table: dict[str, Any] = {name: functional(getattr(enum, name)) for name in bases if hasattr(enum, name)}
    if sys.version_info >= (3, 11):
        table["global_enum"] = global_enum
    return table


# --------------------------------------------------------------------------- csv


def _csv(gateway: Any) -> dict[str, Any]:
    dialects: dict[str, Any] = {}
    limit = [csv.field_size_limit()]
    saved: list[int] = []

    def enter() -> None:
        saved.append(csv.field_size_limit(limit[0]))

    def leave() -> None:
        limit[0] = csv.field_size_limit(saved.pop())

    gateway.rt.add_call_hook(enter, leave)

    def resolve(dialect: Any) -> Any:
        return dialects.get(dialect, dialect) if isinstance(dialect, str) else dialect

    def register_dialect(name: Any, dialect: Any = None, **fmtparams: Any) -> None:
        if not isinstance(name, str):
            raise TypeError("dialect name must be a string")
        base = "excel" if dialect is None else resolve(dialect)
        dialects[name] = csv.reader([], base, **fmtparams).dialect  # validated, immutable

    def unregister_dialect(name: Any) -> None:
        if name in dialects:
            del dialects[name]
        elif name in csv.list_dialects():
            _refuse(gateway, f"csv dialect {name!r} belongs to the host and cannot be unregistered")
        else:
            raise csv.Error("unknown dialect")

    def get_dialect(name: Any) -> Any:
        return dialects[name] if isinstance(name, str) and name in dialects else csv.get_dialect(name)

    def list_dialects() -> list[str]:
        return [*csv.list_dialects(), *(name for name in dialects if name not in csv.list_dialects())]

    def reader(f: Any, dialect: Any = "excel", **fmtparams: Any) -> Any:
        return csv.reader(f, resolve(dialect), **fmtparams)

    def writer(f: Any, dialect: Any = "excel", **fmtparams: Any) -> Any:
        return csv.writer(f, resolve(dialect), **fmtparams)

    class DictReader(csv.DictReader, _SandboxMade):
        def __init__(self, f: Any, fieldnames: Any = None, restkey: Any = None, restval: Any = None,
                     dialect: Any = "excel", *args: Any, **kwds: Any) -> None:  # fmt: skip
            super().__init__(f, fieldnames, restkey, restval, resolve(dialect), *args, **kwds)

    class DictWriter(csv.DictWriter, _SandboxMade):
        def __init__(self, f: Any, fieldnames: Any, restval: Any = "", extrasaction: Literal["raise", "ignore"] = "raise",
                     dialect: Any = "excel", *args: Any, **kwds: Any) -> None:  # fmt: skip
            super().__init__(f, fieldnames, restval, extrasaction, resolve(dialect), *args, **kwds)

    DictReader.__module__ = DictWriter.__module__ = "csv"
    return {
        "register_dialect": register_dialect,
        "unregister_dialect": unregister_dialect,
        "get_dialect": get_dialect,
        "list_dialects": list_dialects,
        "reader": reader,
        "writer": writer,
        "DictReader": DictReader,
        "DictWriter": DictWriter,
    }


# --------------------------------------------------------------------------- decimal


def _decimal(gateway: Any) -> dict[str, Any]:
    """The thread's decimal context is the host's: install a private one during calls."""
    private = [decimal.Context()]
    saved: list[Any] = []

    def enter() -> None:
        saved.append(decimal.getcontext())
        decimal.setcontext(private[0])

    def leave() -> None:
        private[0] = decimal.getcontext()
        decimal.setcontext(saved.pop())

    gateway.rt.add_call_hook(enter, leave)
    # the module-level templates are host-global too (DefaultContext seeds new threads)
    return {
        "DefaultContext": decimal.DefaultContext.copy(),
        "BasicContext": decimal.BasicContext.copy(),
        "ExtendedContext": decimal.ExtendedContext.copy(),
    }


# --------------------------------------------------------------------------- timeit


def _timeit(gateway: Any) -> dict[str, Any]:
    def check(code: Any, what: str) -> None:
        if isinstance(code, str) and code.strip() not in ("", "pass"):
            _refuse(
                gateway,
                f"timeit with a code string as {what} would compile and run it outside the sandbox's checks; "
                "pass a function instead, e.g. timeit.timeit(lambda: f(x), number=100)",
            )
        if not isinstance(code, str) and not callable(code):
            raise ValueError(f"{what} is neither a string nor callable")

    class Timer(timeit.Timer, _SandboxMade):
        def __init__(self, stmt: Any = "pass", setup: Any = "pass", timer: Any = timeit.default_timer,
                     globals: Any = None) -> None:  # fmt: skip
            check(stmt, "stmt")
            check(setup, "setup")
            super().__init__(stmt, setup, timer, None)

    Timer.__module__ = "timeit"

    def timeit_(stmt: Any = "pass", setup: Any = "pass", timer: Any = timeit.default_timer,
                number: int = timeit.default_number,  # type: ignore[attr-defined]  # not in typeshed
                globals: Any = None) -> float:  # fmt: skip
        return Timer(stmt, setup, timer).timeit(number)

    def repeat(stmt: Any = "pass", setup: Any = "pass", timer: Any = timeit.default_timer,
               repeat: int = timeit.default_repeat,  # type: ignore[attr-defined]  # not in typeshed
               number: int = timeit.default_number,  # type: ignore[attr-defined]
               globals: Any = None) -> list[float]:  # fmt: skip
        return Timer(stmt, setup, timer).repeat(repeat, number)

    return {"Timer": Timer, "timeit": timeit_, "repeat": repeat}


# --------------------------------------------------------------------------- functools


def _functools(gateway: Any) -> dict[str, Any]:
    guard = gateway.guard
    defaults = (set(functools.WRAPPER_ASSIGNMENTS), set(functools.WRAPPER_UPDATES))

    def update_wrapper(wrapper: Any, wrapped: Any, assigned: Any = functools.WRAPPER_ASSIGNMENTS,
                       updated: Any = functools.WRAPPER_UPDATES) -> Any:  # fmt: skip
        if not guard._owns(wrapper):
            _refuse(
                gateway,
                f"functools.update_wrapper/wraps may only update functions defined in the sandbox, not {wrapper!r} "
                "(that would change a host object)",
            )
        if not (set(assigned) <= defaults[0] and set(updated) <= defaults[1]):
            _refuse(
                gateway, "functools.update_wrapper/wraps only copy the standard attributes in the sandbox"
            )
        return functools.update_wrapper(wrapper, wrapped, assigned, updated)

    def wraps(wrapped: Any, assigned: Any = functools.WRAPPER_ASSIGNMENTS,
              updated: Any = functools.WRAPPER_UPDATES) -> Any:  # fmt: skip
        return functools.partial(update_wrapper, wrapped=wrapped, assigned=assigned, updated=updated)

    def annotation_class(func: Any) -> Any:
        """First annotation of ``func`` as a class, resolving string annotations by name only.

        The stdlib would call ``typing.get_type_hints``, which ``eval``s annotation strings
        outside the sandbox's rewriter."""
        annotations = getattr(func, "__annotations__", None)
        if not isinstance(annotations, dict) or not annotations:
            raise TypeError(f"Invalid first argument to `register()`: {func!r}. Use either "
                            "`@register(some_class)` or plain `@register` on an annotated function.")  # fmt: skip
        hint = next(iter(annotations.values()))
        if not isinstance(hint, str):
            return hint
        if not _DOTTED_NAME.match(hint) or any(part in BLOCKED_ATTRIBUTES for part in hint.split(".")):
            _refuse(
                gateway, f"singledispatch: the string annotation {hint!r} must be a plain (dotted) class name"
            )
        first, *rest = hint.split(".")
        scope = getattr(func, "__globals__", {})
        if first in scope:
            value = scope[first]
        elif first in gateway.rt.builtins:
            value = gateway.rt.builtins[first]
        else:
            raise NameError(f"name {first!r} is not defined")
        for part in rest:
            value = guard.resolve(value, part)
        return value

    def make_dispatcher(func: Any) -> Any:
        dispatcher = functools.singledispatch(func)
        native = dispatcher.register

        def register(cls: Any, func: Any = None) -> Any:
            if func is None and not isinstance(cls, type) and callable(cls):
                return native(annotation_class(cls), cls)
            return native(cls, func) if func is not None else native(cls)

        dispatcher.register = register  # type: ignore[method-assign]  # the sandbox's checked register
        return dispatcher

    class singledispatchmethod(functools.singledispatchmethod, _SandboxMade):
        def __init__(self, func: Any) -> None:
            super().__init__(func)
            self.dispatcher = make_dispatcher(func)

    singledispatchmethod.__module__ = "functools"
    return {
        "total_ordering": _owned_only(gateway, functools.total_ordering, "functools.total_ordering"),
        "update_wrapper": update_wrapper,
        "wraps": wraps,
        "singledispatch": make_dispatcher,
        "singledispatchmethod": singledispatchmethod,
    }


#: module name -> builder of its override table (merged into ``_modules._OVERRIDE_BUILDERS``)
STATE_BUILDERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "abc": _abc,
    "enum": _enum,
    "csv": _csv,
    "decimal": _decimal,
    "timeit": _timeit,
    "functools": _functools,
    "logging": logging_overrides,
    "dataclasses": _dataclasses,
    "typing": _typing,
}
