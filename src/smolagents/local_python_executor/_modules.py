"""Import policy and module proxies.

Sandboxed code never holds a real module. ``import x`` yields a :class:`ModuleProxy`
that exposes only the public API of ``x``: no ``_`` names, no module that ``x`` itself
imported (``random.os``, ``re.enum``), submodules only when authorised, copies of
mutable module-level containers, and per-module overrides where the real function
could hurt the host (``time.sleep`` past the deadline, ``random.seed`` on the host's
generator, ``math.factorial(10**9)``, numpy/pandas file I/O, ``queue.get()`` forever).
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import itertools
import math
import operator
import queue
import sys
import time
import types
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._datalibs import DATA_LIB_ROOTS, numpy_overrides
from ._limits import SandboxAbort, SandboxLimits, check_int_bits, resource_error
from ._pandas_policy import pandas_overrides
from ._policy import BASE_BUILTIN_MODULES, NEVER_VIA_WILDCARD, refused_capability
from ._resource_overrides import (
    ChainGuard,
    itertools_overrides,
    math_overrides,
    random_overrides,
    statistics_overrides,
)
from ._runtime import Runtime
from ._security import AttributeGuard, SealedProxy, is_metaclass
from ._stdlib_state import STATE_BUILDERS

__all__ = ["ImportPolicy", "ModuleGateway", "ModuleProxy"]

_TOKEN = object()
#: Authorising one of these by name hands the host over; the constructor warns about it.
_HOST_CONTROL_MODULES = frozenset(
    {
        "os",
        "sys",
        "subprocess",
        "builtins",
        "importlib",
        "ctypes",
        "pickle",
        "marshal",
        "shutil",
        "socket",
        "io",
    }
    | {"pathlib", "multiprocessing", "threading", "gc", "inspect", "posix", "pty", "signal", "code", "runpy"}
)

#: Names refused in every module under a root unless ``allow_data_io`` is set.
_DATA_IO_NAMES = {
    "numpy": frozenset(
        {
            "load",
            "loads",
            "save",
            "savez",
            "savez_compressed",
            "savetxt",
            "loadtxt",
            "genfromtxt",
            "fromfile",
            "memmap",
            "fromregex",
            "DataSource",
            "recfromcsv",
            "recfromtxt",
            "open_memmap",
        }
    ),
    "pandas": frozenset({"eval", "to_pickle", "ExcelWriter", "HDFStore", "ExcelFile", "show_versions"}),
    "pickle": frozenset({"load", "loads", "Unpickler"}),
}
#: Names refused whatever the options: host-global state, eval gadgets, amplifiers.
_ALWAYS_DENIED = {
    "numpy": frozenset({"set_printoptions", "seterrcall", "setbufsize", "set_string_function", "source"}),
    "pandas": frozenset({"set_eng_float_format"}),
    "typing": frozenset({"get_type_hints", "clear_overloads"}),
    "time": frozenset({"tzset", "clock_settime", "clock_settime_ns"}),
    "timeit": frozenset({"main"}),
    "collections": frozenset({"UserString", "UserList"}),
    "string": frozenset({"Formatter"}),
    # logging: the sandbox gets a private logging world (_stdlib_state); these would reach
    # files, sockets, processes or import arbitrary names (logging.config), or host handlers
    "logging": frozenset(
        {"FileHandler", "currentframe", "getHandlerByName", "getHandlerNames"}
        | {"dictConfig", "fileConfig", "listen", "stopListening", "BaseConfigurator", "DictConfigurator"}
        | {"dictConfigClass", "ConvertingDict", "ConvertingList", "ConvertingTuple", "ConvertingMixin"}
        | {"WatchedFileHandler", "RotatingFileHandler", "TimedRotatingFileHandler", "BaseRotatingHandler"}
        | {"SocketHandler", "DatagramHandler", "SysLogHandler", "SMTPHandler", "HTTPHandler"}
        | {"NTEventLogHandler", "QueueListener"}
    ),
}


#: C or platform modules -> the public package whose objects they define.
_IMPLEMENTED_BY = {
    "_io": "io",
    "_thread": "threading",
    "_socket": "socket",
    "_ssl": "ssl",
    "_pickle": "pickle",
    "posix": "os",
    "nt": "os",
    "posixpath": "os",
    "ntpath": "os",
    "_posixsubprocess": "subprocess",
    "_ctypes": "ctypes",
    "_multiprocessing": "multiprocessing",
    "_sqlite3": "sqlite3",
    "_imp": "importlib",
}


class ImportPolicy:
    """Which modules may be imported, from the default list plus the user's additions."""

    def __init__(self, additional: Iterable[str]) -> None:
        self.authorized = list(dict.fromkeys([*BASE_BUILTIN_MODULES, *additional]))
        self.any = "*" in self.authorized
        self.exact = {entry for entry in self.authorized if not entry.endswith(".*") and entry != "*"}
        self.wildcards = [entry[:-2] for entry in self.authorized if entry.endswith(".*")]
        if self.any:
            warnings.warn(
                "additional_authorized_imports contains '*': sandboxed code may import ANY module "
                "(os, subprocess, ...). Only do this in an environment you are ready to lose.",
                stacklevel=4,
            )
        named_danger = sorted(entry for entry in self.exact if entry.split(".")[0] in _HOST_CONTROL_MODULES)
        if named_danger:
            warnings.warn(
                f"Authorising {named_danger} lets sandboxed code reach the file system, processes or the "
                "interpreter; the sandbox cannot protect the host through these modules.",
                stacklevel=4,
            )

    def allows(self, module: str) -> bool:
        if self.any or module in self.exact:
            return True
        for prefix in self.wildcards:
            if module == prefix or module.startswith(prefix + "."):
                return not any(module == d or module.startswith(d + ".") for d in NEVER_VIA_WILDCARD)
        return False

    def leads_to(self, module: str) -> bool:
        """True if some authorised module lives under ``module``."""
        return any(entry.startswith(module + ".") for entry in self.exact) or any(
            prefix == module or prefix.startswith(module + ".") for prefix in self.wildcards
        )

    def root_authorized(self, root: str) -> bool:
        """Is the top-level package ``root`` authorised? C accelerator modules count as the
        package they implement (objects of ``io`` report ``_io`` as their module)."""
        root = _IMPLEMENTED_BY.get(root, root)
        return self.any or root in self.exact or root in self.wildcards

    def missing(self) -> list[str]:
        """Authorised entries whose top-level package is not installed.

        Only the top-level package is looked up: ``'pkg.sub'`` may name a submodule that is
        imported later (or not at all), and looking it up would import ``pkg`` now."""
        out = []
        for entry in self.authorized:
            name = (entry[:-2] if entry.endswith(".*") else entry).split(".")[0]
            if name == "*":
                continue
            try:
                found = importlib.util.find_spec(name) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                out.append(entry)
        return out


class ModuleProxy(SealedProxy):
    """A module as the sandbox sees it; attribute reads go through the gateway's policy."""

    __slots__ = ("__dict__", "_sb_full", "_sb_gateway", "_sb_module")

    def __init__(self, token: object, module: types.ModuleType, full: bool, gateway: ModuleGateway) -> None:
        if token is not _TOKEN:
            raise TypeError("module proxies cannot be created in the sandbox")
        object.__setattr__(self, "_sb_module", module)
        object.__setattr__(self, "_sb_full", full)
        object.__setattr__(self, "_sb_gateway", gateway)

    def __getattr__(self, name: str) -> Any:
        value = self._sb_gateway.attribute(self._sb_module, self._sb_full, name)
        object.__setattr__(self, name, value)  # later reads are a plain instance-dict hit
        return value

    def __dir__(self) -> list[str]:
        return self._sb_gateway.public_names(self._sb_module)

    def __repr__(self) -> str:
        return f"<module '{self._sb_module.__name__}' (sandboxed)>"


def _ticking(iterator: Iterator[Any], rt: Runtime) -> Iterator[Any]:
    """Re-yield ``iterator`` with a tick every 256 items, so C consumers stay preemptible."""
    for count, item in enumerate(iterator, 1):
        if not count & 255:
            rt.tick()
        yield item


class ModuleGateway:
    """Imports and module attribute access for one executor."""

    def __init__(
        self,
        policy: ImportPolicy,
        runtime: Runtime,
        guard: AttributeGuard,
        limits: SandboxLimits,
        allow_data_io: bool,
        operators: dict[str, Callable[..., Any]],
        regex_functions: dict[str, Any],
        state: Callable[[], dict[str, Any]],
        protected: Callable[[], frozenset[str]],
    ) -> None:
        self.policy = policy
        self.rt = runtime
        self.guard = guard
        self.limits = limits
        self.allow_data_io = allow_data_io
        self.operators = operators
        self.state = state
        self.protected = protected
        self._proxies: dict[str, ModuleProxy] = {}
        self._cache: dict[tuple[str, str], Any] = {}
        self._overrides: dict[str, dict[str, Any]] = {"re": regex_functions}
        runtime.fast_types.add(ModuleProxy)
        runtime.builtins["__sb_module__"] = ModuleProxy  # the guessed receiver type of ``math.x``

    # ------------------------------------------------------------------ imports
    def refuse(self, module: str) -> None:
        self.rt.security(
            f"Import of {module} is not allowed. Authorized imports are: {self.policy.authorized}"
        )

    def proxy(self, module: types.ModuleType, name: str | None = None) -> ModuleProxy:
        """The proxy of ``module``, authorised under ``name`` (its import path, which differs
        from ``__name__`` for aliases such as ``os.path`` -> ``posixpath``)."""
        name = name or module.__name__
        proxy = self._proxies.get(name)
        if proxy is None:
            proxy = self._proxies[name] = ModuleProxy(_TOKEN, module, self.policy.allows(name), self)
        return proxy

    def stand_in(self, real: type, make: Callable[..., Any]) -> type:
        """A stand-in for the class ``real`` whose calls go through ``make``: ``isinstance``,
        ``issubclass`` and public attributes answer as ``real``, and a class statement that
        subclasses it gets ``real`` as its base."""
        from ._builtins import _stand_in

        stand_in = _stand_in((real,), make)
        self.guard.real_types[stand_in] = real
        self.guard.subclass_bases[stand_in] = real
        self.guard.safe_ids.add(id(stand_in))
        return stand_in

    def proxy_for_value(self, module: types.ModuleType) -> ModuleProxy:
        if self.policy.allows(module.__name__):
            return self.proxy(module)
        self.rt.security(f"Access to module '{module.__name__}' is not allowed")

    def import_module(self, name: str, bind_leaf: bool) -> ModuleProxy:
        """``import a.b.c`` (binds ``a``) or ``import a.b.c as x`` (binds ``a.b.c``)."""
        if not self.policy.allows(name):
            self.refuse(name)
        module = importlib.import_module(name)
        if bind_leaf:
            return self.proxy(module, name)
        return self.proxy(importlib.import_module(name.split(".")[0]))

    def import_from(self, module_name: str, name: str) -> Any:
        if not self.policy.allows(module_name):
            self.refuse(module_name)
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            submodule = f"{module_name}.{name}"
            if importlib.util.find_spec(submodule) is None:
                raise ImportError(f"cannot import name '{name}' from '{module_name}'")
            if not self.policy.allows(submodule):
                self.refuse(submodule)
            return self.proxy(importlib.import_module(submodule), submodule)
        return self.attribute(module, True, name)

    def import_star(self, module_name: str) -> None:
        if not self.policy.allows(module_name):
            self.refuse(module_name)
        module = importlib.import_module(module_name)
        clash = self.protected() & set(self.public_names(module))
        if clash:
            self.rt.security(f"'from {module_name} import *' would overwrite the tools {sorted(clash)}")
        state = self.state()
        for name in self.public_names(module):
            pending = self.rt.pending
            try:
                state[name] = self.attribute(module, True, name)
            except AttributeError:
                continue
            except SandboxAbort:  # a refused name is simply not imported by '*'
                if pending is not None:
                    raise
                self.rt.pending = None

    def public_names(self, module: types.ModuleType) -> list[str]:
        names = getattr(module, "__all__", None)
        if not isinstance(names, (list, tuple)):
            names = [name for name in dir(module) if not name.startswith("_")]
        return [name for name in names if isinstance(name, str) and not name.startswith("_")]

    # ------------------------------------------------------------------ attributes
    def attribute(self, module: types.ModuleType, full: bool, name: str) -> Any:
        module_name = module.__name__
        key = (module_name, name)
        if key in self._cache:
            return self._cache[key]
        if name.startswith("_"):
            self.rt.security(f"Access to private attribute '{name}' of module '{module_name}' is not allowed")
        value = getattr(module, name)  # AttributeError for missing names, as usual
        if isinstance(value, types.ModuleType):
            submodule = value.__name__
            if sys.modules.get(f"{module_name}.{name}") is value:
                submodule = f"{module_name}.{name}"  # an alias registered as a submodule: os.path
            if submodule == f"{module_name}.{name}" and (
                self.policy.allows(submodule) or self.policy.leads_to(submodule)
            ):
                value = self.proxy(value, submodule)
                self._cache[key] = value
                return value
            hint = "" if submodule != f"{module_name}.{name}" else f" (authorise '{submodule}' to use it)"
            self.rt.security(
                f"Access to module '{submodule}' via '{module_name}.{name}' is not allowed{hint}"
            )
        if not full:
            self.rt.security(
                f"Module '{module_name}' is not authorised (only some of its submodules are); "
                f"authorised imports are: {self.policy.authorized}"
            )
        refusal = refused_capability(module_name, name, callable(value))
        if refusal is not None:
            self.rt.security(refusal)
        if module_name == "builtins" and name in self.rt.builtins:
            value = self.rt.builtins[name]  # the sandbox's own (guarded) version
            self._cache[key] = value
            return value
        root = module_name.split(".")[0]
        if name in _ALWAYS_DENIED.get(root, ()) or (
            not self.allow_data_io
            and (name in _DATA_IO_NAMES.get(root, ()) or (root == "pandas" and name.startswith("read_")))
        ):
            self.rt.security(
                f"'{module_name}.{name}' is disabled in the sandbox"
                + (
                    ""
                    if name in _ALWAYS_DENIED.get(root, ())
                    else " (file I/O or code evaluation; enable allow_data_io)"
                )
            )
        overrides = self._module_overrides(root, module_name)
        if name in overrides:
            value = overrides[name]
        elif type(value) in (dict, list, set, bytearray):
            value = copy.copy(value)
        elif is_metaclass(value):
            value = self.guard.opaque_type(value)  # no dynamic class creation from a namespace dict
        elif not callable(value) or isinstance(value, type):
            kind = self.guard._judge(type(value))
            if kind not in ("ok", "callable", "class", "module", "wrap"):
                self.rt.security(kind)
            if kind == "wrap":
                value = self.guard.vet(value)
        self._cache[key] = value
        return value

    def _module_overrides(self, root: str, module_name: str) -> dict[str, Any]:
        if module_name in self._overrides:
            return self._overrides[module_name]
        if root in DATA_LIB_ROOTS:  # every numpy/pandas submodule: see ``_datalibs``
            table = _DATA_LIB_BUILDERS[root](self, module_name)
            self._overrides[module_name] = table
            return table
        builder = _OVERRIDE_BUILDERS.get(module_name)
        table = builder(self) if builder else {}
        self._overrides[module_name] = table
        return table

    # ------------------------------------------------------------------ overrides
    def _random(self) -> dict[str, Any]:
        table = random_overrides(self.limits)
        # the checked generator classes are ours: every public attribute of an instance is a
        # method of theirs (size-checked where it allocates) or a value the sandbox set
        self.rt.fast_types.update({table["Random"], table["SystemRandom"]})
        return table

    def _time(self) -> dict[str, Any]:
        rt = self.rt

        def sleep(seconds: float) -> None:
            if not isinstance(seconds, (int, float)):
                raise TypeError(f"'{type(seconds).__name__}' object cannot be interpreted as a number")
            if seconds < 0:
                raise ValueError("sleep length must be non-negative")
            remaining = rt.remaining_time()
            if remaining is not None and seconds > remaining:
                resource_error(
                    f"time.sleep({seconds}) would run past the time limit ({max(remaining, 0):.1f} s left; "
                    "SandboxLimits.timeout_seconds)",
                    "timeout_seconds",
                )
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(left, 0.05))
                rt.tick()

        return {"sleep": sleep}

    def _math(self) -> dict[str, Any]:
        limits = self.limits
        mul = self.operators["__sb_mul__"]
        rt = self.rt

        def factorial(n: Any) -> int:
            n = operator.index(n)
            if n > 2:
                check_int_bits(n * n.bit_length(), limits, f"math.factorial({n})")
            return math.factorial(n)

        def comb(n: Any, k: Any) -> int:
            n, k = operator.index(n), operator.index(k)
            if n > 0 and 0 < k < n:
                check_int_bits(min(k, n - k) * n.bit_length(), limits, f"math.comb({n}, {k})")
            return math.comb(n, k)

        def perm(n: Any, k: Any = None) -> int:
            n = operator.index(n)
            steps = n if k is None else operator.index(k)
            if n > 0 and steps > 0:
                check_int_bits(min(steps, n) * n.bit_length(), limits, f"math.perm({n}, {k})")
            return math.perm(n, k)

        def prod(iterable: Iterable[Any], *, start: Any = 1) -> Any:
            result = start
            for index, item in enumerate(iterable):
                if not index & 255:
                    rt.tick()
                result = mul(result, item)
            return result

        return {
            "factorial": factorial,
            "comb": comb,
            "perm": perm,
            "prod": prod,
            **math_overrides(limits, rt),  # gcd, lcm, isqrt: see _resource_overrides
        }

    def _itertools(self) -> dict[str, Any]:
        rt = self.rt
        limits = self.limits

        def count(start: Any = 0, step: Any = 1) -> Iterator[Any]:
            return _ticking(itertools.count(start, step), rt)

        def cycle(iterable: Iterable[Any]) -> Iterator[Any]:
            return _ticking(itertools.cycle(iterable), rt)

        def repeat(obj: Any, times: Any = None) -> Iterator[Any]:
            if times is not None and times <= limits.max_sequence_length:
                return itertools.repeat(obj, times)
            return _ticking(itertools.repeat(obj) if times is None else itertools.repeat(obj, times), rt)

        def wrap(factory: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
            return lambda *args, **kwargs: _ticking(factory(*args, **kwargs), rt)

        return {
            **itertools_overrides(ChainGuard(rt), rt),  # depth-checked combinators
            "count": count,
            "cycle": cycle,
            "repeat": repeat,
            "product": wrap(itertools.product),
            "permutations": wrap(itertools.permutations),
            "combinations": wrap(itertools.combinations),
            "combinations_with_replacement": wrap(itertools.combinations_with_replacement),
        }

    def _queue(self) -> dict[str, Any]:
        rt = self.rt

        def bounded(
            method: Callable[..., Any], block: bool, timeout: Any, empty: type[BaseException], *args: Any
        ) -> Any:
            if not block:
                return method(*args, False)
            remaining = rt.remaining_time()
            if remaining is None and timeout is None:
                resource_error("a blocking queue call without timeout could wait forever", "timeout_seconds")
            limit = (
                timeout if remaining is None else (remaining if timeout is None else min(timeout, remaining))
            )
            try:
                return method(*args, True, max(limit, 0))
            except empty:
                if timeout is None or (remaining is not None and timeout > remaining):
                    resource_error(
                        "a blocking queue operation waited until the time limit (the sandbox runs a single "
                        "thread, so nothing else can fill or drain the queue)",
                        "timeout_seconds",
                    )
                raise

        def bounded_class(base: type) -> type:
            klass: Any  # the class made below (Any: mypy cannot follow super() through a type() call)

            def get(self: Any, block: bool = True, timeout: Any = None) -> Any:
                return bounded(super(klass, self).get, block, timeout, queue.Empty)  # type: ignore[misc]

            def put(self: Any, item: Any, block: bool = True, timeout: Any = None) -> None:
                if base is queue.SimpleQueue:
                    return base.put(self, item)
                return bounded(super(klass, self).put, block, timeout, queue.Full, item)  # type: ignore[misc]

            def join(self: Any) -> None:
                if getattr(self, "unfinished_tasks", 0):
                    resource_error("queue.join() with unfinished tasks would wait forever", "timeout_seconds")

            namespace: dict[str, Any] = {"get": get, "put": put, "__module__": "queue"}
            if base is not queue.SimpleQueue:
                namespace["join"] = join
            klass = type(base.__name__, (base,), namespace)
            return klass

        return {
            name: bounded_class(getattr(queue, name))
            for name in ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue")
        }

    def _operator(self) -> dict[str, Any]:
        resolve = self.guard.resolve
        ops = self.operators

        def attrgetter(*names: str) -> Callable[[Any], Any]:
            def fetch(obj: Any, dotted: str) -> Any:
                for part in dotted.split("."):
                    obj = resolve(obj, part)
                return obj

            if len(names) == 1:
                return lambda obj: fetch(obj, names[0])
            return lambda obj: tuple(fetch(obj, name) for name in names)

        def methodcaller(name: str, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
            return lambda obj: resolve(obj, name)(*args, **kwargs)

        return {
            "attrgetter": attrgetter,
            "methodcaller": methodcaller,
            "mul": ops["__sb_mul__"],
            "imul": ops["__sb_imul__"],
            "pow": ops["__sb_pow__"],
            "ipow": ops["__sb_ipow__"],
            "lshift": ops["__sb_lshift__"],
            "ilshift": ops["__sb_ilshift__"],
            "mod": ops["__sb_mod__"],
            "imod": ops["__sb_imod__"],
            "floordiv": ops["__sb_floordiv__"],
            "ifloordiv": ops["__sb_ifloordiv__"],
        }


_OVERRIDE_BUILDERS: dict[str, Callable[[ModuleGateway], dict[str, Any]]] = {
    "random": ModuleGateway._random,
    "time": ModuleGateway._time,
    "math": ModuleGateway._math,
    "itertools": ModuleGateway._itertools,
    "queue": ModuleGateway._queue,
    "statistics": lambda gateway: statistics_overrides(gateway.limits),
    "operator": ModuleGateway._operator,
    **STATE_BUILDERS,
}
#: numpy / pandas (and all their submodules): memory, dispatch and host-state policy
_DATA_LIB_BUILDERS: dict[str, Callable[[ModuleGateway, str], dict[str, Any]]] = {
    "numpy": numpy_overrides,
    "pandas": pandas_overrides,
}
