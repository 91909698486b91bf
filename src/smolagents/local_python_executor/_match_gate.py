"""``match`` class patterns: the attributes CPython's MATCH_CLASS reads natively.

``case C(x, name=y)`` makes CPython read ``__match_args__`` and the named attributes
directly on the subject, bypassing the rewritten attribute accesses. The rewriter hands the
class to ``__sb_mcls__`` (:meth:`MatchPatternGate.match_class`) first, which returns a gate
class whose ``isinstance`` check reads those attributes through the sandbox's attribute
policy. Split out of ``_security`` to keep modules small: :class:`MatchPatternGate` is a
mixin of :class:`~._security.AttributeGuard` and relies on its ``rt``, ``real_types``,
``_match_gates`` and ``vet``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._policy import BLOCKED_ATTRIBUTES
from ._special import SPECIAL_ATTRIBUTES
from ._stdlib_state import HOST_STATE_TYPES

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["MatchPatternGate"]

_MATCH_SELF_FLAG = 1 << 22  # CPython's _Py_TPFLAGS_MATCH_SELF: int(x), str(x)... match the subject
_HOST_MUTABLE = (dict, list, set, bytearray)


class _MatchGate(type):
    """Stands for a class in a ``match`` class pattern: ``isinstance`` (which CPython's
    MATCH_CLASS calls first) also vets every attribute the pattern is about to read."""

    _sb_check: Callable[[Any], bool]  # set in each gate's namespace

    def __instancecheck__(cls, subject: Any) -> bool:
        return cls._sb_check(subject)


class MatchPatternGate:
    """Mixin of :class:`~._security.AttributeGuard`: ``match`` class patterns."""

    rt: Runtime
    real_types: dict[Any, type]
    _match_gates: dict[tuple[Any, int, tuple[str, ...]], type]

    if TYPE_CHECKING:

        def vet(self, value: Any) -> Any: ...

    def match_class(self, cls: Any, positional: int, keywords: tuple[str, ...]) -> Any:
        """``case cls(p0, p1, k=p2)``: the class to give CPython's MATCH_CLASS.

        CPython reads the attributes natively, so when the pattern reads any, return a gate
        whose ``isinstance`` check first reads them through the policy and refuses values the
        guard would not hand out (modules, wrapped special methods, host class state)."""
        if not isinstance(cls, type):
            raise TypeError("called match pattern must be a class")
        real = self.real_types.get(cls, cls)
        names: tuple[str, ...] = ()
        if positional:
            match_args = getattr(real, "__match_args__", None)
            if match_args is None and real.__flags__ & _MATCH_SELF_FLAG:
                if keywords:
                    self.rt.security(
                        f"'case {real.__name__}(x, name=...)' is not supported in the sandbox; "
                        "match the attributes in a nested pattern or in the case body"
                    )
                return real  # matches the subject itself: nothing is read
            if type(match_args) is not tuple:
                return real  # CPython raises its usual TypeError before reading anything
            names = tuple(match_args[:positional])
            for name in names:
                if (
                    type(name) is not str
                    or name.startswith("_")
                    or name in BLOCKED_ATTRIBUTES
                    or name in SPECIAL_ATTRIBUTES
                ):
                    self.rt.security(
                        f"Class pattern on '{real.__name__}' would read attribute {name!r} through __match_args__, "
                        "which the sandbox does not allow"
                    )
        wanted = names + tuple(keywords)
        if not wanted:
            return real
        key = (real, positional, tuple(keywords))
        gate = self._match_gates.get(key)
        if gate is None:
            if len(self._match_gates) > 4096:
                self._match_gates.clear()
            gate = self._match_gates[key] = _MatchGate(
                real.__name__,
                (),
                {
                    "__match_args__": getattr(real, "__match_args__", ()),
                    "_sb_check": staticmethod(lambda subject: self._match_check(real, subject, wanted)),
                    "__slots__": (),
                },
            )
        return gate

    def _match_check(self, real: type, subject: Any, names: tuple[str, ...]) -> bool:
        if not isinstance(subject, real):
            return False
        rt = self.rt
        if type(subject) in rt.fast_types:
            return True  # plain values and sandbox objects: the guard would read them natively too
        if type(subject) in HOST_STATE_TYPES:
            rt.security(HOST_STATE_TYPES[type(subject)])
        host_class = isinstance(subject, type) and not rt.is_sandbox_class(subject)
        for name in names:
            try:
                value = getattr(subject, name)
            except AttributeError:
                return False  # CPython: the pattern does not match
            if (host_class and type(value) in _HOST_MUTABLE) or self.vet(value) is not value:
                rt.security(
                    f"A class pattern cannot read attribute '{name}' of {type(subject).__name__!r} objects "
                    "in the sandbox; read it with an ordinary attribute access in the case body"
                )
        return True
