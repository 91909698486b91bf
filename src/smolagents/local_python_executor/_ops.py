"""Checked operators: ``*``, ``**``, ``<<`` and ``%`` with size estimates made first.

These four are the operators that turn small inputs into huge outputs in one C call
(``10**10**8``, ``"x" * 10**12``, ``1 << 10**10``, ``"%0999999999d" % 1``). The rewriter
sends every use of them (binary and augmented) here; floats and small ints take a short
fast path. All other operators stay native: their output is at most about the size of
their inputs, which the watchdog's memory cap bounds.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable
from typing import Any

from ._limits import SandboxLimits, check_int_bits, check_length, check_percent_format

__all__ = ["make_operators"]

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
        if kind is int or kind is float:
            return a % b
        if isinstance(a, (str, bytes, bytearray)):
            check_percent_format(a, b, limits)
        return a % b

    def imod(a: Any, b: Any) -> Any:
        if isinstance(a, (str, bytes, bytearray)):
            check_percent_format(a, b, limits)
        a %= b
        return a

    def safe_pow(base: Any, exp: Any, mod_: Any = None) -> Any:
        if mod_ is None:
            return pow_(base, exp)
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
        "pow": safe_pow,
    }
