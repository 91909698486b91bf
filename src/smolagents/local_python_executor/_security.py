"""Attribute policy: every attribute access in sandboxed code goes through here.

The rewriter turns ``obj.name`` into a call chosen by the *static* shape of ``name``:

* ``__sb_ga__(obj, "name")`` for ordinary names. Receivers of plain value types and of
  sandbox-made classes take a fast path; everything else has its value vetted (no
  modules, frames, code objects, blocking primitives, or things from dangerous modules).
* ``__sb_gas__`` for names with an amplification or escape risk on some receivers
  (``str.format``, ``ljust``, ``replace``, pandas ``to_csv``, ``query``...).
* ``__sb_dga__`` for the few allowed dunders, ``__sb_pga__`` for ``_private`` names,
  which only work on objects the sandbox created.

Dynamic access (``getattr``, format strings, ``operator.attrgetter``) uses the same
resolver, so there is exactly one policy whatever the path. The other native attribute
readers are covered here too: ``match`` class patterns go through :meth:`match_class`
(from the ``_match_gate`` mixin), ``type(x)`` through :meth:`type_view`, and the dunders a class body binds (which the host
calls later) through :meth:`check_class`.
"""

from __future__ import annotations

import copy
import datetime
import enum
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

from ._limits import SandboxLimits
from ._match_gate import MatchPatternGate
from ._policy import (
    ALLOWED_DUNDER_ACCESS,
    ALLOWED_DUNDER_DEFINITIONS,
    BLOCKED_ATTRIBUTES,
    DANGEROUS_MODULE_ROOTS,
    SANDBOX_FILENAME,
    STRING_DUNDERS,
    refused_capability,
)
from ._runtime import Runtime
from ._special import _SPECIAL_HANDLERS, SPECIAL_ATTRIBUTES, SpecialAttributes, root_module
from ._stdlib_state import HOST_STATE_TYPES, host_mutator_checks

__all__ = [
    "DATE_VALUE_TYPES",
    "PLAIN_VALUE_TYPES",
    "SPECIAL_ATTRIBUTES",
    "AttrView",
    "AttributeGuard",
    "SealedProxy",
    "is_metaclass",
]

PLAIN_VALUE_TYPES = frozenset(
    {
        int,
        float,
        complex,
        bool,
        str,
        bytes,
        bytearray,
        list,
        tuple,
        dict,
        set,
        frozenset,
        range,
        slice,
        type(None),
        type(Ellipsis),
        type(NotImplemented),
    }
)

#: value classes whose public attributes are all harmless reads and methods on the value
#: (no format strings with widths, no host state, no callables handed out): reads on them
#: need no guard, like the plain types'
DATE_VALUE_TYPES = frozenset(
    {datetime.date, datetime.datetime, datetime.time, datetime.timedelta, datetime.timezone}
)

_lock_types = (
    type(threading.Lock()),
    type(threading.RLock()),
    threading.Condition,
    threading.Event,
    threading.Semaphore,
    threading.Barrier,
)
_FORBIDDEN_TYPES = (types.FrameType, types.CodeType, types.TracebackType, types.CellType, *_lock_types)
_CALLABLE_TYPES = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)
_SAFE_IO_TYPES = ("StringIO", "BytesIO")


#: dunders a class body may bind that the host calls implicitly (``len()``, ``repr()``...)
_CALLED_DUNDERS = ALLOWED_DUNDER_DEFINITIONS - {"__slots__", "__doc__"}
#: homes of types whose real class ``type()`` never hands out (stand-ins are returned instead)
_OPAQUE_TYPE_HOMES = frozenset({"builtins", "types", "smolagents"})
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _risky_dunder_value(value: Any, rt: Runtime, safe_ids: set[int]) -> bool:
    """Would the host run something outside every check when it calls this dunder later?

    Sandbox functions refuse to run outside a call (their first tick), and Python functions
    that host metaclasses generate for the class (NamedTuple's ``__new__``, typing's
    ``__init__``) are fine. Refused: the sandbox's own helpers (``print``, ``final_answer``,
    checked operators, module overrides: they raise the sandbox's abort signals), C
    functions (``time.sleep``, ``id``), bound methods, partials, classes, other callables.
    """
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        parts = (value.fget, value.fset, value.fdel)
        return any(part is not None and _risky_dunder_value(part, rt, safe_ids) for part in parts)
    if value is None or not callable(value) or rt.is_sandbox_instance(value):
        return False
    if isinstance(value, types.FunctionType):
        filename = value.__code__.co_filename
        return id(value) in safe_ids or filename.startswith(_PACKAGE_DIR)
    return True


def _shared_host_object(obj: Any) -> bool:
    """A host singleton: a member of a host enum, or a module-level object (``dataclasses.MISSING``)."""
    if isinstance(obj, enum.Enum):
        return True  # sandbox enums never get here (``_owns``)
    module = sys.modules.get(getattr(type(obj), "__module__", None) or "")
    return module is not None and any(value is obj for value in list(vars(module).values()))


class _OpaqueType(type):
    """Metaclass of what ``type(x)`` returns for host types the sandbox may not use directly
    (functions, methods, generators, module proxies, ``SimpleNamespace``...): it has the real
    type's name and answers ``isinstance``/``issubclass``/``==``, but cannot build objects."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._sb_real)  # type: ignore[attr-defined]

    def __subclasscheck__(cls, sub: Any) -> bool:
        return isinstance(sub, type) and issubclass(sub, cls._sb_real)  # type: ignore[attr-defined]

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        cls._sb_refuse(  # type: ignore[attr-defined]
            f"Creating '{cls.__name__}' objects this way is not allowed in the sandbox: this handle (from "
            "type() or a metaclass) only answers isinstance checks; use a class statement or the public constructor"
        )

    def __repr__(cls) -> str:
        return repr(cls._sb_real)  # type: ignore[attr-defined]


def is_metaclass(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, type) and kind is not type


_UNREAD: Any = object()
_BOUND_METHOD_TYPES = (types.BuiltinMethodType, types.MethodType)


class SealedProxy:
    """Base of host objects handed to the sandbox (module and tool proxies).

    Sandboxed code cannot build one (constructors demand a private token), set or delete
    attributes on one, or reach its ``_`` fields.
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"'{type(self).__name__}' object is read-only in the sandbox")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"'{type(self).__name__}' object is read-only in the sandbox")


def _home_module(value: Any) -> str:
    """Best guess of the module a callable or class comes from."""
    try:
        if isinstance(value, types.MethodType):
            value = value.__func__
        if isinstance(value, types.BuiltinFunctionType):
            owner = value.__self__
            if isinstance(owner, types.ModuleType):
                return owner.__name__
            if owner is not None and not isinstance(owner, type):
                home = type(owner).__module__ or ""
                return "" if home == "builtins" else home  # a method of a builtin value
            return getattr(value, "__module__", None) or ""
        module = getattr(value, "__module__", None)
        if isinstance(module, str):
            return module
        owner = getattr(value, "__objclass__", None)
        return getattr(owner, "__module__", "") or ""
    except Exception:
        return ""


def _callable_key(value: Any) -> Any:
    """What decides a callable's verdict: its function, its bound owner's type, or itself."""
    if isinstance(value, types.MethodType):
        return value.__func__
    if isinstance(value, types.BuiltinFunctionType):
        owner = value.__self__
        if owner is None or isinstance(owner, (types.ModuleType, type)):
            return value
        return (type(owner), value.__name__)
    return value


_PRIVATE_FREE: frozenset[type] | None = None


def _private_free_plain_types() -> frozenset[type]:
    """Plain value types with no single-underscore attributes (their ``_x`` reads need no
    guard); computed once per process, not per executor (``dir()`` of ~150 types)."""
    global _PRIVATE_FREE
    if _PRIVATE_FREE is None:
        _PRIVATE_FREE = frozenset(
            kind
            for kind in PLAIN_VALUE_TYPES
            if not any(n.startswith("_") and not n.startswith("__") for n in dir(kind))
        )
    return _PRIVATE_FREE


def _class_attribute(kind: type, name: str) -> Any:
    """The plain function ``name`` resolves to on ``kind``'s MRO (None if something else)."""
    for klass in kind.__mro__:
        if name in klass.__dict__:
            value = klass.__dict__[name]
            return value if type(value) is types.FunctionType else None
    return None


class AttributeGuard(SpecialAttributes, MatchPatternGate):
    """The attribute policy of one executor (closures over its runtime)."""

    def __init__(self, runtime: Runtime, limits: SandboxLimits, allow_data_io: bool) -> None:
        self.rt = runtime
        self.limits = limits
        self.allow_data_io = allow_data_io
        #: set by the executor: turn a real module into its proxy or refuse it
        self.proxy_module: Callable[[types.ModuleType], Any] = self._refuse_module
        #: set by the executor: is this dangerous top-level package authorised by name?
        self.authorized_root: Callable[[str], bool] = lambda root: False
        #: host types turned into sandbox stand-ins when they appear (``re.Pattern``)
        self.value_wrappers: dict[type, Callable[[Any], Any]] = {}
        #: sandbox stand-in classes (``range``, ``bytes``...) -> the real builtin type
        self.real_types: dict[Any, type] = {}
        #: stand-ins a class statement may subclass -> the real base it then gets
        self.subclass_bases: dict[Any, type] = {}
        self._verdicts: dict[type, str] = {}
        self._callable_verdicts: dict[Any, bool] = {}
        #: ids of the host callables and classes the sandbox builtins expose (always fine)
        self.safe_ids: set[int] = set()
        self._format_plans: dict[tuple[str, int], bool] = {}
        #: callables that change host-global registries: decide per value (bound receiver)
        self.mutator_checks: dict[Any, Callable[[AttributeGuard, Any], None]] = host_mutator_checks()
        self._match_gates: dict[tuple[Any, int, tuple[str, ...]], type] = {}
        self._opaque_types: dict[type, type] = {}
        runtime.sandbox_classes.checks.append(self.check_class)
        runtime.builtins["__sb_mcls__"] = self.match_class
        runtime.fast_types.update(PLAIN_VALUE_TYPES)
        runtime.fast_types.update(DATE_VALUE_TYPES)
        runtime.private_fast_types.update(_private_free_plain_types())
        #: (receiver type, name) pairs whose bound method was vetted once and needs no more
        self.vetted_methods: set[tuple[type, str]] = set()
        #: the same for types with instance dicts (``random.Random``): valid while the
        #: instance's own dict does not hold the name (checked on every read)
        self.vetted_class_methods: set[tuple[type, str]] = set()
        self.ga = self._make_ga()

    # ------------------------------------------------------------------ get
    def _make_ga(self) -> Callable[[Any, str], Any]:
        fast = self.rt.fast_types
        slow = self._ga_slow

        method_type = types.MethodType
        sandbox_file = SANDBOX_FILENAME
        vetted_methods = self.vetted_methods
        vetted_class_methods = self.vetted_class_methods

        def ga(obj: Any, name: str) -> Any:
            kind = type(obj)
            if kind in fast or (kind, name) in vetted_methods:
                return getattr(obj, name)
            if (kind, name) in vetted_class_methods and name not in obj.__dict__:
                return getattr(obj, name)
            if kind is super:
                # ``super().method``: a method the sandbox itself defined needs no vetting
                value = getattr(obj, name)
                function = getattr(value, "__func__", None) if type(value) is method_type else None
                code = getattr(function, "__code__", None)
                if code is not None and code.co_filename == sandbox_file:
                    return value
                return slow(obj, name, value)
            return slow(obj, name)

        return ga

    def _ga_slow(self, obj: Any, name: str, value: Any = _UNREAD) -> Any:
        if isinstance(obj, types.ModuleType):
            return getattr(self.proxy_module(obj), name)
        if type(obj) in HOST_STATE_TYPES:  # a host logger obtained indirectly (e.g. a return value)
            self.rt.security(HOST_STATE_TYPES[type(obj)])
        if value is _UNREAD:
            value = getattr(obj, name)
        if (
            isinstance(obj, type)
            and type(value) in (dict, list, set, bytearray)
            and not self.rt.is_sandbox_class(obj)
        ):
            return copy.copy(value)  # host class state stays unpoisoned
        value = self.vet(value)
        kind = type(obj)
        if (
            type(value) in _BOUND_METHOD_TYPES
            and value.__self__ is obj
            and getattr(kind, "__dictoffset__", 1) == 0
            and kind not in self.rt.sandbox_classes
            and len(self.vetted_methods) < 4096
        ):
            # a method of a type without instance dicts: the same (type, name) always gives
            # the same method, with the same verdict; later reads skip the vetting
            self.vetted_methods.add((kind, name))
        elif (
            type(value) is types.MethodType
            and value.__self__ is obj
            and kind not in self.rt.sandbox_classes
            and type(getattr(kind, "__dict__", None)) is types.MappingProxyType
            and isinstance(getattr(obj, "__dict__", None), dict)
            and name not in obj.__dict__
            and value.__func__ is _class_attribute(kind, name)
            and value.__func__ not in self.mutator_checks  # those decide per receiver
            and len(self.vetted_class_methods) < 4096
        ):
            # a Python method found on the class (not the instance): the verdict is the
            # function's, and ``ga`` re-checks that the instance does not shadow the name
            self.vetted_class_methods.add((kind, name))
        return value

    def vet(self, value: Any) -> Any:
        """Return ``value`` if sandboxed code may hold it, else abort."""
        kind = type(value)
        if kind in PLAIN_VALUE_TYPES:
            return value
        verdict = self._verdicts.get(kind)
        if verdict is None:
            verdict = self._verdicts[kind] = self._judge(kind)
        if verdict == "ok":
            return value
        if verdict == "module":
            return self.proxy_module(value)
        if verdict == "wrap":
            return self.value_wrappers[kind](value)
        if verdict == "class" and is_metaclass(value):
            return self.opaque_type(value)
        if verdict in ("callable", "class"):
            key = _callable_key(value)
            check = self.mutator_checks.get(key) if verdict == "callable" else None
            if check is not None:
                check(self, value)  # refuses, or lets the value through
                return value
            allowed = self._callable_verdicts.get(key)
            if allowed is None:
                allowed = self._judge_callable(value, verdict)
                if len(self._callable_verdicts) > 20_000:
                    self._callable_verdicts.clear()
                self._callable_verdicts[key] = allowed
            if allowed:
                return value
            self.rt.security(
                f"Access to {value!r} (from module '{_home_module(value)}') is not allowed in the sandbox"
            )
        self.rt.security(verdict)

    def _judge_callable(self, value: Any, verdict: str) -> bool:
        if id(value) in self.safe_ids:
            return True
        full_home = _home_module(value)
        if refused_capability(full_home, getattr(value, "__name__", ""), True) is not None:
            return False
        home = root_module(full_home)
        if verdict == "class" and home == "builtins" and value is not type:
            return True
        return home not in DANGEROUS_MODULE_ROOTS or self.authorized_root(home)

    def _judge(self, kind: type) -> str:
        if kind in self.value_wrappers:
            return "wrap"
        if issubclass(kind, types.ModuleType):
            return "module"
        if issubclass(kind, SealedProxy):
            return "ok"
        if issubclass(kind, _FORBIDDEN_TYPES):
            return f"Objects of type '{kind.__name__}' (frames, code, tracebacks, locks) are not allowed in the sandbox"
        if issubclass(kind, _CALLABLE_TYPES):
            return "callable"
        if issubclass(kind, type):
            return "class"
        if kind in HOST_STATE_TYPES:
            return HOST_STATE_TYPES[kind]
        home = root_module(getattr(kind, "__module__", ""))
        if (
            home != "builtins"
            and home in DANGEROUS_MODULE_ROOTS
            and kind.__name__ not in _SAFE_IO_TYPES
            and not self.authorized_root(home)
        ):
            return f"Objects of type '{kind.__module__}.{kind.__name__}' are not allowed in the sandbox"
        return "ok"

    def _refuse_module(self, module: types.ModuleType) -> Any:
        self.rt.security(f"Access to module '{module.__name__}' is not allowed")

    def dga(self, obj: Any, name: str) -> Any:
        """Allowed dunders: strings anywhere; the rest on sandbox objects and builtin types."""
        rt = self.rt
        if name in STRING_DUNDERS:
            value = getattr(obj, name)
            if value is None or type(value) is str:
                return value
            rt.security(f"Access to attribute '{name}' is not allowed here")
        if isinstance(obj, super):
            owner = obj.__self_class__  # type: ignore[attr-defined]  # not in typeshed
            if owner is not None and rt.is_sandbox_class(owner):
                return self.vet(getattr(obj, name))
        elif (
            rt.is_sandbox_instance(obj)
            or rt.is_sandbox_class(obj)
            or type(obj) in PLAIN_VALUE_TYPES
            or (isinstance(obj, type) and obj.__module__ == "builtins" and obj is not type)
        ):
            return self.vet(getattr(obj, name))
        rt.security(
            f"Access to attribute '{name}' is only allowed on objects created in the sandbox, "
            f"not on {type(obj).__name__!r} objects"
        )

    def _owns(self, obj: Any) -> bool:
        rt = self.rt
        if rt.is_sandbox_instance(obj) or rt.is_sandbox_class(obj):
            return True
        code = getattr(obj, "__code__", None) if isinstance(obj, types.FunctionType) else None
        return code is not None and code.co_filename == SANDBOX_FILENAME

    def pga(self, obj: Any, name: str) -> Any:
        """``_private`` attributes, only where the sandbox itself put them."""
        rt = self.rt
        if self._owns(obj):
            instance_dict = getattr(obj, "__dict__", None)
            if not isinstance(obj, type) and isinstance(instance_dict, dict) and name in instance_dict:
                return getattr(obj, name)
            mro = obj.__mro__ if isinstance(obj, type) else type(obj).__mro__
            for klass in mro:
                if name in klass.__dict__:
                    if klass in rt.sandbox_classes:
                        return getattr(obj, name)
                    break
            else:
                if isinstance(obj, types.FunctionType) or any(
                    "__getattr__" in klass.__dict__ for klass in mro if klass in rt.sandbox_classes
                ):
                    return getattr(obj, name)
                raise AttributeError(f"'{type(obj).__name__}' object has no attribute '{name}'")
        rt.security(
            f"Access to private attribute '{name}' is not allowed (only on objects created in the sandbox)"
        )

    # ------------------------------------------------------------------ classes, type()
    def check_class(self, cls: type) -> None:
        """Dunders of a sandbox class: the host may call them later (``len``, ``repr``,
        ``hash``...), when a host callable such as ``time.sleep`` or ``print`` bound there
        would run outside every check (see ``_risky_dunder_value``)."""
        for name, value in list(vars(cls).items()):
            if name not in _CALLED_DUNDERS or not _risky_dunder_value(value, self.rt, self.safe_ids):
                continue
            if any(
                getattr(base, name, None) is value or any(value is own for own in vars(base).values())
                for base in cls.__mro__[1:]
            ):
                continue  # a base class's own implementation (enum's __new__, __str__ = int.__repr__)
            self.rt.security(
                f"Class '{cls.__name__}' binds '{name}' to {value!r}, which was not defined in the sandbox; "
                "the host may call it after the executor call returns. Define it with 'def' in the class body"
            )

    def type_view(self, kind: type) -> Any:
        """What ``type(x)`` returns for ``x`` of type ``kind``: the real class when the sandbox
        may use it, else an opaque stand-in with the same name."""
        rt = self.rt
        if kind in PLAIN_VALUE_TYPES or id(kind) in self.safe_ids or rt.is_sandbox_class(kind):
            return kind
        home = root_module(getattr(kind, "__module__", ""))
        if (
            not is_metaclass(kind)
            and home not in _OPAQUE_TYPE_HOMES
            and kind not in HOST_STATE_TYPES
            and self._judge(kind) in ("ok", "wrap")
            and self._judge_callable(kind, "class")
        ):
            return kind
        return self.opaque_type(kind)

    def opaque_type(self, kind: type) -> Any:
        """An opaque stand-in for ``kind``: same name, ``isinstance`` works, cannot build objects.

        Also what sandbox code gets for metaclasses (``abc.ABCMeta``, ``enum.EnumType``):
        calling one with a namespace dict would create a class with any dunder in it."""
        rt = self.rt
        opaque = self._opaque_types.get(kind)
        if opaque is None:
            opaque = _OpaqueType(
                kind.__name__,
                (),
                {"_sb_real": kind, "_sb_refuse": rt.security, "__slots__": (), "__module__": "sandbox"},
            )
            opaque.__qualname__ = kind.__qualname__
            self._opaque_types[kind] = opaque
        return opaque

    # ------------------------------------------------------------------ set / delete
    def sa(self, obj: Any, name: str, value: Any) -> None:
        if type(obj) in self.rt.sandbox_classes:
            setattr(obj, name, value)
            return
        self._check_mutable(obj, name)
        setattr(obj, name, value)

    def da(self, obj: Any, name: str) -> None:
        self._check_mutable(obj, name)
        delattr(obj, name)

    def psa(self, obj: Any, name: str, value: Any) -> None:
        if not self._owns(obj):
            self.rt.security(
                f"Setting private attribute '{name}' is only allowed on objects created in the sandbox"
            )
        setattr(obj, name, value)

    def pda(self, obj: Any, name: str) -> None:
        if not self._owns(obj):
            self.rt.security(
                f"Deleting private attribute '{name}' is only allowed on objects created in the sandbox"
            )
        delattr(obj, name)

    def _check_mutable(self, obj: Any, name: str) -> None:
        if self._owns(obj):
            return
        if isinstance(obj, (type, types.ModuleType, SealedProxy)):
            self.rt.security(f"Cannot set or delete attribute '{name}' on {obj!r}: it belongs to the host")
        if isinstance(obj, _CALLABLE_TYPES):
            self.rt.security(f"Cannot set or delete attribute '{name}' on a host function")
        home = root_module(type(obj).__module__)
        if home in DANGEROUS_MODULE_ROOTS and not self.authorized_root(home):
            self.rt.security(f"Cannot modify objects of type '{type(obj).__name__}'")
        if _shared_host_object(obj):
            self.rt.security(
                f"Cannot set or delete attribute '{name}' on {type(obj).__name__!r} object {obj!r}: it is shared "
                "host state (a module-level object or a member of a host enum); make your own object instead"
            )

    # ------------------------------------------------------------------ dynamic names
    def resolve(self, obj: Any, name: Any) -> Any:
        """``getattr(obj, name)`` with a runtime name, under the same policy."""
        if type(name) is not str:
            raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
        if name.startswith("__"):
            if name in ALLOWED_DUNDER_ACCESS:
                return self.dga(obj, name)
            self.rt.security(f"Access to dunder attribute '{name}' is not allowed")
        if name.startswith("_"):
            return self.pga(obj, name)
        if name in BLOCKED_ATTRIBUTES:
            self.rt.security(f"Access to attribute '{name}' is not allowed")
        if name in SPECIAL_ATTRIBUTES:
            return self.gas(obj, name)
        return self.ga(obj, name)

    def assign(self, obj: Any, name: Any, value: Any) -> None:
        if type(name) is not str:
            raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
        if name.startswith("__") or name in BLOCKED_ATTRIBUTES:
            self.rt.security(f"Setting attribute '{name}' is not allowed")
        if name.startswith("_"):
            self.psa(obj, name, value)
        else:
            self.sa(obj, name, value)

    def delete(self, obj: Any, name: Any) -> None:
        if type(name) is not str:
            raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
        if name.startswith("__") or name in BLOCKED_ATTRIBUTES:
            self.rt.security(f"Deleting attribute '{name}' is not allowed")
        if name.startswith("_"):
            self.pda(obj, name)
        else:
            self.da(obj, name)

    # ------------------------------------------------------------------ special names
    def gas(self, obj: Any, name: str) -> Any:
        if type(obj) is super:
            return self._super_special(obj, name)
        if isinstance(obj, type):
            obj = self.real_types.get(obj, obj)
        return _SPECIAL_HANDLERS[name](self, obj, name)


class AttrView:
    """Stand-in for an attribute *target* (``a.b, c.d = ...``, ``for a.b in ...``, ``del a.b``).

    The rewriter turns the target ``obj.name`` into ``__sb_av__(obj)["name"]`` so every
    assignment form keeps Python's evaluation order while going through the policy.
    """

    __slots__ = ("_guard", "_obj")

    def __init__(self, guard: AttributeGuard, obj: Any) -> None:
        self._guard = guard
        self._obj = obj

    def __getitem__(self, name: str) -> Any:
        return self._guard.resolve(self._obj, name)

    def __setitem__(self, name: str, value: Any) -> None:
        self._guard.assign(self._obj, name, value)

    def __delitem__(self, name: str) -> None:
        self._guard.delete(self._obj, name)
