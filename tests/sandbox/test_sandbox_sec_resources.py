"""Security: resource exhaustion. Each payload must end in a ``SandboxResourceError`` (or a
clear refusal) well within the pytest timeout, leaving the host healthy.

Limits are tiny (1 s, 200 MiB) so the whole module stays fast.
"""

from __future__ import annotations

import sys

import pytest

from smolagents.errors import InterpreterError, SandboxResourceError
from smolagents.local_python_executor import LocalPythonExecutor, SandboxLimits

pytestmark = pytest.mark.timeout(60)


def _tight(**overrides) -> LocalPythonExecutor:
    limits = SandboxLimits(timeout_seconds=1, max_memory_bytes=200 * 2**20, regex_timeout_seconds=0.3)
    for name, value in overrides.items():
        setattr(limits, name, value)
    return LocalPythonExecutor(["numpy"], limits=limits)


TIME = {
    "while_true": "while True:\n    pass",
    "nested_function_loop": "def spin():\n    while True:\n        pass\nspin()",
    "sum_of_count": "import itertools\nsum(itertools.count())",
    "list_of_cycle": "import itertools\nfor _ in itertools.cycle([1]):\n    pass",
    "sum_of_repeat": "import itertools\nsum(itertools.repeat(1))",
    "sum_iter_callable": "sum(iter(int, 1))",
    "sum_big_range": "sum(range(10**15))",
    "max_of_product": "import itertools\nmax(itertools.product(range(1000), repeat=4))",
    "sleep_past_deadline": "import time\ntime.sleep(100)",
    "sleep_in_loop": "import time\nwhile True:\n    time.sleep(0.2)",
    "recursion_bomb": "def f():\n    return [f() for _ in range(2)]\nf()",
    "queue_get_forever": "import queue\nqueue.Queue().get()",
    "generator_chain": "def g():\n    while True:\n        yield 1\nsum(x for x in g())",
    "string_building_forever": "s = ''\nwhile True:\n    s += 'x'",
}

SIZE_PRECHECKS = {
    "power": "10**10**8",
    "power_builtin": "pow(10, 10**9)",
    "power_augmented": "x = 10\nx **= 10**9",
    "left_shift": "1 << 10**10",
    "multiplication_chain": "x = 3\nwhile True:\n    x = x * x",
    "factorial": "import math\nmath.factorial(10**7)",
    "comb": "import math\nmath.comb(10**8, 5 * 10**7)",
    "prod": "import math\nmath.prod(range(1, 10**6))",
    "getrandbits": "import random\nrandom.getrandbits(10**10)",
    "string_repetition": "'a' * 10**12",
    "list_repetition": "[0] * 10**12",
    "bytes_repetition": "b'ab' * 10**11",
    "repetition_augmented": "s = 'ab'\ns *= 10**11",
    "reversed_repetition": "10**12 * [None]",
    "bytes_constructor": "bytes(10**12)",
    "bytearray_constructor": "bytearray(10**11)",
    "list_range": "list(range(10**12))",
    "sorted_range": "sorted(range(10**12))",
    "set_range": "set(range(10**10))",
    "tuple_range_via_type": "r = range(1)\ntuple(type(r)(10**12))",
    "ljust": "'a'.ljust(10**11)",
    "center_unbound": "str.center('a', 10**11)",
    "zfill": "'1'.zfill(10**11)",
    "expandtabs": "('\\t' * 1000).expandtabs(10**8)",
    "replace_amplification": "('a' * 10**6).replace('a', 'b' * 10**4)",
    "join_amplification": "('x' * 10**6).join(['a'] * 10**5)",
    "join_of_repeated_big_string": "''.join([('y' * 10**6)] * 10**5)",
    "format_width": "'{:>10000000000}'.format(1)",
    "format_builtin_width": "format(1, '>10000000000')",
    "fstring_dynamic_width": "w = 10**10\nf'{1:>{w}}'",
    "percent_width": "'%10000000000d' % 1",
    "percent_star_width": "'%*d' % (10**10, 1)",
    "to_bytes": "(1).to_bytes(10**11, 'big')",
    "re_sub_amplification": "import re\nre.sub('', 'x' * 10**4, 'a' * 10**5)",
    "sum_of_lists_quadratic": "sum([[0] * 10**4] * 10**5, [])",
    "numpy_constructor": "import numpy as np\nnp.zeros((10**5, 10**5))",
    "numpy_arange": "import numpy as np\nnp.arange(10**11)",
}

MEMORY = {
    "append_forever": "x = []\nwhile True:\n    x.append(' ' * 10**6)",
    "doubling_concatenation": "s = 'x' * 1000\nwhile True:\n    s = s + s",
    "dict_growth": "d = {}\ni = 0\nwhile True:\n    d[i] = [i] * 1000\n    i += 1",
}

REGEX = {
    "nested_quantifier": "import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')",
    "nested_quantifier_compiled": "import re\np = re.compile(r'(\\w+\\s?)*$')\np.match('word ' * 30 + '!')",
    "overlapping_alternation": "import re\nre.fullmatch(r'(a|aa)+', 'a' * 40 + 'b')",
    "dot_star_group": "import re\nre.match(r'(.*,)*x', ',' * 40)",
    "polynomial_on_long_input": "import re\nre.search(r'\\d+\\d+x', '1' * 50_000)",
    "quadratic_on_long_input": "import re\nre.search(r'\\d+x', '1' * 200_000)",
    # compiled patterns call the engine directly on short subjects only
    "polynomial_compiled_search": "import re\np = re.compile(r'\\d+\\d+x')\np.search('1' * 50_000)",
    "polynomial_compiled_fullmatch": "import re\np = re.compile(r'\\d+\\d+x')\np.fullmatch('1' * 50_000)",
}


@pytest.mark.parametrize("code", list(TIME.values()), ids=list(TIME))
def test_time_is_bounded(attack, code: str) -> None:
    attack(code, executor=_tight(), expect=InterpreterError)


@pytest.mark.parametrize("code", list(SIZE_PRECHECKS.values()), ids=list(SIZE_PRECHECKS))
def test_sizes_checked_before_computing(attack, code: str) -> None:
    import numpy  # noqa: F401  (in the test extra: fail if missing, never skip)

    error = attack(code, executor=_tight(), expect=SandboxResourceError)
    assert error.limit  # names which limit was hit


@pytest.mark.parametrize("code", list(MEMORY.values()), ids=list(MEMORY))
def test_memory_is_bounded(attack, code: str) -> None:
    error = attack(code, executor=_tight(timeout_seconds=20), expect=SandboxResourceError)
    assert error.limit in ("max_memory_bytes", "max_sequence_length", "timeout_seconds")


@pytest.mark.parametrize("code", list(REGEX.values()), ids=list(REGEX))
def test_regex_time_is_bounded(attack, code: str) -> None:
    attack(code, executor=_tight(timeout_seconds=5), expect=InterpreterError)


def test_operation_budget() -> None:
    executor = LocalPythonExecutor([], max_operations=10_000)
    with pytest.raises(SandboxResourceError, match="operations") as info:
        executor("total = 0\nfor i in range(10**6):\n    total += i")
    assert info.value.limit == "max_operations"
    assert executor("sum(range(100))").output == 4950


def test_deep_recursion_gives_a_clear_error() -> None:
    with pytest.raises(InterpreterError, match=r"[Rr]ecursion"):
        LocalPythonExecutor([])("def down(n):\n    return down(n + 1)\ndown(0)")


def test_recursion_limit_is_configurable() -> None:
    executor = LocalPythonExecutor([], limits=SandboxLimits(max_recursion_depth=50))
    with pytest.raises(InterpreterError, match=r"[Rr]ecursion"):
        executor("def down(n):\n    for _ in range(1000):\n        pass\n    return down(n + 1)\ndown(0)")


def test_print_flood_is_truncated_not_fatal() -> None:
    result = LocalPythonExecutor([], max_print_outputs_length=1000)(
        "for i in range(200_000):\n    print('spam', i)"
    )
    assert len(result.logs) < 1500 and "truncated" in result.logs


def test_limits_reset_between_calls() -> None:
    executor = _tight()
    with pytest.raises(SandboxResourceError):
        executor("while True:\n    pass")
    assert executor("sum(range(10))").output == 45


def test_regex_ok_patterns_on_long_inputs_still_run() -> None:
    executor = _tight(timeout_seconds=10)
    text = "alice@example.com, bob@test.org; " * 3000
    assert executor(f"import re\nlen(re.findall(r'\\w+@\\w+\\.\\w+', {text!r}))").output == 6000


@pytest.mark.parametrize(
    "code",
    [
        "'%10000000000d'.__mod__(1)",
        "(10).__pow__(10**8)",
        "int.__pow__(10, 10**8)",
        "'a'.__mul__(10**12)",
        "[0].__rmul__(10**12)",
        "(1).__lshift__(10**10)",
        "'a'.__format__('>10000000000')",
        "class L(list):\n    def __mul__(self, n):\n        return super().__mul__(n)\nL([0]) * 10**12",
    ],
    ids=["mod", "pow", "pow_unbound", "mul", "rmul", "lshift", "format", "super_mul"],
)
def test_operator_dunders_cannot_skip_the_checks(attack, code: str) -> None:
    attack(code, executor=_tight())


def test_sum_of_huge_iterables_is_preemptible(attack) -> None:
    attack("x = 2**90000\nsum([x] * 10**7)", executor=_tight(), expect=SandboxResourceError)


@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5, 7])
def test_regex_probe_free_length_is_exact(degree: int) -> None:
    from smolagents.local_python_executor._regex import _STEP_BUDGET, _probe_free_length

    length = _probe_free_length(degree, 2.0)
    assert length**degree <= _STEP_BUDGET < (length + 1) ** degree
    assert _probe_free_length(0, 2.0) == _probe_free_length(degree, None) == sys.maxsize


def test_compiled_pattern_short_subjects_match_like_re() -> None:
    code = (
        "import re\np = re.compile(r'(\\w+)@(\\w+)\\.com')\n"
        "m = p.match('alice@example.com')\ns = p.search('mail bob@test.com now', 2)\n"
        "f = p.fullmatch('carol@site.com')\n"
        "(m.groups(), s.span(), f.group(1), p.match('nope'), p.search(b'x@y.com'.decode()).group(2))"
    )
    assert LocalPythonExecutor(["re"])(code).output == (("alice", "example"), (5, 17), "carol", None, "y")
    with pytest.raises(InterpreterError):
        LocalPythonExecutor(["re"])("import re\nre.compile('a')._match('a')")
