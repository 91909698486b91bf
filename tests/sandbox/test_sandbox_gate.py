"""The gate at function entries: a flag checked by every sandbox function, set by the runtime.

Code without loops is stopped by it (timeout, memory, aborts, use outside a call) and gets
its periodic checks through it (the watchdog sets it every few milliseconds). Function
entries are counted like loop ticks only where nothing else would bound them: without a
timeout, or under a recursion limit raised so high that C-level nesting could outgrow the
stack between two periodic checks.
"""

from __future__ import annotations

import ast
import sys
import time

import pytest

from smolagents.errors import InterpreterError, SandboxResourceError
from smolagents.local_python_executor import LocalPythonExecutor, SandboxLimits
from smolagents.local_python_executor._runtime import SAFE_RECURSION_LIMIT

pytestmark = pytest.mark.timeout(120)  # a gate that fails to stop code would hang instead

# 2**61 calls and not a single loop: only the gate can stop it
_EXPONENTIAL = "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nf(60)"


def test_recursion_without_loops_stops_at_the_timeout_and_the_next_call_runs() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=0.5)
    with pytest.raises(SandboxResourceError) as info:
        executor(_EXPONENTIAL)
    assert info.value.limit == "timeout_seconds"
    # the flag stopped every function: the next call must open it again
    assert executor("def g(k):\n    return k + 1\ng(g(1))").output == 3


def test_without_a_timeout_function_calls_are_counted() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=None, max_operations=50_000)
    with pytest.raises(SandboxResourceError, match="function calls") as info:
        executor(_EXPONENTIAL)
    assert info.value.limit == "max_operations"


def test_with_a_timeout_only_loop_iterations_are_counted() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=30, max_operations=50_000)
    # fib(22) makes ~57,000 calls and no loop iteration
    assert (
        executor("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nfib(22)").output == 17711
    )
    with pytest.raises(SandboxResourceError, match="loop iterations") as info:
        executor("t = 0\nfor i in range(60_000):\n    t += 1")
    assert info.value.limit == "max_operations"


def test_the_watchdog_runs_the_depth_check_in_recursion_without_loops() -> None:
    # each level sorts for a while without looping: the periodic check, not a tick, sees the depth
    executor = LocalPythonExecutor([], limits=SandboxLimits(max_recursion_depth=50, timeout_seconds=60))
    code = "data = list(range(30_000))[::-1]\ndef down(n):\n    sorted(data)\n    return down(n + 1)\ndown(0)"
    with pytest.raises(SandboxResourceError) as info:
        executor(code)
    assert info.value.limit == "max_recursion_depth"


def test_pure_recursion_is_stopped_by_pythons_limit_with_a_clear_error() -> None:
    with pytest.raises(InterpreterError, match=r"RecursionError|recursion"):
        LocalPythonExecutor([])("def down(n):\n    return down(n + 1)\ndown(0)")
    assert (
        LocalPythonExecutor([])("def down(n):\n    return n if n > 300 else down(n + 1)\ndown(0)").output
        == 301
    )


def test_a_raised_recursion_limit_makes_function_entries_counted() -> None:
    executor = LocalPythonExecutor([], limits=SandboxLimits(max_recursion_depth=100))
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(SAFE_RECURSION_LIMIT * 2)
    try:
        # counted entries run the depth check every 1000 calls: the sandbox's own limit
        # stops the recursion long before the raised Python limit would
        with pytest.raises(SandboxResourceError) as info:
            executor("def down(n):\n    return down(n + 1)\ndown(0)")
        assert info.value.limit == "max_recursion_depth"
        assert executor._runtime.count_entries
    finally:
        sys.setrecursionlimit(previous)
    executor("1")
    assert not executor._runtime.count_entries


def test_a_final_answer_from_recursion_without_loops() -> None:
    executor = LocalPythonExecutor([])
    executor.send_tools({"final_answer": lambda answer: answer})
    code = "def walk(n):\n    if n == 40:\n        final_answer(n)\n    return walk(n + 1)\nwalk(0)"
    out = executor(code)
    assert out.is_final_answer and out.output == 40
    assert executor("def h():\n    return 'open'\nh()").output == "open"


def _native_value(code: str) -> object:
    """What CPython itself gives for ``code``'s last expression."""
    tree = ast.parse(code)
    tail = tree.body.pop()
    assert isinstance(tail, ast.Expr)
    namespace: dict[str, object] = {}
    exec(compile(tree, "<native>", "exec"), namespace)
    return eval(compile(ast.Expression(body=tail.value), "<native>", "eval"), namespace)


_SHORT_LOOPS = (
    "def walk(a, b, c):\n    out = []\n    for i in range(a, b, c):\n        out.append(i * i)\n    return out\n"
    "[walk(0, 256, 1), walk(0, 257, 1), walk(10, 0, -3), walk(5, 5, 1), walk(-300, 300, 7), walk(3, 1, 1)]"
)


def test_short_range_loops_give_pythons_results() -> None:
    assert LocalPythonExecutor([])(_SHORT_LOOPS).output == _native_value(_SHORT_LOOPS)
    # the shortness test reads the range's bounds: no overflow on an astronomically long one
    code = "def first(n):\n    for i in range(n):\n        if i == 3:\n            return i\nfirst(10**30)"
    assert LocalPythonExecutor([])(code).output == 3


_MANY_SHORT_LOOPS = "def f():\n    t = 0\n    for i in range(200):\n        t += i\n    return t\nsum([f() for _ in range(100)])"


def test_short_range_loops_are_bounded_by_time_with_a_timeout() -> None:
    # 20,000 iterations of short loops, 100 counted: a budget of 5,000 operations holds
    executor = LocalPythonExecutor([], timeout_seconds=30, max_operations=5_000)
    assert executor(_MANY_SHORT_LOOPS).output == 100 * 19_900


def test_short_range_loops_are_counted_without_a_timeout() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=None, max_operations=5_000)
    with pytest.raises(SandboxResourceError) as info:
        executor(_MANY_SHORT_LOOPS)
    assert info.value.limit == "max_operations"


def test_a_loop_around_a_short_loop_is_counted() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=30, max_operations=5_000)
    code = "def f(n):\n    t = 0\n    for i in range(n):\n        for j in range(3):\n            t += j\n    return t\nf(10**9)"
    with pytest.raises(SandboxResourceError) as info:
        executor(code)
    assert info.value.limit == "max_operations"


def test_a_short_loop_stops_with_the_call() -> None:
    # every iteration passes the gate: the timeout stops the loop, not its end
    calls: list[int] = []

    def pause(i: int) -> None:
        calls.append(i)
        time.sleep(0.05)

    executor = LocalPythonExecutor([], timeout_seconds=0.5)
    executor.send_tools({"pause": pause})
    with pytest.raises(SandboxResourceError) as info:
        executor("def f():\n    for i in range(200):\n        pause(i)\nf()")
    assert info.value.limit == "timeout_seconds"
    assert len(calls) < 100  # ~10 in 0.5 s; 200 had the loop run to its end


def test_guessed_receiver_types_are_plain_values_and_subclasses_still_work() -> None:
    import re

    from smolagents.local_python_executor._ast_build import GUESSED_RECEIVERS, MATCH_ACCESSORS
    from smolagents.local_python_executor._security import DATE_VALUE_TYPES, PLAIN_VALUE_TYPES

    executor = LocalPythonExecutor([])
    for attr, name in GUESSED_RECEIVERS.items():
        guessed = executor._runtime.builtins[name]
        assert guessed in PLAIN_VALUE_TYPES | DATE_VALUE_TYPES or (
            guessed is re.Match and attr in MATCH_ACCESSORS
        )
    code = (
        "class L(list):\n    def append(self, x):\n        super().append(x * 2)\n"
        "class D(dict):\n    def get(self, k, d=None):\n        return 'mine'\n"
        "items = L()\nitems.append(4)\nplain = []\nplain.append(4)\n(items, plain, D().get(1), {1: 2}.get(1), ' a '.strip())"
    )
    assert executor(code).output == ([8], [4], "mine", 2, "a")


def test_zero_argument_super_in_methods_classmethods_and_nested_functions() -> None:
    code = (
        "class A:\n    def hello(self):\n        return 'A'\n    @classmethod\n    def make(cls):\n        return 'made ' + cls.__name__\n"
        "class B(A):\n    def hello(self):\n        return 'B' + super().hello()\n"
        "    @classmethod\n    def make(cls):\n        return super().make() + '!'\n"
        "    def later(self):\n        def inner(x):\n            return x\n        return inner(super().hello())\n"
        "    def swapped(self):\n        self = B()\n        return super().hello()\n"
        "(B().hello(), B.make(), B().later(), B().swapped(), A.hello(B()))"
    )
    assert LocalPythonExecutor([])(code).output == ("BA", "made B!", "A", "A", "A")


def test_module_guess_is_only_a_guess() -> None:
    # names that usually hold modules may hold anything: the fast-type table still decides
    code = "math = {'sqrt': 2}\nre = [1, 2]\nre.append(3)\n(math.get('sqrt'), re, len(math.keys()))"
    assert LocalPythonExecutor([])(code).output == (2, [1, 2, 3], 1)
    out = LocalPythonExecutor(["math"])("import math as m\nimport math\n(m.floor(2.5), math.isqrt(17))")
    assert out.output == (2, 4)


def test_a_match_object_guessed_by_its_accessors_keeps_its_other_attributes_guarded() -> None:
    executor = LocalPythonExecutor(["re"])
    code = "import re\nm = re.match(r'(\\w+)-(\\d+)', 'abc-42')\n(m.group(1), m.groups(), m.span(2), m.start(), m.end(1), m.groupdict())"
    assert executor(code).output == ("abc", ("abc", "42"), (4, 6), 0, 3, {})
    # ``m.re`` is still the time-limited stand-in, not the raw pattern
    assert "SandboxPattern" in executor("import re\ntype(re.match('a', 'a').re).__name__").output


@pytest.mark.parametrize(
    "code",
    [
        # a handler of builtin Exception classes passes the gate only
        "def f():\n    while True:\n        try:\n            int('x')\n        except (ValueError, TypeError):\n            pass\nf()",
        # a parameter shadowing the name may be BaseException: that handler keeps the re-raise
        "def f(Exception):\n    while True:\n        try:\n            int('x')\n        except Exception:\n            pass\nf(BaseException)",
        "def f(E):\n    while True:\n        try:\n            int('x')\n        except E:\n            pass\nf(BaseException)",
    ],
    ids=["builtin_names", "shadowed_name", "variable"],
)
def test_exception_handlers_never_swallow_the_timeout(code: str) -> None:
    with pytest.raises(SandboxResourceError) as info:
        LocalPythonExecutor([], timeout_seconds=0.5)(code)
    assert info.value.limit == "timeout_seconds"


def test_exception_handlers_keep_their_meaning() -> None:
    executor = LocalPythonExecutor([])
    executor.send_tools({"final_answer": lambda answer: answer})
    code = (
        "bad = 0\nfor t in ['1', 'x', '3', 'y']:\n    try:\n        int(t)\n    except ValueError as e:\n        bad += 1\n"
        "try:\n    final_answer(bad)\nexcept Exception:\n    bad = -1\n"
    )
    out = executor(code)
    assert out.is_final_answer and out.output == 2
    # a parameter shadowing the name may be BaseException: that handler keeps the re-raise
    shadowed = (
        "def f(Exception):\n    try:\n        final_answer(5)\n    except Exception:\n        print('handler ran')\n"
        "f(BaseException)"
    )
    out = executor(shadowed)
    assert out.is_final_answer and out.output == 5 and "handler ran" not in out.logs


_VERSIONED = (
    "def f(n, k):\n    out = []\n    for d in range(1, 4):\n        out.append(n % d + n * k)\n    return out\n"
    "def g(n):\n    for d in range(2, 50):\n        if n % d == 0:\n            return d\n    return n\n"
    "[f(7, 2), f(10**40, 3), f(7.5, 2), g(91), g(97), g(10**30 + 1), g(2.0**70)]"
)


def test_loops_versioned_on_their_flags_give_pythons_results() -> None:
    assert LocalPythonExecutor([])(_VERSIONED).output == _native_value(_VERSIONED)


def test_the_unversioned_copy_of_a_loop_is_still_checked() -> None:
    # a str parameter takes the copy with the checked operators: '%' formatting is bounded
    code = "def f(n):\n    out = []\n    for d in range(1, 3):\n        out.append(n % d)\n    return out\nf('%999999999d')"
    with pytest.raises(SandboxResourceError):
        LocalPythonExecutor([])(code)
