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


# A ``yield`` that ends a loop body, in a loop that ends its generator, has no tick of its
# own: the next iteration's tick (or the generator's end) must still stop a generator the
# host resumes after the call, before any more of its body runs.
TAIL_YIELDS = {
    "counted_range": "def g():\n    for i in range(5):\n        log.append(i)\n        yield i\n",
    "loop_over_a_list": "def g():\n    for i in [0, 1, 2, 3]:\n        log.append(i)\n        yield i\n",
    "yield_in_if": "def g():\n    for i in range(5):\n        log.append(i)\n        if i % 2 == 0:\n            yield i\n        else:\n            yield -i\n",
    "nested_loops": "def g():\n    for i in range(3):\n        for j in range(3):\n            log.append(j)\n            yield j\n",
    "while_loop": "def g():\n    i = 0\n    while True:\n        log.append(i)\n        i += 1\n        yield i\n",
}


@pytest.mark.parametrize("body", list(TAIL_YIELDS.values()), ids=list(TAIL_YIELDS))
def test_a_generator_resumed_outside_the_call_runs_no_more_of_its_body(body: str) -> None:
    from smolagents.errors import SandboxSecurityError

    ex = executor()
    log, gen = ex("log = []\n" + body + "gen = g()\nnext(gen)\n(log, gen)").output
    assert log == [0]
    with pytest.raises(SandboxSecurityError, match="outside an executor call"):
        next(gen)
    assert log == [0]  # nothing of the next iteration ran
    assert ex("h = g()\nnext(h)\nnext(h)\nlog").output == [0, 0, 1]  # inside a call it runs on


def test_tail_yield_generators_still_stop_at_the_time_limit() -> None:
    ex = LocalPythonExecutor([], timeout_seconds=1)
    ex.send_tools({})
    code = (
        "def spin():\n    i = 0\n    while True:\n        i += 1\n        yield i\nfor _ in spin():\n    pass"
    )
    with pytest.raises(SandboxResourceError, match="timeout_seconds"):
        ex(code)


STOPPED_LOOPS = {
    "timeout": ("while True:\n    pass", SandboxResourceError),
    "timeout_in_counted_loop": ("x = []\nfor i in range(10**12):\n    x.append(i % 7)", SandboxResourceError),
    "final_answer_in_a_loop": ("for i in range(10**6):\n    if i == 5000:\n        final_answer(i)", None),
}


@pytest.mark.parametrize(("code", "error"), list(STOPPED_LOOPS.values()), ids=list(STOPPED_LOOPS))
def test_loops_of_later_calls_run_after_a_loop_was_stopped(code: str, error: type | None) -> None:
    # the loop ticks come from one shared iterator: a stop must not exhaust it for good
    ex = LocalPythonExecutor([], timeout_seconds=1)
    ex.send_tools({})
    if error is None:
        assert ex(code).is_final_answer
    else:
        with pytest.raises(error):
            ex(code)
    later = "t = 0\nfor i in range(10):\n    t += 1\nn = 0\nwhile n < 5:\n    n += 1\n(t, n, [i for i in range(3)])"
    assert ex(later).output == (10, 5, [0, 1, 2])


def test_loops_of_later_calls_run_after_the_host_resumed_a_generator() -> None:
    from smolagents.errors import SandboxSecurityError

    ex = executor()
    # a counted range: the generator's loop draws from the shared loop-tick iterator
    gen = ex("def g(n):\n    for i in range(n):\n        yield i\ngen = g(10**6)\nnext(gen)\ngen").output
    with pytest.raises(SandboxSecurityError):
        next(gen)
    assert ex("t = 0\nfor i in range(10):\n    t += 1\nt").output == 10
