"""numpy and pandas policy: raw memory, dispatch by method name, host-global state.

numpy and pandas are C-accelerated libraries that trust their caller. Three capabilities
must not reach sandboxed code, whatever the spelling:

* **Raw memory.** ``np.ndarray(shape, object, buffer=b)`` forges Python objects from
  bytes, ``as_strided`` and negative offsets read outside a buffer, and an object that
  answers ``__array_interface__`` hands numpy any address. Array classes are replaced by
  stand-ins (module attributes and ``type(arr)`` alike) whose results are checked: every
  array built over existing memory must lie inside that memory, and object arrays only
  over object memory with the same layout. Sandbox-made classes never answer protocol
  (dunder) names through ``__getattr__``.
* **Dispatch by name.** ``df.agg("to_csv", path)`` or ``df.apply("query", ...)`` reach
  methods without an attribute access; names in function positions are run through the
  sandbox's attribute policy first (see ``_special``; the pandas-specific checks live in
  ``_pandas_policy``).
* **Host state.** numpy's error state, print options and global ``RandomState``, the
  index-trick singletons (``np.r_``...) and pandas options are process-wide. Each executor
  gets its own random generator and index-trick copies; error state, print options, the
  global generator and pandas options are snapshot at the start of a call and restored at
  its end (pandas options the sandbox set are re-applied at its next call).
"""

from __future__ import annotations

import copy
import importlib
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._limits import resource_error

__all__ = [
    "DATA_LIB_ROOTS",
    "checked_array_result",
    "datalibs_for",
    "numpy_overrides",
    "real_class",
    "seal_protocol_lookups",
    "type_stand_in",
]

DATA_LIB_ROOTS = frozenset({"numpy", "pandas"})
_TOKEN = object()
#: numpy module functions that build arrays over caller-supplied memory
_BUFFER_BUILDERS = ("frombuffer", "as_strided", "fromstring", "fromrecords", "fromarrays", "array", "asarray")
_BUFFER_MODULES = ("numpy.rec", "numpy.char", "numpy.lib.stride_tricks", "numpy._core.records")


# ---------------------------------------------------------------------- raw memory
def _byte_bounds(np: Any, arr: Any) -> tuple[int, int]:
    utils = getattr(np.lib, "array_utils", None)
    bounds = utils.byte_bounds if utils is not None else np.byte_bounds
    return bounds(arr)


def _memory_root(np: Any, arr: Any) -> Any:
    """The object that owns ``arr``'s memory (through views and numpy's ``as_strided`` shim)."""
    root = arr
    while True:
        if isinstance(root, np.ndarray) and root.base is not None:
            root = root.base
        elif type(root).__name__ == "DummyArray" and type(root).__module__.startswith("numpy."):
            root = root.base  # numpy's own as_strided interface holder; .base is the array
        else:
            return root


def foreign_memory_problem(np: Any, arr: Any) -> str | None:
    """Why ``arr`` may not be handed to the sandbox, or None if its memory is provably its base's."""
    if not isinstance(arr, np.ndarray):
        return None
    root = _memory_root(np, arr)
    if root is arr:
        return None  # numpy allocated it
    lo, hi = _byte_bounds(np, arr)
    if isinstance(root, np.ndarray):
        root_lo, root_hi = _byte_bounds(np, root)
        root_objects = root.dtype.hasobject
    else:
        try:
            flat = np.frombuffer(root, dtype=np.uint8)
        except (TypeError, ValueError, BufferError):
            return "its memory comes from an object that is not a bounded buffer"
        root_lo, root_hi = _byte_bounds(np, flat)
        root_objects = False
    if arr.size and (lo < root_lo or hi > root_hi):
        return "it reaches outside the memory of the buffer or array it views"
    if arr.dtype.hasobject:
        size = arr.dtype.itemsize
        if (
            not root_objects
            or arr.dtype != root.dtype
            or (lo - root_lo) % size
            or any(stride % size for stride in arr.strides)
        ):
            return "an object array may only view object memory with the same layout"
    return None


def checked_array_result(rt: Any, value: Any, what: str) -> Any:
    np = sys.modules.get("numpy")
    if np is not None:
        problem = foreign_memory_problem(np, value)
        if problem is not None:
            rt.security(
                f"{what} built an array over memory the sandbox does not own ({problem}); raw-memory "
                "views are refused in-process. Build arrays with numpy functions, or run untrusted "
                "low-level code in a process executor."
            )
    return value


class _ArrayClass(type):
    """Metaclass of the stand-ins for numpy array classes: ``isinstance`` and attribute
    reads go to the real class, construction checks the result, subclassing is refused."""

    _sb_real: type
    _sb_make: Callable[..., Any]

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], token: Any = None
    ) -> Any:
        if token is not _TOKEN:
            raise TypeError(
                f"Subclassing numpy array classes ('{name}') is not supported in the sandbox: its "
                "constructor can view raw memory. Use plain arrays, or a process executor."
            )
        return super().__new__(mcls, name, bases, namespace)

    def __init__(
        cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], token: Any = None
    ) -> None:
        super().__init__(name, bases, namespace)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._sb_make(*args, **kwargs)

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._sb_real)

    def __subclasscheck__(cls, sub: Any) -> bool:
        sub = getattr(sub, "_sb_real", sub) if isinstance(sub, _ArrayClass) else sub
        return isinstance(sub, type) and issubclass(sub, cls._sb_real)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(cls._sb_real, name)

    def __getitem__(cls, item: Any) -> Any:
        return cls._sb_real[item]  # type: ignore[index]

    def __repr__(cls) -> str:
        return repr(cls._sb_real)


def real_class(value: Any) -> Any:
    return value._sb_real if isinstance(value, _ArrayClass) else value


# ---------------------------------------------------------------------- protocol lookups
def seal_protocol_lookups(cls: type, rt: Any) -> None:
    """A sandbox class's ``__getattr__`` never answers dunder names during a call.

    numpy and pandas look protocol attributes (``__array_interface__``,
    ``__array_struct__``, ``__dlpack__``, ``__dataframe__``...) up on *instances*, so a
    ``__getattr__`` answering them could hand numpy a raw address. Python's own protocols
    never go through ``__getattr__``, so ordinary classes do not notice. Outside a call
    the original runs, and refuses as all sandbox code does there.
    """
    hook = cls.__dict__.get("__getattr__")
    if hook is None or getattr(hook, "_sb_sealed", False):
        return

    def __getattr__(self: Any, name: str) -> Any:
        if name.startswith("__") and name.endswith("__") and rt.active:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        getter = getattr(type(hook), "__get__", None)
        bound = getter(hook, self, type(self)) if getter is not None else hook
        return bound(name)

    __getattr__._sb_sealed = True  # type: ignore[attr-defined]
    type.__setattr__(cls, "__getattr__", __getattr__)


# ---------------------------------------------------------------------- per-executor state
class DataLibs:
    """numpy/pandas state of one executor: stand-ins, its generator, saved host state."""

    def __init__(self, guard: Any) -> None:
        self.guard = guard
        self.rt = guard.rt
        self.stand_ins: dict[type, _ArrayClass] = {}
        self.copies: dict[int, Any] = {}
        self.random_state: Any = None
        self._saved: dict[str, Any] = {}
        self._own_pandas: dict[str, Any] = {}
        self.rt.add_call_hook(self.enter, self.exit)

    # ------------------------------------------------------------------ array classes
    def stand_in(self, real: type) -> _ArrayClass:
        made = self.stand_ins.get(real)
        if made is None:
            rt = self.rt
            label = f"numpy.{real.__name__}()"

            def make(*args: Any, **kwargs: Any) -> Any:
                return checked_array_result(rt, real(*args, **kwargs), label)

            namespace = {
                "_sb_real": real,
                "_sb_make": staticmethod(make),
                "__module__": real.__module__,
                "__qualname__": real.__qualname__,
                "__doc__": real.__doc__,
                "__slots__": (),
            }
            made = self.stand_ins[real] = _ArrayClass(real.__name__, (), namespace, token=_TOKEN)
            self.guard.real_types[made] = real
        return made

    def own_copy(self, value: Any) -> Any:
        made = self.copies.get(id(value))
        if made is None:
            made = self.copies[id(value)] = (value, copy.copy(value))
        return made[1]

    # ------------------------------------------------------------------ host state
    def enter(self) -> None:
        self._saved = _snapshot()
        pd_set = _pandas_setter()
        for key, value in self._own_pandas.items():
            try:
                pd_set(key, value)
            except Exception:
                pass

    def watch_pandas(self) -> None:
        """pandas was imported during a call: its options join this call's snapshot."""
        if self.rt.owner is not None and "pandas" not in self._saved:
            self._saved.update({k: v for k, v in _snapshot().items() if k == "pandas"})

    def exit(self) -> None:
        saved, self._saved = self._saved, {}
        now = _snapshot()
        old, new = saved.get("pandas", {}), now.get("pandas", {})
        self._own_pandas = {key: value for key, value in new.items() if old.get(key, value) != value}
        _restore(saved, now)


def datalibs_for(guard: Any) -> DataLibs:
    found = guard.__dict__.get("_sb_datalibs")
    if found is None:
        found = guard.__dict__["_sb_datalibs"] = DataLibs(guard)
    return found


def type_stand_in(guard: Any, kind: type) -> Any:
    """``type(x)`` in the sandbox: numpy array classes become their checked stand-ins."""
    np = sys.modules.get("numpy")
    if np is None or not issubclass(kind, np.ndarray):
        return None
    return datalibs_for(guard).stand_in(kind)


def _flatten(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _pandas_setter() -> Callable[[str, Any], None]:
    pd = sys.modules.get("pandas")
    return pd.set_option if pd is not None else (lambda key, value: None)


def _snapshot() -> dict[str, Any]:
    saved: dict[str, Any] = {}
    np = sys.modules.get("numpy")
    if np is not None:
        saved["err"] = np.geterr()
        saved["print"] = np.get_printoptions()
        mtrand = sys.modules.get("numpy.random.mtrand")
        rand = getattr(mtrand, "_rand", None)
        if rand is not None:
            saved["random"] = rand.get_state()
    config = sys.modules.get("pandas._config.config")
    if config is not None and "pandas" in sys.modules:
        saved["pandas"] = dict(_flatten(copy.deepcopy(config._global_config)))
    return saved


def _restore(saved: dict[str, Any], now: dict[str, Any]) -> None:
    np = sys.modules.get("numpy")
    if np is not None:
        if "err" in saved and np.geterr() != saved["err"]:
            np.seterr(**saved["err"])
        if "print" in saved and np.get_printoptions() != saved["print"]:
            np.set_printoptions(**saved["print"])
        if "random" in saved:
            rand = sys.modules["numpy.random.mtrand"]._rand
            state = rand.get_state()
            if state[2:] != saved["random"][2:] or not np.array_equal(state[1], saved["random"][1]):
                rand.set_state(saved["random"])
    old, new = saved.get("pandas"), now.get("pandas")
    if old is not None and new is not None and old != new:
        pd_set = _pandas_setter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # restoring deprecated options must not warn the host
            for key, value in old.items():
                if new.get(key) != value:
                    pd_set(key, value)


# ---------------------------------------------------------------------- numpy overrides
def _size_checks(gateway: Any, np: Any) -> dict[str, Any]:
    """Size checks on the main numpy constructors, before they allocate."""
    cap = gateway.limits.max_memory_bytes
    if cap is None:
        return {}

    def check(elements: Any, dtype: Any, what: str) -> None:
        try:
            itemsize = np.dtype(dtype).itemsize if dtype is not None else 8
            size = int(elements) * max(itemsize, 1)
        except (TypeError, ValueError, OverflowError):
            return
        if size > cap:
            resource_error(
                f"numpy.{what}() would allocate about {size // 2**20} MiB, over the memory limit "
                f"of {cap // 2**20} MiB (SandboxLimits.max_memory_bytes)",
                "max_memory_bytes",
            )

    def shape_size(shape: Any) -> int:
        if isinstance(shape, Iterable):
            return math.prod(int(dim) for dim in shape)
        return int(shape)

    def by_shape(name: str) -> Callable[..., Any]:
        real = getattr(np, name)
        position = 1 if name == "full" else 0

        def create(shape: Any, *args: Any, **kwargs: Any) -> Any:
            dtype = kwargs.get("dtype", args[position] if len(args) > position else None)
            check(shape_size(shape), dtype, name)
            return real(shape, *args, **kwargs)

        return create

    def arange(*args: Any, **kwargs: Any) -> Any:
        numbers = args[:3]
        if numbers and all(isinstance(a, (int, float)) for a in numbers):
            start, stop, step = (0, numbers[0], 1) if len(numbers) == 1 else (*numbers[:2], 1)
            if len(numbers) == 3:
                step = numbers[2]
            if step:
                check(max((stop - start) / step, 0), kwargs.get("dtype"), "arange")
        return np.arange(*args, **kwargs)

    def linspace(start: Any, stop: Any, num: int = 50, *args: Any, **kwargs: Any) -> Any:
        check(num, kwargs.get("dtype"), "linspace")
        return np.linspace(start, stop, num, *args, **kwargs)

    def eye(n: Any, m: Any = None, *args: Any, **kwargs: Any) -> Any:
        check(int(n) * int(n if m is None else m), kwargs.get("dtype"), "eye")
        return np.eye(n, m, *args, **kwargs)

    def identity(n: Any, *args: Any, **kwargs: Any) -> Any:
        check(int(n) * int(n), kwargs.get("dtype"), "identity")
        return np.identity(n, *args, **kwargs)

    def tile(a: Any, reps: Any) -> Any:
        check(np.size(a) * shape_size(reps), None, "tile")
        return np.tile(a, reps)

    def repeat(a: Any, repeats: Any, *args: Any, **kwargs: Any) -> Any:
        check(np.size(a) * int(np.max(repeats)), None, "repeat")
        return np.repeat(a, repeats, *args, **kwargs)

    table = {name: by_shape(name) for name in ("zeros", "ones", "empty", "full")}
    table.update(arange=arange, linspace=linspace, eye=eye, identity=identity, tile=tile, repeat=repeat)
    return table


def _numpy_base(gateway: Any, np: Any, data: DataLibs) -> dict[int, tuple[Any, Any]]:
    """``id(real numpy object) -> (real, replacement)``, shared by every numpy submodule."""
    base: dict[int, tuple[Any, Any]] = {}
    for name, replacement in _size_checks(gateway, np).items():
        base[id(getattr(np, name))] = (getattr(np, name), replacement)
    rt = data.rt

    def checked(real: Callable[..., Any], label: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return checked_array_result(rt, real(*args, **kwargs), label)

        call.__name__ = getattr(real, "__name__", "function")
        call.__doc__ = getattr(real, "__doc__", None)
        return call

    for module_name in ("numpy", *_BUFFER_MODULES):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in _BUFFER_BUILDERS:
            real = getattr(module, name, None)
            if module_name == "numpy" and name in ("array", "asarray"):
                continue  # they copy or view whole arrays; hot paths stay native
            if callable(real) and id(real) not in base and not isinstance(real, type):
                base[id(real)] = (real, checked(real, f"{module_name}.{name}()"))
    random = importlib.import_module("numpy.random")
    own = data.random_state = np.random.RandomState()
    for name in dir(random):
        real = getattr(random, name)
        if not name.startswith("_") and callable(real) and not isinstance(real, type) and hasattr(own, name):
            base[id(real)] = (real, getattr(own, name))

    def set_bit_generator(bitgen: Any) -> None:
        rt.security(
            "numpy.random.set_bit_generator() replaces the host's global generator; use "
            "np.random.default_rng(seed) or np.random.Generator(bit_generator) instead"
        )

    for name, replacement in (
        ("set_bit_generator", set_bit_generator),
        ("get_bit_generator", lambda: own._bit_generator),
    ):
        real = getattr(random, name, None)
        if real is not None:
            base[id(real)] = (real, replacement)
    return base


class _LazyOverrides(dict[str, Any]):
    """An override table decided name by name on first lookup (no scan of the module)."""

    def __init__(self, decide: Callable[[str], Any]) -> None:
        super().__init__()
        self._decide = decide
        self._plain: set[str] = set()

    def __contains__(self, name: object) -> bool:
        if dict.__contains__(self, name):
            return True
        if not isinstance(name, str) or name in self._plain:
            return False
        found = self._decide(name)
        if found is _TOKEN:
            self._plain.add(name)
            return False
        self[name] = found
        return True


def numpy_overrides(gateway: Any, module_name: str) -> dict[str, Any]:
    """The replacements for the public names of one numpy module, by identity (so that
    ``np.char.repeat`` is not mistaken for ``np.repeat``)."""
    np = importlib.import_module("numpy")
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    data = datalibs_for(gateway.guard)
    base = gateway.__dict__.get("_sb_numpy_base")
    if base is None:
        base = gateway.__dict__["_sb_numpy_base"] = _numpy_base(gateway, np, data)
    trick_types = tuple({type(np.r_).__mro__[1], type(np.mgrid).__mro__[1], type(np.s_)})

    def decide(name: str) -> Any:
        value = getattr(module, name, None)
        entry = base.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1]
        if isinstance(value, type) and issubclass(value, np.ndarray):
            return data.stand_in(value)
        if isinstance(value, trick_types) or type(value).__name__ == "_MaskedPrintOption":
            return data.own_copy(value)  # mutable singletons: a private copy per executor
        return _TOKEN

    return _LazyOverrides(decide)
