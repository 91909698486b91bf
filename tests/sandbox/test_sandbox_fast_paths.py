"""The sandbox's speed shortcuts keep its limits: guards hoisted to function entry, real
``range`` objects in loops, counted loops in functions drawing ticks at C speed, and the
small-operand fast paths of ``math.gcd``/``math.isqrt``."""

from __future__ import annotations

import math

import pytest

from smolagents.errors import InterpreterError, SandboxResourceError, SandboxSecurityError
from smolagents.local_python_executor import LocalPythonExecutor


def run(code: str, imports: list[str] | None = None, **limits: object) -> object:
    executor = LocalPythonExecutor(imports or [], **limits)  # type: ignore[arg-type]
    executor.send_tools({})
    return executor(code).output


MOD_HELPER = (
    "def rem(n, d):\n    total = 0\n    for _ in range(3):\n        total = n % d\n    return total\n"
)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("rem(17, 5)", 2),
        ("rem(-(2**40) - 3, 7)", (-(2**40) - 3) % 7),  # past the one-digit bound: checked path
        ("rem(10**400 + 9, 10**399 + 7)", (10**400 + 9) % (10**399 + 7)),
        ("rem('id=%d', 42)", "id=42"),  # str on the left is formatting: never the int path
        ("rem(7.5, 2)", 1.5),
    ],
)
def test_hoisted_remainder_guard_takes_the_right_path_per_call(call: str, expected: object) -> None:
    assert run(MOD_HELPER + call) == expected


def test_hoisted_guard_still_refuses_a_format_bomb_on_a_parameter() -> None:
    with pytest.raises(SandboxResourceError, match=r"max_sequence_length|format"):
        run(MOD_HELPER + "rem('%0999999999d', 1)")


def test_hoisted_guard_is_not_fooled_by_a_parameter_rebound_in_the_function() -> None:
    code = (
        "def f(n):\n    out = []\n    for d in range(1, 3):\n        out.append(n % d)\n        n = '%d'\n"
        "    return out\nf(5)"
    )
    assert run(code) == [0, "2"]


def test_counted_range_loop_in_a_function_stops_at_the_operation_limit() -> None:
    code = "def spin(k):\n    total = 0\n    for i in range(k):\n        total += 1\n    return total\nspin(10**15)"
    with pytest.raises(SandboxResourceError, match="max_operations"):
        run(code, max_operations=20_000)


def test_comprehension_over_a_huge_range_in_a_function_stops_at_the_operation_limit() -> None:
    code = "def spin(k):\n    return [i for i in range(k)]\nspin(10**18)"
    with pytest.raises(SandboxResourceError, match="max_operations"):
        run(code, max_operations=20_000)


def test_counted_range_loop_in_a_function_is_preempted_by_the_timeout() -> None:
    code = "def spin(k):\n    for i in range(k):\n        pass\nspin(10**15)"
    with pytest.raises(InterpreterError, match=r"timeout|time limit|seconds"):
        run(code, timeout_seconds=0.5, max_operations=None)


def test_range_outside_a_loop_is_still_the_checked_stand_in() -> None:
    with pytest.raises(SandboxResourceError, match=r"max_sequence_length|items"):
        run("r = range(10**12)\nlist(r)")


def test_loop_over_a_range_with_huge_bounds_iterates() -> None:
    assert run("out = []\nfor i in range(10**30, 10**30 + 3):\n    out.append(i)\nout") == [
        10**30,
        10**30 + 1,
        10**30 + 2,
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("math.gcd(84, 36)", 12),
        ("math.gcd(-84, 36)", 12),
        ("math.gcd(2**70, 2**65 * 3)", 2**65),
        ("math.gcd(84, 36, 10)", 2),
        ("math.gcd()", 0),
        ("math.gcd(True, 4)", 1),
        ("math.isqrt(99)", 9),
        ("math.isqrt(10**200)", 10**100),
    ],
)
def test_math_fast_paths_agree_with_math(code: str, expected: int) -> None:
    assert run("import math\n" + code, ["math"]) == expected
    assert eval(code, {"math": math}) == expected


def test_isqrt_of_a_negative_number_is_still_an_error() -> None:
    with pytest.raises(InterpreterError, match="isqrt"):
        run("import math\nmath.isqrt(-4)", ["math"])


FUSED = "def calc(a, b, c):\n    return (a * b + c) % 1000003 + a * a\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((3, 4, 5), (3 * 4 + 5) % 1000003 + 9),
        ((10**50, 7, 1), (10**50 * 7 + 1) % 1000003 + 10**100),  # big ints: every step checked
        ((True, 4, -5), (1 * 4 - 5) % 1000003 + 1),
        ((2.5, 2, 1), (2.5 * 2 + 1) % 1000003 + 6.25),
    ],
)
def test_fused_arithmetic_matches_python_for_every_operand_kind(
    args: tuple[object, ...], expected: object
) -> None:
    assert run(FUSED + f"calc{args!r}") == expected


def test_fused_expression_on_strings_takes_the_checked_path() -> None:
    code = "def build(s, n, t):\n    return s * n + t * n\n"
    assert run(code + "build('ab', 3, 'c')") == "abababccc"
    with pytest.raises(SandboxResourceError):
        run(code + "build('ab', 10**12, 'c')")


class _Counter:
    """A host object with an instance dict, handed to the sandbox as a variable."""

    def __init__(self) -> None:
        self.count = 0

    def bump(self) -> int:
        self.count += 1
        return self.count


def test_a_cached_method_verdict_does_not_cover_a_callable_the_instance_shadows_it_with() -> None:
    import os

    executor = LocalPythonExecutor([])
    executor.send_tools({})
    counter = _Counter()
    executor.send_variables({"counter": counter})
    assert executor("[counter.bump() for _ in range(3)][-1]").output == 3  # vetted once, then cached
    counter.__dict__["bump"] = os.system  # the host puts a dangerous callable on the instance
    with pytest.raises(SandboxSecurityError):
        executor("counter.bump('echo pwned')")
    other = _Counter()
    executor.send_variables({"other": other})
    assert executor("other.bump()").output == 1  # another instance still uses the cached verdict


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # both operands are expressions: bound once each, left first
        (
            "rows = [{'p': 3, 'q': 4}, {'p': 10**40, 'q': 3}]\n[r['p'] * r['q'] for r in rows]",
            [12, 3 * 10**40],
        ),
        ("def f():\n    r = {'s': 'ab', 'n': 3}\n    return r['s'] * r['n']\nf()", "ababab"),
        # the right side rebinds the left name: Python multiplies the old value
        ("def f():\n    x = 2\n    return x * (x := 5)\nf()", 10),
        (
            "log = []\ndef a():\n    log.append('a')\n    return 6\ndef b():\n    log.append('b')\n    return 7\n"
            "(a() * b(), a() % b(), log)",
            (42, 6, ["a", "b", "a", "b"]),
        ),
    ],
)
def test_operands_that_are_expressions_keep_python_semantics(code: str, expected: object) -> None:
    assert run(code) == expected


def test_operands_that_are_expressions_still_refuse_a_repetition_bomb() -> None:
    with pytest.raises(SandboxResourceError):
        run("d = {'s': 'ab', 'n': 10**12}\nd['s'] * d['n']")


SUPER_CLASSES = """
class Base:
    def describe(self):
        return "base"
class Child(Base):
    def describe(self):
        return super().describe() + "+child"
class Keys(dict):
    def names(self):
        return sorted(super().keys())
"""


def test_super_method_calls_on_sandbox_hierarchies_work() -> None:
    assert run(SUPER_CLASSES + "(Child().describe(), Keys(b=1, a=2).names())") == ("base+child", ["a", "b"])


def test_super_through_a_host_base_still_vets_what_it_reaches(tmp_path) -> None:
    target = tmp_path / "frame.pkl"
    code = (
        "import pandas as pd\n"
        "class Frame(pd.DataFrame):\n"
        "    def save(self, path):\n"
        "        return super().to_pickle(path)\n"
        f"Frame({{'a': [1]}}).save({str(target)!r})"
    )
    with pytest.raises(SandboxSecurityError, match="super"):
        run(code, ["pandas"])
    assert not target.exists()


STR_CHILD = "class S(str):\n    def pad(self, n, fill='*'):\n        return super().ljust(n, fill)\n"


def test_super_reaches_a_builtin_parents_checked_special_method() -> None:
    assert run(STR_CHILD + "S('ab').pad(5)") == "ab***"
    with pytest.raises(SandboxResourceError):
        run(STR_CHILD + "S('ab').pad(10**10)")


def test_super_format_keeps_the_format_string_policy() -> None:
    code = (
        "class S(str):\n    def show(self, x):\n        return super().format(x)\nS('{0.__class__}').show(1)"
    )
    assert run(code.replace("{0.__class__}", "<{0}>")) == "<1>"
    with pytest.raises(SandboxSecurityError, match="__class__"):
        run(code)


def test_super_extend_from_an_endless_iterator_stops_at_the_limits() -> None:
    code = (
        "import itertools\nclass L(list):\n    def grow(self):\n        super().extend(itertools.count())\n"
        "L().grow()"
    )
    with pytest.raises(SandboxResourceError):
        run(code, ["itertools"], max_operations=50_000, timeout_seconds=5)


def test_super_of_an_overridden_special_method_is_refused_with_advice() -> None:
    code = "class S(str):\n    def ljust(self, n):\n        return super().ljust(n)\nS('a').ljust(3)"
    with pytest.raises(SandboxSecurityError, match="name the parent class explicitly"):
        run(code)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("sum([1, 2, 3])", 6),
        ("sum((1.5, 2.5), 1)", 5.0),
        ("sum(list(range(100_000)))", sum(range(100_000))),
        ("sum([[1], [2]], [])", [1, 2]),
        ("sum(x for x in range(10))", 45),
    ],
)
def test_sum_fast_path_agrees_with_python(code: str, expected: object) -> None:
    assert run(code) == expected


def test_sum_of_strings_is_still_refused_like_python() -> None:
    with pytest.raises(InterpreterError, match="sum"):
        run("sum(['a', 'b'], '')")


def test_date_values_as_fast_receivers_behave_like_python() -> None:
    code = (
        "import datetime\n"
        "d = datetime.date(2020, 1, 31)\n"
        "t = datetime.datetime(2020, 1, 31, 12, 30, tzinfo=datetime.timezone.utc)\n"
        "later = d + datetime.timedelta(days=30)\n"
        "(d.weekday(), d.replace(month=2, day=1).isoformat(), later.isoformat(),\n"
        " (later - d).days, t.utcoffset().total_seconds(), t.strftime('%Y-%m-%d %H:%M'),\n"
        " datetime.timedelta(hours=25).days)"
    )
    assert run(code, ["datetime"]) == (4, "2020-02-01", "2020-03-01", 30, 0.0, "2020-01-31 12:30", 1)


def test_seeded_random_generators_match_python() -> None:
    import random

    code = (
        "import random\nr = random.Random(11)\n"
        "v = [r.randint(1, 6) for _ in range(20)]\nw = r.choice('abcdef')\nx = list(range(10))\n"
        "r.shuffle(x)\n(v, w, x, r.randrange(10**30), r.sample(range(100), 3))"
    )
    r = random.Random(11)
    v = [r.randint(1, 6) for _ in range(20)]
    w = r.choice("abcdef")
    x = list(range(10))
    r.shuffle(x)
    assert run(code) == (v, w, x, r.randrange(10**30), r.sample(range(100), 3))
