"""The variable of a ``range`` loop skips its per-iteration int guards (one flag per loop):
results must match Python, and every way of rebinding the variable during the loop must
put the checked path back (a 60,000-bit int squared passes the 100,000-bit limit only
natively, so a stale flag would show up as a missing error)."""

from __future__ import annotations

import pytest

from smolagents.errors import SandboxResourceError
from smolagents.local_python_executor import LocalPythonExecutor


def executor() -> LocalPythonExecutor:
    ex = LocalPythonExecutor([])
    ex.send_tools({})
    return ex


def run(code: str) -> object:
    return executor()(code).output


@pytest.mark.parametrize(
    "code",
    [
        "t = 0\nfor i in range(1000):\n    t += i * i % 7\nt",
        "t = 0\nn = 50\nfor i in range(-n, n, 3):\n    t += i * i * 3 // 5 - i % 4\nt",
        "t = []\nfor i in range(2**40, 2**40 + 3):\n    t.append(i * i % 1000003)\nt",  # big bounds: checked path
        "t = []\nfor i in range(3):\n    for j in range(i, 4):\n        t.append(i * j % 5)\nt",
        "[x * x % 7 for x in range(20) if x % 3]",
        "n = 9\n[a * b % 5 for a in range(n) for b in range(a, n) if (a + b) % 2]",
        "n = 2**35\n[x * x % 97 for x in range(n, n + 4)]",
        "{x: x * 3 % 4 for x in range(10)}",
        "sum(x * x for x in range(-7, 7))",
        "def gen(n):\n    for i in range(n):\n        yield i * 7919 % 1000\nsum(gen(500))",
        "def f(n):\n    out = 0\n    for i in range(1, n):\n        out += i * i % 3\n    else:\n        out += i * 2\n    return out\nf(40)",
        "t = 0\nfor i in range(5):\n    t += i * 2.5\nt",
        "t = 0\nfor i in range(5):\n    t += i\n(t, i)",
    ],
)
def test_range_loops_compute_what_python_computes(code: str) -> None:
    namespace: dict[str, object] = {}
    *body, last = code.split("\n")
    exec("\n".join(body), namespace)
    assert run(code) == eval(last, namespace)


BIG = "(1 << 60000)"


@pytest.mark.parametrize(
    "code",
    [
        # the body rebinds the variable itself
        f"for i in range(2):\n    i = {BIG}\n    y = i * i",
        # a function declaring it global rebinds it from a call in the body
        f"def f():\n    global i\n    i = {BIG}\nfor i in range(2):\n    f()\n    y = i * i",
        # a generator expression's := binds the module global
        f"g = ((i := {BIG}) for _ in range(1))\nfor i in range(2):\n    next(g, None)\n    y = i * i",
        # a nested function rebinds the enclosing function's variable with nonlocal
        "def outer():\n    def inner():\n        nonlocal i\n"
        f"        i = {BIG}\n    for i in range(2):\n        inner()\n        y = i * i\nouter()",
        # a function whose loop variable is itself global
        f"def h():\n    global i\n    for i in range(2):\n        y = i * i\n        i = {BIG}\n        y = i * i\nh()",
        # another clause of the same comprehension rebinds it
        f"[x * x for x in range(2) for x in [{BIG}]]",
    ],
)
def test_a_loop_variable_rebound_during_the_loop_gets_the_checked_path(code: str) -> None:
    with pytest.raises(SandboxResourceError, match="max_int_bits"):
        run(code)


def test_a_rebinding_function_from_an_earlier_call_is_remembered() -> None:
    ex = executor()
    ex(f"def f():\n    global i\n    i = {BIG}")
    with pytest.raises(SandboxResourceError, match="max_int_bits"):
        ex("for i in range(2):\n    f()\n    y = i * i")


def test_a_huge_range_in_a_loop_still_stops_at_the_operation_limit() -> None:
    ex = LocalPythonExecutor([], max_operations=20_000)
    ex.send_tools({})
    with pytest.raises(SandboxResourceError, match="max_operations"):
        ex("t = 0\nfor i in range(10**15):\n    t += i * i % 7")


def test_augmented_add_of_a_small_int_expression_keeps_python_errors() -> None:
    with pytest.raises(Exception, match="not iterable"):
        run("a = 3\nlst = []\nlst += a * 2")
    with pytest.raises(Exception, match="concatenate"):
        run("a = 3\ns = 'x'\ns += a * 2")


def test_augmented_add_of_a_repetition_on_strings_is_still_checked() -> None:
    with pytest.raises(SandboxResourceError):
        run("a = 'x'\nn = 10**10\ns = ''\ns += a * n")
