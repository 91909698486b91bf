"""Checked operators: ``*``, ``**``, ``<<``, ``%`` and ``//`` with estimates made first.

The first four turn small inputs into huge outputs in one C call (``10**10**8``,
``"x" * 10**12``, ``1 << 10**10``, ``"%0999999999d" % 1``). ``%`` and ``//`` (and
``divmod``, three-argument ``pow``) also cost time quadratic in the size of their integer
operands: ints far over ``max_int_bits`` can still be made in linear time
(``int.from_bytes``, ``int(s, 16)``), and one division of two of them runs for hours.
Those are refused when the estimated cost is over :func:`~._limits.int_work_budget`.
The rewriter sends every use of these operators (binary and augmented) here; floats and
small ints take a short fast path. All other operators stay native: their output is at
most about the size of their inputs and their time linear, which the watchdog bounds.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable
from typing import Any

from ._limits import (
    SandboxLimits,
    check_int_bits,
    check_int_work,
    check_length,
    check_percent_format,
)

__all__ = ["check_division", "check_modular_pow", "make_operators"]

_SMALL = 1 << 31
_SEQUENCES = (str, bytes, bytearray, list, tuple, deque)


def _as_count(value: Any) -> int | None:
    if isinstance(value, int):
        return int(value)
    if hasattr(type(value), "__index__") and not isinstance(value, float):
        try:
            return operator.index(value)
        except TypeError:
            return None
    return None


def check_division(a: Any, b: Any, limits: SandboxLimits, what: str) -> None:
    """Refuse an integer division (``//``, ``%``, ``divmod``) whose schoolbook cost is too high."""
    if isinstance(a, int) and isinstance(b, int):
        top, bottom = abs(a).bit_length(), abs(b).bit_length()
        if top > bottom:
            check_int_work(bottom * (top - bottom), limits, what, (top, bottom))


def check_modular_pow(base: Any, exp: Any, mod: Any, limits: SandboxLimits) -> None:
    """``pow(b, e, m)`` costs about ``bits(e) * bits(m)**2``: refuse it when that is too high."""
    if not (isinstance(base, int) and isinstance(exp, int) and isinstance(mod, int)):
        return
    modulus = abs(mod).bit_length()
    check_division(base, mod, limits, "pow(base, exp, mod) reducing the base")
    steps = abs(exp).bit_length() + (modulus if exp < 0 else 0)  # a negative exponent inverts first
    check_int_work(steps * modulus * modulus, limits, "pow(base, exp, mod)", (steps, modulus))


def make_operators(limits: SandboxLimits) -> dict[str, Callable[..., Any]]:
    """Build the checked operator helpers for one executor, keyed by helper name."""

    def repeat_check(seq: Any, count: Any) -> None:
        n = _as_count(count)
        if n is not None and n > 1:
            check_length(len(seq) * n, limits, f"{type(seq).__name__} repetition")

    def mul_check(a: Any, b: Any) -> None:
        if isinstance(a, int) and isinstance(b, int):
            check_int_bits(a.bit_length() + b.bit_length(), limits, "Multiplication")
        elif isinstance(a, _SEQUENCES):
            repeat_check(a, b)
        elif isinstance(b, _SEQUENCES):
            repeat_check(b, a)

    def mul(a: Any, b: Any) -> Any:
        kind = type(a)
        if kind is float:
            return a * b
        if kind is int and type(b) is int:
            if -_SMALL < a < _SMALL and -_SMALL < b < _SMALL:
                return a * b
        elif type(b) is float:
            return a * b
        mul_check(a, b)
        return a * b

    def imul(a: Any, b: Any) -> Any:
        if type(a) is not float and type(b) is not float:
            mul_check(a, b)
        a *= b
        return a

    def pow_check(a: Any, b: Any) -> None:
        if not isinstance(b, int) or b < 2:
            return
        base = a
        if not isinstance(base, int):
            numerator = getattr(a, "numerator", None)  # Fraction and friends
            if not isinstance(numerator, int) or isinstance(a, float):
                return
            base = max(abs(numerator), abs(getattr(a, "denominator", 1)))
        if base in (0, 1, -1):
            return
        check_int_bits(abs(base).bit_length() * b, limits, "Exponentiation")

    def pow_(a: Any, b: Any) -> Any:
        if type(a) is float or type(b) is float:
            return a**b
        pow_check(a, b)
        return a**b

    def ipow(a: Any, b: Any) -> Any:
        pow_check(a, b)
        a **= b
        return a

    def lshift_check(a: Any, b: Any) -> None:
        if isinstance(a, int) and isinstance(b, int) and b > 0 and a:
            check_int_bits(a.bit_length() + b, limits, "Left shift")

    def lshift(a: Any, b: Any) -> Any:
        lshift_check(a, b)
        return a << b

    def ilshift(a: Any, b: Any) -> Any:
        lshift_check(a, b)
        a <<= b
        return a

    def mod(a: Any, b: Any) -> Any:
        kind = type(a)
        if kind is int:
            if type(b) is int and (-_SMALL < b < _SMALL or -_SMALL < a < _SMALL):
                return a % b  # one-digit divisor or small dividend: linear at worst
            check_division(a, b, limits, "Integer modulo (%)")
            return a % b
        if kind is float:
            return a % b
        if isinstance(a, (str, bytes, bytearray)):
            check_percent_format(a, b, limits)
        else:
            check_division(a, b, limits, "Integer modulo (%)")
        return a % b

    def imod(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int and (-_SMALL < b < _SMALL or -_SMALL < a < _SMALL):
            return a % b
        if isinstance(a, (str, bytes, bytearray)):
            check_percent_format(a, b, limits)
        else:
            check_division(a, b, limits, "Integer modulo (%=)")
        a %= b
        return a

    def floordiv(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int and (-_SMALL < b < _SMALL or -_SMALL < a < _SMALL):
            return a // b
        check_division(a, b, limits, "Integer division (//)")
        return a // b

    def ifloordiv(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int and (-_SMALL < b < _SMALL or -_SMALL < a < _SMALL):
            return a // b
        check_division(a, b, limits, "Integer division (//=)")
        a //= b
        return a

    def safe_divmod(a: Any, b: Any) -> Any:
        check_division(a, b, limits, "divmod()")
        return divmod(a, b)

    def safe_pow(base: Any, exp: Any, mod_: Any = None) -> Any:
        if mod_ is None:
            return pow_(base, exp)
        check_modular_pow(base, exp, mod_, limits)
        return pow(base, exp, mod_)

    return {
        "__sb_mul__": mul,
        "__sb_imul__": imul,
        "__sb_pow__": pow_,
        "__sb_ipow__": ipow,
        "__sb_lshift__": lshift,
        "__sb_ilshift__": ilshift,
        "__sb_mod__": mod,
        "__sb_imod__": imod,
        "__sb_floordiv__": floordiv,
        "__sb_ifloordiv__": ifloordiv,
        "pow": safe_pow,
        "divmod": safe_divmod,
    }
