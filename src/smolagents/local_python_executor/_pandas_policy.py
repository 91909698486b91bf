"""pandas policy: option writes, dispatch by method name, and the plotting backend.

Split out of ``_datalibs`` (which keeps the numpy side and the per-executor host-state
snapshot) to keep modules small. pandas lets a *string* choose code: ``pd.set_option(
"plotting.backend", name)`` and ``df.plot(backend=name)`` import a module by name, and
``df.agg("to_csv", path)`` or ``df.apply("query", ...)`` call a method by name without an
attribute access. This module holds the sandbox's answers: option functions and a
``pd.options`` view that refuse module-importing options, the check that runs names in
function positions through the attribute policy, and the ``.plot`` wrappers that accept
only matplotlib. pandas options themselves are snapshot and restored by
:class:`~._datalibs.DataLibs`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._datalibs import datalibs_for, real_class
from ._policy import BLOCKED_ATTRIBUTES

__all__ = [
    "PlotAccessor",
    "check_dispatch_names",
    "no_backend",
    "pandas_overrides",
    "stand_in_args",
    "unbound_receiver",
]

#: pandas options whose setter imports a module named by the value
_REFUSED_OPTIONS = frozenset({"plotting.backend"})


# ---------------------------------------------------------------------- pandas overrides
class _OptionsView:
    """``pd.options`` for the sandbox: reads as usual, writes go through ``set_option``."""

    __slots__ = ("_sb_prefix", "_sb_set")

    def __init__(self, prefix: str, setter: Callable[..., None]) -> None:
        object.__setattr__(self, "_sb_prefix", prefix)
        object.__setattr__(self, "_sb_set", setter)

    def _sb_real(self) -> Any:
        value = sys.modules["pandas"].options
        for part in filter(None, self._sb_prefix.split(".")):
            value = getattr(value, part)
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._sb_real(), name)
        if type(value).__name__ == "DictWrapper":
            return _OptionsView(f"{self._sb_prefix}{name}.", self._sb_set)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        self._sb_set(f"{self._sb_prefix}{name}", value)

    def __dir__(self) -> list[str]:
        return dir(self._sb_real())

    def __repr__(self) -> str:
        return repr(self._sb_real())


def pandas_overrides(gateway: Any, module_name: str) -> dict[str, Any]:
    """Option functions that refuse module-importing options (host state is restored at
    the end of every call by :class:`DataLibs`)."""
    pd = importlib.import_module("pandas")
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    datalibs_for(gateway.guard).watch_pandas()  # host options are restored after every call
    config = importlib.import_module("pandas._config.config")
    rt = gateway.rt

    def vet_keys(patterns: Iterable[Any]) -> None:
        for pattern in patterns:
            if not isinstance(pattern, str):
                continue
            try:
                key = config._get_single_key(pattern)
            except Exception:
                continue  # pandas raises its own error for unknown or ambiguous keys
            if key in _REFUSED_OPTIONS:
                rt.security(
                    f"Setting pandas option '{key}' is not allowed in the sandbox: its value names a "
                    "module that pandas would import"
                )

    def pairs(args: tuple[Any, ...]) -> Iterable[Any]:
        if len(args) == 1 and isinstance(args[0], dict):
            return list(args[0])
        return list(args[::2])

    def set_option(*args: Any, **kwargs: Any) -> None:
        vet_keys(pairs(args))
        pd.set_option(*args, **kwargs)

    def option_context(*args: Any) -> Any:
        vet_keys(pairs(args))
        return pd.option_context(*args)

    def describe_option(pat: str = "", _print_desc: bool = True) -> Any:
        text = pd.describe_option(pat, _print_desc=False)
        if not _print_desc:
            return text
        rt.output.write(text if text.endswith("\n") else text + "\n")
        return None

    table = {
        "set_option": set_option,
        "option_context": option_context,
        "describe_option": describe_option,
        "options": _OptionsView("", set_option),
    }
    return {name: value for name, value in table.items() if getattr(module, name, None) is getattr(pd, name)}


# ---------------------------------------------------------------------- dispatch by name
def _function_names(value: Any, depth: int = 0) -> Iterator[str]:
    """Strings in a function position of ``agg``/``apply``: ``"sum"``, ``["min", "max"]``,
    ``{"col": "sum"}``, ``[("label", "sum")]`` (dict keys are column names, not functions)."""
    if isinstance(value, str):
        yield value
    elif depth < 3 and isinstance(value, (list, tuple)):
        for item in value:
            yield from _function_names(item, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            yield from _function_names(item, depth + 1)


def check_dispatch_names(
    guard: Any, receiver: Any, args: tuple[Any, ...], kwargs: dict[str, Any], label: str
) -> None:
    """Refuse names in function positions that the attribute policy would refuse, or that
    name a checked method (``to_csv``, ``query``, ``apply``...): pandas would call the real
    method by name, past the argument checks."""
    from ._special import SPECIAL_ATTRIBUTES

    funcs: list[Any] = list(args[:1])
    funcs += [kwargs[key] for key in ("func", "arg") if key in kwargs]
    if label.endswith(("agg", "aggregate")):
        funcs += [value[1] for key, value in kwargs.items() if isinstance(value, tuple) and len(value) == 2]
    for name in _function_names(funcs):
        if name in SPECIAL_ATTRIBUTES or name in BLOCKED_ATTRIBUTES:
            guard.rt.security(
                f"{label}() with the method name '{name}' is not allowed: that method checks its "
                "arguments in the sandbox, so call it directly (or pass a lambda)"
            )
        try:
            guard.resolve(receiver, name)  # the sandbox's attribute policy (private, dunder...)
            continue
        except AttributeError:
            pass
        np = sys.modules.get("numpy")
        fallback = getattr(np, name, None) if np is not None else None
        if fallback is not None and np is not None and not isinstance(fallback, np.ufunc):
            guard.rt.security(
                f"{label}() with the name '{name}' would call numpy.{name} by name; only ufunc names "
                f"(e.g. 'sqrt') are resolved on numpy. Pass the function itself, e.g. np.{name}"
            )


def unbound_receiver(obj: Any, args: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """``DataFrame.agg(df, ...)``: the receiver is the first argument."""
    if isinstance(obj, type):
        return (args[0] if args else None), args[1:]
    return obj, args


def stand_in_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return tuple(real_class(a) for a in args), {k: real_class(v) for k, v in kwargs.items()}


class PlotAccessor:
    """pandas ``.plot`` for the sandbox: the ``backend=`` argument names a module that
    pandas would import, so only matplotlib (the default) is accepted."""

    __slots__ = ("_sb_accessor", "_sb_rt")

    def __init__(self, accessor: Any, rt: Any) -> None:
        self._sb_accessor = accessor
        self._sb_rt = rt

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return no_backend(self._sb_accessor, self._sb_rt)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return no_backend(getattr(self._sb_accessor, name), self._sb_rt)


def no_backend(method: Callable[..., Any], rt: Any) -> Callable[..., Any]:
    def plot(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("backend") not in (None, "matplotlib"):
            rt.security("pandas plotting 'backend=' names a module to import; only matplotlib is allowed")
        return method(*args, **kwargs)

    return plot
