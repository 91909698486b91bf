"""Attribute names that are dangerous only on some receivers, and safe string formatting.

``"{0.__class__}".format(x)`` walks attributes, ``"a".ljust(10**11)`` allocates 100 GB,
``df.to_csv(path)`` writes a file: the rewriter routes these *names* (known statically)
to :class:`SpecialAttributes`, which wraps the bound method with the right check when the
receiver is a string, an int, a pandas/numpy object... and otherwise falls back to the
ordinary attribute guard.
"""

from __future__ import annotations

import _string
import functools
import operator
import re
import string
import sys
import types
from collections import Counter
from collections.abc import Callable
from itertools import islice
from typing import Any

from ._datalibs import checked_array_result
from ._limits import check_format_spec, check_length
from ._pandas_policy import (
    PlotAccessor,
    check_dispatch_names,
    no_backend,
    stand_in_args,
    unbound_receiver,
)
from ._policy import DATA_IO_ATTRIBUTES, SANDBOX_FILENAME

__all__ = ["EAGER_ITERABLES", "SPECIAL_ATTRIBUTES", "SpecialAttributes", "grow_from", "root_module"]

_STRINGISH = (str, bytes, bytearray)
_PAD_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})
_ALWAYS_WRITES = frozenset(
    {
        "to_pickle",
        "to_parquet",
        "to_hdf",
        "to_sql",
        "to_feather",
        "to_stata",
        "to_excel",
        "to_clipboard",
        "to_orc",
        "tofile",
        "dump",
        "query",
        "eval",
        "style",
    }
)
#: pandas methods that accept a method *name* in place of a function
_DISPATCH_METHODS = frozenset({"agg", "aggregate", "apply", "transform"})
#: numpy array methods that can reach memory the array does not own
_ARRAY_METHODS = frozenset({"resize", "view", "setflags"})
#: pandas plotting entry points (``backend=`` imports a module by name)
_PLOT_METHODS = frozenset({"plot", "hist", "boxplot"})
_PATH_KWARGS = ("path_or_buf", "buf", "path", "path_or_buffer", "excel_writer", "fname", "file", "con")


def _as_str(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"descriptor 'format' requires a 'str' object but received a '{type(text).__name__}'")
    return text


def _as_size(value: Any) -> Any:
    """A size argument as the C code will see it: ``__index__`` objects become ints first,
    so the check and the call use the same number (and ``__index__`` runs once)."""
    if type(value) is int or isinstance(value, (bool, float)):
        return value
    try:
        return operator.index(value)
    except TypeError:
        return value


#: Iterables that are already materialised: extending from them cannot feed itself.
EAGER_ITERABLES = frozenset({list, tuple, str, bytes, bytearray, dict, set, frozenset, range, memoryview})
_GROW_CHUNK = 4096


def grow_from(extend: Callable[[Any], Any], target: Any, iterable: Any, rt: Any, limits: Any) -> None:
    """``target.extend(iterable)`` for a lazy iterable, in chunks with a tick between them.

    A C-level extend from an iterator over the target itself (``L.extend(iter(L))``,
    ``L += map(abs, L)``) never returns and eats memory: no tick would ever stop it."""
    iterator = iter(iterable)
    while True:
        chunk = list(islice(iterator, _GROW_CHUNK))
        extend(chunk)
        check_length(len(target), limits, f"{type(target).__name__}.extend()")
        if len(chunk) < _GROW_CHUNK:
            return
        rt.tick()


def root_module(module_name: Any) -> str:
    return module_name.split(".", 1)[0] if isinstance(module_name, str) else ""


def data_library(obj: Any) -> str:
    """``'pandas'``/``'numpy'`` if ``obj`` (or its class) comes from, or derives from, them."""
    owner = obj if isinstance(obj, type) else type(obj)
    for klass in getattr(owner, "__mro__", ()):
        root = root_module(getattr(klass, "__module__", ""))
        if root in ("pandas", "numpy"):
            return root
    return ""


class SpecialAttributes:
    """Mixin of :class:`~._security.AttributeGuard`: handlers for the special names."""

    rt: Any
    limits: Any
    allow_data_io: bool
    _format_plans: dict[tuple[str, int], bool]

    #: provided by AttributeGuard (a per-instance closure, ``self.ga = self._make_ga()``)
    ga: Callable[[Any, str], Any]

    def resolve(self, obj: Any, name: Any) -> Any:  # provided by AttributeGuard
        raise NotImplementedError

    def _super_special(self, proxy: Any, name: str) -> Any:
        """``super().ljust`` / ``super().to_pickle``...: the per-receiver checks of a special
        name apply through ``super`` too. A parent method the sandbox wrote is returned as
        is; a builtin one gets its class-level checked form bound to the instance; anything
        else (a host library's method) is refused, since its checks need the real receiver."""
        value = getattr(proxy, name)
        function = getattr(value, "__func__", None) if type(value) is types.MethodType else None
        code = getattr(function, "__code__", None)
        if code is not None and code.co_filename == SANDBOX_FILENAME:
            return value
        instance = proxy.__self__
        mro = proxy.__self_class__.__mro__ if isinstance(proxy.__self_class__, type) else ()
        after = mro[mro.index(proxy.__thisclass__) + 1 :] if proxy.__thisclass__ in mro else ()
        owner = next((klass for klass in after if name in vars(klass)), None)
        if (
            owner is not None
            and owner.__module__ == "builtins"
            and not isinstance(instance, type)
            and getattr(type(instance), name, None) is vars(owner)[name]  # not overridden below
        ):
            return functools.partial(_SPECIAL_HANDLERS[name](self, owner, name), instance)
        where = f"{owner.__qualname__}.{name}" if owner is not None else name
        self.rt.security(
            f"super().{name} reaches {where}, which the sandbox checks per receiver; call it on the "
            f"object itself (self.{name}(...)) or name the parent class explicitly"
        )

    def _format_attr(self, obj: Any, name: str) -> Any:
        if isinstance(obj, str):
            if name == "format":
                return lambda *args, **kwargs: self.format_string(obj, args, kwargs)
            return lambda mapping: self.format_string(obj, (), mapping, mapping=True)
        if obj is str:
            if name == "format":
                return lambda text, *args, **kwargs: self.format_string(_as_str(text), args, kwargs)
            return lambda text, mapping: self.format_string(_as_str(text), (), mapping, mapping=True)
        return self.ga(obj, name)

    def _pad_attr(self, obj: Any, name: str) -> Any:
        limits = self.limits
        if isinstance(obj, _STRINGISH):
            method = getattr(obj, name)

            def padded(width: Any, *rest: Any) -> Any:
                width = _as_size(width)
                if isinstance(width, int):
                    check_length(width, limits, f"{type(obj).__name__}.{name}()")
                return method(width, *rest)

            return padded
        if obj in _STRINGISH:
            unbound = getattr(obj, name)

            def padded_unbound(self_: Any, width: Any, *rest: Any) -> Any:
                width = _as_size(width)
                if isinstance(width, int):
                    check_length(width, limits, f"{obj.__name__}.{name}()")
                return unbound(self_, width, *rest)

            return padded_unbound
        return self.ga(obj, name)

    def _size_checked_attr(self, obj: Any, name: str) -> Any:
        """``replace``/``expandtabs``/``translate``/``join``/``to_bytes`` with size estimates."""
        # type[Any]: the isinstance check below keeps ``obj`` as Any for the closures
        owner_types: tuple[type[Any], ...] = (int,) if name == "to_bytes" else _STRINGISH
        if obj in owner_types:
            return lambda self_, *args, **kwargs: self._bound_checked(obj, self_, name)(*args, **kwargs)
        if not isinstance(obj, owner_types):
            return self.ga(obj, name)
        method = getattr(obj, name)
        limits = self.limits
        label = f"{type(obj).__name__}.{name}()"

        if name == "replace":

            def replace(old: Any, new: Any, count: int = -1) -> Any:
                if isinstance(old, _STRINGISH) and isinstance(new, _STRINGISH) and len(new) > len(old):
                    hits = obj.count(old) if old else len(obj) + 1
                    if 0 <= count < hits:
                        hits = count
                    check_length(len(obj) + hits * (len(new) - len(old)), limits, label)
                return method(old, new, count)

            return replace
        if name == "expandtabs":

            def expandtabs(tabsize: int = 8) -> Any:
                if isinstance(tabsize, int):
                    tabs = obj.count("\t" if isinstance(obj, str) else b"\t")
                    check_length(len(obj) + tabs * max(tabsize, 0), limits, label)
                return method(tabsize)

            return expandtabs
        if name == "translate":

            def translate(table: Any, *rest: Any) -> Any:
                if not isinstance(obj, str) or rest:
                    return method(table, *rest)  # bytes tables are 256 bytes: same-length output
                # look the table up once per distinct character (any mapping, list or class
                # table), count the output exactly, then translate with a plain dict
                mapping: dict[int, Any] = {}
                total = 0
                for char, count in Counter(obj).items():
                    try:
                        value = table[ord(char)]
                    except LookupError:
                        total += count
                        continue
                    mapping[ord(char)] = value
                    total += count * (len(value) if isinstance(value, str) else value is not None)
                check_length(total, limits, label)
                return method(mapping)

            return translate
        if name == "join":

            def join(iterable: Any) -> Any:
                items = iterable if type(iterable) is list else list(iterable)
                try:
                    total = sum(map(len, items)) + len(obj) * max(len(items) - 1, 0)
                except TypeError:
                    return method(items)
                check_length(total, limits, label)
                return method(items)

            return join
        if name == "to_bytes":

            def to_bytes(length: Any = 1, *rest: Any, **kwargs: Any) -> Any:
                length = _as_size(length)
                if isinstance(length, int):
                    check_length(length, limits, label)
                return method(length, *rest, **kwargs)

            return to_bytes
        return method

    def _expand_attr(self, obj: Any, name: str) -> Any:
        """``Match.expand(template)``: each group reference in the template is replaced by
        up to the longest group, so a long template on a long match is a huge string made
        in one call; its size is bounded before it runs."""
        if obj is re.Match:

            def unbound(match: Any, template: Any) -> Any:
                if type(match) is not re.Match:
                    raise TypeError(
                        f"descriptor 'expand' for 're.Match' objects doesn't apply to a '{type(match).__name__}' object"
                    )
                return self._expand_attr(match, name)(template)

            return unbound
        if type(obj) is not re.Match:
            return self.ga(obj, name)
        limits, method = self.limits, obj.expand

        def expand(template: Any) -> Any:
            if isinstance(template, (str, bytes)):
                refs = template.count("\\") if isinstance(template, str) else template.count(b"\\")
                groups = [obj.group(0), *obj.groups()]
                longest = max((len(group) for group in groups if group is not None), default=0)
                check_length(len(template) + refs * longest, limits, "re.Match.expand()")
            return method(template)

        return expand

    def _extend_attr(self, obj: Any, name: str) -> Any:
        """``list.extend``/``bytearray.extend`` from lazy iterables, chunked (``grow_from``)."""
        rt, limits = self.rt, self.limits
        if obj in (list, bytearray):
            return lambda self_, iterable: self._extend_attr(self_, name)(iterable)
        if not isinstance(obj, (list, bytearray)):
            return self.ga(obj, name)
        method = getattr(obj, name)

        def extend(iterable: Any) -> None:
            if type(iterable) in EAGER_ITERABLES:
                return method(iterable)
            grow_from(method, obj, iterable, rt, limits)
            return None

        return extend

    def _bound_checked(self, owner: type, obj: Any, name: str) -> Any:
        if not isinstance(obj, owner):
            raise TypeError(f"descriptor '{name}' requires a '{owner.__name__}' object")
        return self._size_checked_attr(obj, name)

    def _data_io_attr(self, obj: Any, name: str) -> Any:
        owner = obj if isinstance(obj, type) else type(obj)
        if self.allow_data_io or not data_library(owner):
            return self.ga(obj, name)
        if name in _ALWAYS_WRITES:
            self.rt.security(
                f"'{owner.__name__}.{name}' reads/writes files or evaluates code strings; it is disabled "
                "unless the executor is created with allow_data_io=True"
            )
        method = self.ga(obj, name)
        rt = self.rt

        def without_path(*args: Any, **kwargs: Any) -> Any:
            if (args and args[0] is not None) or any(kwargs.get(key) is not None for key in _PATH_KWARGS):
                rt.security(
                    f"'{owner.__name__}.{name}' may only return a string in the sandbox: writing to a path "
                    "or buffer needs allow_data_io=True"
                )
            return method(*args, **kwargs)

        return without_path

    def _dispatch_attr(self, obj: Any, name: str) -> Any:
        """pandas ``agg``/``apply``/``transform`` given method *names*: vetted like attributes."""
        if data_library(obj) != "pandas":
            return self.ga(obj, name)
        method = self.ga(obj, name)
        owner = obj if isinstance(obj, type) else type(obj)
        label = f"{owner.__name__}.{name}"

        def dispatching(*args: Any, **kwargs: Any) -> Any:
            receiver, rest = unbound_receiver(obj, args)
            check_dispatch_names(self, receiver, rest, kwargs, label)
            return method(*args, **kwargs)

        return dispatching

    def _array_attr(self, obj: Any, name: str) -> Any:
        """``resize(refcheck=False)``, ``setflags(write=True)`` on foreign memory, ``view``."""
        np = sys.modules.get("numpy")
        owner = obj if isinstance(obj, type) else type(obj)
        if np is None or not issubclass(owner, np.ndarray):
            return self.ga(obj, name)
        method = self.ga(obj, name)
        rt = self.rt
        unbound = isinstance(obj, type)
        del obj  # the wrapper must not hold an extra reference: resize() counts them

        def array_method(*args: Any, **kwargs: Any) -> Any:
            if name == "resize" and not kwargs.get("refcheck", True):
                rt.security(
                    "ndarray.resize(refcheck=False) can free memory that other arrays still view; "
                    "use np.resize(a, shape) (a new array) or resize without refcheck=False"
                )
            if name == "setflags":
                rest = args[1:] if unbound else args
                if kwargs.get("write", rest[0] if rest else None):
                    root = args[0] if unbound else method.__self__
                    while isinstance(root, np.ndarray) and root.base is not None:
                        root = root.base
                    if not isinstance(root, (np.ndarray, bytearray)):
                        rt.security(
                            "setflags(write=True) on an array over a read-only buffer (bytes, str...) is "
                            "not allowed: it would modify an immutable object; copy the array first"
                        )
                    del root
            if name == "view":
                args, kwargs = stand_in_args(args, kwargs)
                return checked_array_result(rt, method(*args, **kwargs), "ndarray.view()")
            return method(*args, **kwargs)

        return array_method

    def _plot_attr(self, obj: Any, name: str) -> Any:
        if data_library(obj) != "pandas":
            return self.ga(obj, name)
        if not self.authorized_root("matplotlib"):  # type: ignore[attr-defined]
            self.rt.security(
                f"pandas '.{name}' draws with matplotlib, which is not authorised; add 'matplotlib' "
                "to additional_authorized_imports to plot"
            )
        method = self.ga(obj, name)
        if name == "plot" and not isinstance(obj, type):
            return PlotAccessor(method, self.rt)
        return no_backend(method, self.rt)

    # ------------------------------------------------------------------ formatting
    def format_string(self, text: str, args: tuple[Any, ...], kwargs: Any, mapping: bool = False) -> str:
        """``str.format`` whose fields cannot walk into ``_`` attributes or pad forever."""
        key = (text, self.limits.max_sequence_length)
        native = self._format_plans.get(key)
        if native is None:
            native = True
            for _literal, field, spec, _conversion in _string.formatter_parser(text):
                if field is None:
                    continue
                if "." in field or "[" in field or (spec and "{" in spec):
                    native = False
                    break
                if spec:
                    check_format_spec(spec, self.limits)
            if len(self._format_plans) > 4096:
                self._format_plans.clear()
            self._format_plans[key] = native
        if native:
            return text.format_map(kwargs) if mapping else text.format(*args, **kwargs)
        return _GuardedFormatter(self).vformat(text, args, kwargs)

    def format_value(self, value: Any, spec: Any = "") -> str:
        if isinstance(spec, str) and spec:
            check_format_spec(spec, self.limits)
        return format(value, spec)

    def fstring_value(self, value: Any, conversion: int, spec: str) -> str:
        if conversion == 115:
            value = str(value)
        elif conversion == 114:
            value = repr(value)
        elif conversion == 97:
            value = ascii(value)
        return self.format_value(value, spec)


class _GuardedFormatter(string.Formatter):
    def __init__(self, guard: SpecialAttributes) -> None:
        self.guard = guard

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attribute, key in rest:
            obj = self.guard.resolve(obj, key) if is_attribute else obj[key]
        return obj, first

    def format_field(self, value: Any, format_spec: str) -> Any:
        return self.guard.format_value(value, format_spec)


_SPECIAL_HANDLERS: dict[str, Callable[[Any, Any, str], Any]] = {
    "format": SpecialAttributes._format_attr,
    "format_map": SpecialAttributes._format_attr,
    **{name: SpecialAttributes._pad_attr for name in _PAD_METHODS},
    **{
        name: SpecialAttributes._size_checked_attr
        for name in ("replace", "expandtabs", "translate", "join", "to_bytes")
    },
    "extend": SpecialAttributes._extend_attr,
    "expand": SpecialAttributes._expand_attr,
    **{name: SpecialAttributes._data_io_attr for name in DATA_IO_ATTRIBUTES},
    **{name: SpecialAttributes._dispatch_attr for name in _DISPATCH_METHODS},
    **{name: SpecialAttributes._array_attr for name in _ARRAY_METHODS},
    **{name: SpecialAttributes._plot_attr for name in _PLOT_METHODS},
}

#: Attribute names routed to ``__sb_gas__`` by the rewriter.
SPECIAL_ATTRIBUTES = frozenset(_SPECIAL_HANDLERS)
