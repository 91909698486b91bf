"""Regular expressions under a time bound.

CPython's regex engine is a C loop that holds the GIL, so no thread can interrupt it.
The sandbox bounds regex time in two layers:

1. **Static refusal** of patterns that backtrack exponentially: an unbounded repeat
   whose body holds another unbounded repeat with no mandatory separator it cannot
   match (``(a+)+``, ``(\\w+\\s?)*``, ``(.*,)*``), or an unbounded repeat over an
   alternation whose branches can start with the same character (``(a|ab)*``).
2. **A probe with a real timeout** for the remaining polynomial risk. From the pattern
   we estimate a backtracking degree *k* (search restarts plus repeats that can give
   characters back to what follows). When ``len(subject) ** k`` exceeds a budget, the
   same call first runs in a forked child process (POSIX) that is killed after
   ``regex_timeout_seconds``; only if it finished is the call repeated in-process.
   Callbacks are replaced by a stub in the child, so no sandboxed code runs there.

Everything goes through :class:`SandboxPattern`, a stand-in for ``re.Pattern`` whose
methods apply both layers; substitutions are also checked for output size.
"""

from __future__ import annotations

import os
import re
import select
import signal
import string
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from ._limits import SandboxLimits, check_length, resource_error
from ._runtime import Runtime

if sys.version_info >= (3, 11):
    from re import _constants as sre_constants
    from re import _parser as sre_parse
else:  # pragma: no cover - Python 3.10
    import sre_constants
    import sre_parse

__all__ = ["RegexGuard", "SandboxPattern", "analyse_pattern"]

_C = sre_constants
_MAXREPEAT = _C.MAXREPEAT
_POSSESSIVE = getattr(_C, "POSSESSIVE_REPEAT", None)
_REPEATS = {_C.MAX_REPEAT, _C.MIN_REPEAT} | ({_POSSESSIVE} if _POSSESSIVE is not None else set())
_SINGLE = (_C.LITERAL, _C.NOT_LITERAL, _C.ANY, _C.IN)
_ALPHABET = string.printable + "\x00\x85\xa0é中Ω\u2028"
#: Worst-case backtracking steps allowed in-process without a probe (~0.1-0.5 s).
_STEP_BUDGET = 10**8


# --------------------------------------------------------------------------- analysis


def _is_code(value: int) -> Callable[[str], bool]:
    return lambda c: ord(c) == value


def _in_range(lo: int, hi: int) -> Callable[[str], bool]:
    return lambda c: lo <= ord(c) <= hi


def _category(code: Any) -> Callable[[str], bool]:
    name = str(code).upper()
    if "DIGIT" in name:
        base: Callable[[str], bool] = str.isdigit
    elif "SPACE" in name:
        base = str.isspace
    elif "WORD" in name:
        base = lambda c: c.isalnum() or c == "_"  # noqa: E731
    elif "LINEBREAK" in name:
        base = lambda c: c == "\n"  # noqa: E731
    else:
        base = lambda c: True  # noqa: E731
    return (lambda c: not base(c)) if "NOT" in name else base


def _chars(item: tuple[Any, Any]) -> frozenset[str]:
    """Characters (from a sample alphabet) an item can consume."""
    op, av = item
    if op == _C.LITERAL:
        return frozenset({chr(av)})
    if op == _C.NOT_LITERAL:
        return frozenset(c for c in _ALPHABET if c != chr(av))
    if op == _C.ANY:
        return frozenset(_ALPHABET)
    if op == _C.IN:
        negate = False
        tests: list[Callable[[str], bool]] = []
        for sub_op, sub_av in av:
            if sub_op == _C.NEGATE:
                negate = True
            elif sub_op == _C.LITERAL:
                tests.append(_is_code(sub_av))
            elif sub_op == _C.RANGE:
                tests.append(_in_range(sub_av[0], sub_av[1]))
            elif sub_op == _C.CATEGORY:
                tests.append(_category(sub_av))
            else:
                tests.append(lambda c: True)
        return frozenset(c for c in _ALPHABET if any(t(c) for t in tests) != negate)
    if op in _REPEATS:
        return _seq_chars(av[2])
    if op == _C.SUBPATTERN:
        return _seq_chars(av[-1])
    if op == _C.BRANCH:
        return frozenset().union(*(_seq_chars(alt) for alt in av[1]))
    if op == getattr(_C, "ATOMIC_GROUP", None):
        return _seq_chars(av)
    if op in (_C.GROUPREF, getattr(_C, "GROUPREF_EXISTS", None)):
        return frozenset(_ALPHABET)
    return frozenset()


def _seq_chars(seq: Any) -> frozenset[str]:
    return frozenset().union(*(_chars(item) for item in seq)) if len(seq) else frozenset()


def _min_width(item: tuple[Any, Any]) -> int:
    op, av = item
    if op in _SINGLE:
        return 1
    if op in _REPEATS:
        return av[0] * sum(_min_width(sub) for sub in av[2])
    if op == _C.SUBPATTERN:
        return sum(_min_width(sub) for sub in av[-1])
    if op == _C.BRANCH:
        return min(sum(_min_width(sub) for sub in alt) for alt in av[1])
    return 0


_INFINITE = 1 << 62


def _width(item: tuple[Any, Any]) -> tuple[int, int]:
    """(shortest, longest) match of an item; longest is huge when unbounded."""
    op, av = item
    if op in _SINGLE:
        return 1, 1
    if op in _REPEATS:
        low, high = _seq_width(av[2])
        return av[0] * low, _INFINITE if av[1] == _MAXREPEAT else min(av[1] * high, _INFINITE)
    if op == _C.SUBPATTERN:
        return _seq_width(av[-1])
    if op == _C.BRANCH:
        widths = [_seq_width(alternative) for alternative in av[1]]
        return min(w[0] for w in widths), max(w[1] for w in widths)
    if op in (_C.AT, _C.ASSERT, _C.ASSERT_NOT):
        return 0, 0
    return 0, _INFINITE


def _seq_width(seq: Any) -> tuple[int, int]:
    low = high = 0
    for item in seq:
        item_low, item_high = _width(item)
        low, high = low + item_low, min(high + item_high, _INFINITE)
    return low, high


def _unbounded(item: tuple[Any, Any]) -> bool:
    return item[0] in _REPEATS and item[1][1] == _MAXREPEAT and item[0] != _POSSESSIVE


def _children(item: tuple[Any, Any]) -> list[Any]:
    op, av = item
    if op in _REPEATS:
        return [av[2]]
    if op == _C.SUBPATTERN:
        return [av[-1]]
    if op == _C.BRANCH:
        return list(av[1])
    if op in (_C.ASSERT, _C.ASSERT_NOT):
        return [av[1]]
    return []


def _walk(seq: Any) -> Iterator[tuple[tuple[Any, Any], Any]]:
    """Every (item, sequence containing it), depth first."""
    for item in seq:
        yield item, seq
        for child in _children(item):
            yield from _walk(child)


def _flatten(seq: Any) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    for item in seq:
        out.extend(_flatten(item[1][-1]) if item[0] == _C.SUBPATTERN else [item])
    return out


def _first_chars(seq: Any) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for item in seq:
        out |= _chars(item)
        if _min_width(item) > 0:
            break
    return out


def _exponential_reason(body: Any) -> str | None:
    items = _flatten(body)
    for inner, _ in _walk(body):
        if not _unbounded(inner):
            continue
        inner_chars = _seq_chars(inner[1][2])
        separated = any(
            other[0] in _SINGLE and not (_chars(other) & inner_chars) for other in items if other is not inner
        )
        if not separated:
            return "nested quantifiers such as (a+)+ can backtrack exponentially"
    for item in items:
        if item[0] == _C.BRANCH:
            firsts = [_first_chars(alternative) for alternative in item[1][1]]
            for i, first in enumerate(firsts):
                if any(first & other for other in firsts[i + 1 :]):
                    return "a repeated alternation whose branches overlap, such as (a|ab)*, can backtrack exponentially"
    # a variable-length tail that can also start the next iteration: (a|aa)+ parses as a(?:|a)+
    first = _first_chars(items)
    for item in reversed(items):
        low, high = _width(item)
        if low == high or (item[0] == _C.BRANCH and low > 0):
            break  # fixed width, or alternatives told apart by their first character (checked above)
        if _chars(item) & first:
            return "a repeated group whose end can also start the next repetition, such as (a|aa)+, can backtrack exponentially"
        if low > 0:
            break
    return None


def _suspicious(body: Any) -> bool:
    """Repeated alternations pass the static check on a sampled alphabet only: probe them."""
    return any(item[0] == _C.BRANCH for item, _ in _walk(body))


def analyse_pattern(pattern: str | bytes, flags: int = 0) -> tuple[str | None, int]:
    """(reason to refuse or None, backtracking degree ``k``; 0 means linear)."""
    text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
    data = list(sre_parse.parse(text, flags).data)
    degree = 0
    for item, seq in _walk(data):
        if not _unbounded(item):
            continue
        reason = _exponential_reason(item[1][2])
        if reason:
            return reason, 0
        degree = max(degree, 5 if _suspicious(item[1][2]) else 1)
        mine = _seq_chars(item[1][2])
        position = next(i for i, candidate in enumerate(seq) if candidate is item)
        for follower in seq[position + 1 :]:
            if _chars(follower) & mine:
                degree += 1
                break
            if _min_width(follower) > 0:
                break
    return None, (degree + 1 if degree else 0)


# --------------------------------------------------------------------------- probe


def _probe(compiled: re.Pattern[Any], method: str, args: tuple[Any, ...], timeout: float) -> bool:
    """Run the call in a forked child; True if it finished within ``timeout`` seconds."""
    if not hasattr(os, "fork"):
        return True
    read_fd, write_fd = os.pipe()
    try:
        with warnings.catch_warnings():
            if sys.version_info >= (3, 12):
                warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return True
    if pid == 0:  # pragma: no cover - child process
        try:
            os.close(read_fd)
            result = getattr(compiled, method)(*args)
            if method == "finditer":
                for _ in result:
                    pass
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], timeout)
    finally:
        os.close(read_fd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return bool(ready)


def _captures_in_lookaround(pattern: Any, flags: int) -> bool:
    """Capturing groups inside lookarounds can capture overlapping text: ``findall``/``split``/
    ``sub`` results can then be quadratic in the subject (``(?=(a*))``)."""
    text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
    try:
        data = list(sre_parse.parse(text, flags).data)
    except Exception:  # re raises its own error
        return False
    for item, _ in _walk(data):
        if item[0] in (_C.ASSERT, _C.ASSERT_NOT) and any(
            sub[0] == _C.SUBPATTERN and sub[1][0] is not None for sub, _ in _walk(item[1][1])
        ):
            return True
    return False


def _probe_free_length(degree: int, timeout: float | None) -> int:
    """The longest subject ``RegexGuard.run`` matches without a probe: ``n ** degree`` within
    the step budget (any length for linear patterns or without a regex timeout)."""
    if not degree or timeout is None:
        return sys.maxsize
    length = int(_STEP_BUDGET ** (1 / degree))
    while (length + 1) ** degree <= _STEP_BUDGET:  # float roots can land one off either way
        length += 1
    while length and length**degree > _STEP_BUDGET:
        length -= 1
    return length


def _stub(match: Any) -> str:
    return ""


class RegexGuard:
    """Shared checks for the ``re`` module wrapper and :class:`SandboxPattern`."""

    def __init__(self, runtime: Runtime, limits: SandboxLimits) -> None:
        self.rt = runtime
        self.limits = limits
        self._degrees: dict[tuple[Any, int], int] = {}
        self._overlapping: dict[tuple[Any, int], bool] = {}

    def degree(self, pattern: Any, flags: int) -> int:
        key = (pattern, int(flags))
        degree = self._degrees.get(key)
        if degree is None:
            try:
                reason, degree = analyse_pattern(pattern, flags)
            except (re.error, TypeError, ValueError, RecursionError, StopIteration):
                return 0  # ``re`` raises its own error when compiling
            if reason:
                self.rt.security(f"Regular expression {str(pattern)[:80]!r} was refused: {reason}")
            if len(self._degrees) > 4096:
                self._degrees.clear()
            self._degrees[key] = degree
        return degree

    def compile(self, pattern: Any, flags: int = 0) -> SandboxPattern:
        if isinstance(pattern, SandboxPattern):
            if flags:
                raise ValueError("cannot process flags argument with a compiled pattern")
            return pattern
        compiled = re.compile(pattern, flags)
        return SandboxPattern(self, compiled, self.degree(compiled.pattern, compiled.flags))

    def check_captures(self, pattern: SandboxPattern, method: str, subject: Any, refs: int = 1) -> None:
        """Total captured text for ``findall``/``split``/``sub`` when captures can overlap."""
        compiled = pattern._compiled
        if not isinstance(subject, (str, bytes)) or len(subject) ** 2 <= self.limits.max_sequence_length:
            return
        key = (compiled.pattern, compiled.flags)
        overlapping = self._overlapping.get(key)
        if overlapping is None:
            if len(self._overlapping) > 4096:
                self._overlapping.clear()
            overlapping = self._overlapping[key] = _captures_in_lookaround(compiled.pattern, compiled.flags)
        if not overlapping:
            return
        total = 0
        for count, match in enumerate(compiled.finditer(subject), 1):
            if not count & 255:
                self.rt.tick()
            total += refs * sum(len(group) for group in match.groups() if group is not None)
            check_length(total, self.limits, f"re.{method}() captured text")

    def run(self, pattern: SandboxPattern, method: str, subject: Any, args: tuple[Any, ...]) -> Any:
        compiled = pattern._compiled
        if method in ("findall", "split"):
            self.check_captures(pattern, method, subject)
        timeout = self.limits.regex_timeout_seconds
        if (
            pattern._degree
            and timeout is not None
            and isinstance(subject, (str, bytes))
            and len(subject) ** pattern._degree > _STEP_BUDGET
        ):
            remaining = self.rt.remaining_time()
            if remaining is not None:
                timeout = min(timeout, max(remaining, 0.01))
            probe_args = tuple(_stub if callable(arg) else arg for arg in args)
            if not _probe(compiled, method, probe_args, timeout):
                resource_error(
                    f"Regular expression {str(compiled.pattern)[:80]!r} ran longer than {timeout:.2f} s on a "
                    f"{len(subject)}-character string (SandboxLimits.regex_timeout_seconds); simplify the pattern",
                    "regex_timeout_seconds",
                )
        return getattr(compiled, method)(*args)

    def substitute(self, pattern: SandboxPattern, method: str, repl: Any, subject: Any, count: int) -> Any:
        limits = self.limits
        if callable(repl):
            produced = [0]
            user_repl = repl

            def repl(match: Any) -> Any:
                out = user_repl(match)
                if isinstance(out, (str, bytes)):
                    produced[0] += len(out)
                    check_length(produced[0], limits, f"re.{method}() replacement output")
                return out

        elif isinstance(repl, (str, bytes)) and repl and isinstance(subject, (str, bytes)):
            refs = repl.count("\\") if isinstance(repl, str) else repl.count(b"\\")
            self.check_captures(pattern, method, subject, max(refs, 1))
            matches = len(subject) + 1
            if count > 0:
                matches = min(matches, count)
            refs = repl.count("\\") if isinstance(repl, str) else repl.count(b"\\")
            if len(subject) + matches * len(repl) + refs * len(subject) > limits.max_sequence_length:
                matches = sum(1 for _ in self.run(pattern, "finditer", subject, (subject,)))
                if count > 0:
                    matches = min(matches, count)
                check_length(
                    len(subject) + matches * len(repl) + refs * len(subject), limits, f"re.{method}()"
                )
        return self.run(pattern, method, subject, (repl, subject, count))

    def module_functions(self) -> dict[str, Any]:
        """Replacements for the ``re`` module-level functions."""

        def compile_(pattern: Any, flags: int = 0) -> SandboxPattern:
            return self.compile(pattern, flags)

        def search(pattern: Any, string: Any, flags: int = 0) -> Any:
            return self.compile(pattern, flags).search(string)

        def match(pattern: Any, string: Any, flags: int = 0) -> Any:
            return self.compile(pattern, flags).match(string)

        def fullmatch(pattern: Any, string: Any, flags: int = 0) -> Any:
            return self.compile(pattern, flags).fullmatch(string)

        def findall(pattern: Any, string: Any, flags: int = 0) -> Any:
            return self.compile(pattern, flags).findall(string)

        def finditer(pattern: Any, string: Any, flags: int = 0) -> Any:
            return self.compile(pattern, flags).finditer(string)

        def split(pattern: Any, string: Any, maxsplit: int = 0, flags: int = 0) -> Any:
            return self.compile(pattern, flags).split(string, maxsplit)

        def sub(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
            return self.compile(pattern, flags).sub(repl, string, count)

        def subn(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
            return self.compile(pattern, flags).subn(repl, string, count)

        return {
            "compile": compile_,
            "search": search,
            "match": match,
            "fullmatch": fullmatch,
            "findall": findall,
            "finditer": finditer,
            "split": split,
            "sub": sub,
            "subn": subn,
        }


class SandboxPattern:
    """What ``re.compile`` returns in the sandbox: ``re.Pattern``'s API, time-bounded."""

    __slots__ = ("_compiled", "_degree", "_fullmatch", "_guard", "_match", "_search", "_short")

    def __init__(self, guard: RegexGuard, compiled: re.Pattern[Any], degree: int) -> None:
        self._guard = guard
        self._compiled = compiled
        self._degree = degree
        #: str subjects up to this length need no probe (``RegexGuard.run``): ``match``,
        #: ``search`` and ``fullmatch`` on them call the engine directly
        self._short = _probe_free_length(degree, guard.limits.regex_timeout_seconds)
        self._match = compiled.match
        self._search = compiled.search
        self._fullmatch = compiled.fullmatch

    pattern = property(lambda self: self._compiled.pattern)
    flags = property(lambda self: self._compiled.flags)
    groups = property(lambda self: self._compiled.groups)
    groupindex = property(lambda self: dict(self._compiled.groupindex))

    def search(self, string: Any, *args: Any) -> Any:
        if type(string) is str and len(string) <= self._short:
            return self._search(string, *args)
        return self._guard.run(self, "search", string, (string, *args))

    def match(self, string: Any, *args: Any) -> Any:
        if type(string) is str and len(string) <= self._short:
            return self._match(string, *args)
        return self._guard.run(self, "match", string, (string, *args))

    def fullmatch(self, string: Any, *args: Any) -> Any:
        if type(string) is str and len(string) <= self._short:
            return self._fullmatch(string, *args)
        return self._guard.run(self, "fullmatch", string, (string, *args))

    def findall(self, string: Any, *args: Any) -> Any:
        return self._guard.run(self, "findall", string, (string, *args))

    def finditer(self, string: Any, *args: Any) -> Any:
        return self._guard.run(self, "finditer", string, (string, *args))

    def split(self, string: Any, maxsplit: int = 0) -> Any:
        return self._guard.run(self, "split", string, (string, maxsplit))

    def sub(self, repl: Any, string: Any, count: int = 0) -> Any:
        return self._guard.substitute(self, "sub", repl, string, count)

    def subn(self, repl: Any, string: Any, count: int = 0) -> Any:
        return self._guard.substitute(self, "subn", repl, string, count)

    def __repr__(self) -> str:
        return repr(self._compiled)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SandboxPattern) and other._compiled == self._compiled

    def __hash__(self) -> int:
        return hash(self._compiled)
