"""Security, resources round 2: single C calls that ran past the limits or crashed the host.

Payloads that could overflow the C stack (segfault) run in a subprocess, so a regression
fails the test instead of killing pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from smolagents.errors import InterpreterError, SandboxResourceError, SandboxSecurityError
from smolagents.local_python_executor import LocalPythonExecutor, SandboxLimits

pytestmark = pytest.mark.timeout(60)

HUGE = "h = int.from_bytes(b'\\xff' * 10**7, 'big')\ng = int.from_bytes(b'\\xfe' * 5 * 10**6, 'big')\n"
NEAR = "a = (1 << 99000) - 12345\nb = (1 << 49000) - 777\n"

BIG_INT_WORK = {
    "floordiv": HUGE + "h // g",
    "floordiv_inline_names": HUGE + "x = h\ny = g\nx // y",
    "floordiv_augmented": HUGE + "h //= g",
    "modulo": HUGE + "h % g",
    "modulo_augmented": HUGE + "h %= g",
    "divmod": HUGE + "divmod(h, g)",
    "hex_parsed": "h = int('f' * 10**7, 16)\ng = int('e' * 5 * 10**6, 16)\nh % g",
    "modular_pow": NEAR + "pow(a, b, a)",
    "modular_inverse": NEAR + "pow(b, -1, a)",
    "gcd": "import math\n" + HUGE + "math.gcd(h, g)",
    "gcd_many": "import math\n" + HUGE + "math.gcd(*[h + i for i in range(3)])",
    "isqrt": "import math\n" + HUGE + "math.isqrt(h)",
    "round_negative_digits": HUGE + "round(h, -10**5)",
}

SIZE_ARGUMENTS = {
    # the inline fast paths test the real int, not a local the code named ``int``
    "local_int_mod": "def f(int, n):\n    return n % 5\nf(str, '%999999999d')",
    "local_int_mul": "def f(int, n):\n    return n * 5\nf(str, 'a' * 10**7)",
    "local_int_imul": "def f(int, n):\n    n *= 5\n    return n\nf(list, [0] * 10**7)",
    "walrus_named_left_operand": "s = '%999999999d'\n(s + '') % 5",
    "bytes_index": "class N:\n    def __index__(self):\n        return 10**10\nbytes(N())",
    "bytearray_index": "class N:\n    def __index__(self):\n        return 10**10\nbytearray(N())",
    "print_sep": "print(*range(1000), sep='x' * 10**7)",
    "system_random_bits": "import random\nrandom.SystemRandom().getrandbits(10**10)",
    "system_random_bytes": "import random\nrandom.SystemRandom().randbytes(10**10)",
    "random_instance_choices": "import random\nrandom.Random().choices([1], k=10**10)",
    "random_sample": "import random\nrandom.sample(range(10**12), 10**10)",
    "normal_dist_samples": "import statistics\nstatistics.NormalDist(0, 1).samples(10**9)",
    "statistics_fraction": "import statistics\nstatistics.Fraction(1, 3)",
    "statistics_huge_ints": "import statistics\nstatistics.variance([2**90000 + i for i in range(50)])",
    # the C-speed input check looks at the extremes of all-int data, and at mixed data value by value
    "statistics_huge_negative_int": "import statistics\nstatistics.median([1, 2, -(2**90000), 3])",
    "statistics_huge_bool_int_mix": "import statistics\nstatistics.mean([True, 2**90000, False])",
    "statistics_huge_int_among_floats": "import statistics\nstatistics.fmean([0.5, float('nan'), 2**90000, 1.5])",
    "re_findall_lookahead": "import re\nre.findall(r'(?=(a*))', 'a' * 10**5)",
    "re_split_lookahead": "import re\nre.split(r'(?=(a*))', 'a' * 10**5)",
    "re_sub_lookahead": "import re\nre.sub(r'(?=(a*))', r'\\1', 'a' * 10**5)",
    "re_match_expand": "import re\nm = re.match('(a+)', 'a' * 10**5)\nm.expand(r'\\1' * 10**5)",
    "re_match_expand_getattr": "import re\nm = re.match('(a+)', 'a' * 10**5)\ngetattr(m, 'expand')(r'\\g<1>' * 10**5)",
    "re_match_expand_unbound": "import re\nm = re.match('(a+)', 'a' * 10**5)\nre.Match.expand(m, r'\\1' * 10**5)",
    "hash_shared_tuples": "t = ()\nfor _ in range(80):\n    t = (t, t)\nhash(t)",
    "lcm_growth": "import math\nmath.lcm(*[2**20000 + i for i in range(12)])",
    "ljust_index": "class N:\n    def __index__(self):\n        return 10**10\n'a'.ljust(N())",
    "str_ljust_unbound_index": "class N:\n    def __index__(self):\n        return 10**10\nstr.center('a', N())",
    "to_bytes_index": "class N:\n    def __index__(self):\n        return 10**10\n(1).to_bytes(N(), 'big')",
    "translate_list_table": "('a' * 1000).translate(['x' * 10**6] * 128)",
    "translate_class_table": (
        "class T:\n    def __getitem__(self, code):\n        return 'y' * 10**6\n('ab' * 500).translate(T())"
    ),
}

CODE_SIZE = {
    "long_source": "x = 0\n" + "x = x + 1\n" * 200_000,
    "plus_chain": "1+" * 10**6 + "1",
    "giant_literal": "x = " + "9" * 10**7,
    "many_nodes": "y = 'a'\n" + "y.upper()\n" * 20_000,
}


@pytest.mark.parametrize("code", list(BIG_INT_WORK.values()), ids=list(BIG_INT_WORK))
def test_quadratic_integer_work_is_refused(attack, code: str) -> None:
    error = attack(code, expect=SandboxResourceError, match="max_int_bits|bits")
    assert error.limit == "max_int_bits"


@pytest.mark.parametrize("code", list(SIZE_ARGUMENTS.values()), ids=list(SIZE_ARGUMENTS))
def test_sizes_checked_before_one_call(attack, code: str) -> None:
    error = attack(code, expect=SandboxResourceError)
    assert error.limit


@pytest.mark.parametrize("code", list(CODE_SIZE.values()), ids=list(CODE_SIZE))
def test_code_size_bounded_before_compiling(attack, code: str) -> None:
    error = attack(code, expect=InterpreterError)
    assert "SandboxLimits" in str(error) or "RecursionError" in str(error)


def test_ordinary_arithmetic_still_runs() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=5)
    code = textwrap.dedent(
        """
        import math, statistics, random, re, itertools
        n = 10**40
        n //= 7
        r = 10**40
        r %= 9
        (2**1000 % 7, pow(3, 10**6, 10**9 + 7), pow(3, -1, 7), divmod(10**50, 7)[1], 10**40 // 3 == n,
         r, round(123456, -2), round(5, -10**8), round(2.567, 2), hash((1, 2)) == hash((1, 2)),
         hash(((1, 2), (3, (4, 5)))) == hash(((1, 2), (3, (4, 5)))),
         math.gcd(12, 18, 27), math.lcm(4, 6, 10), math.isqrt(10**20), math.isqrt(1 << 99999) > 0,
         ((1 << 99000) - 1) // ((1 << 49000) + 3) > 0, statistics.mean([1, 2, 3, 4]), statistics.median([3, 1, 2]),
         len(random.Random(1).choices([1, 2], k=5)), len(random.SystemRandom().randbytes(4)),
         len(re.findall(r'(?=(ab))', 'abab' * 10)), '%5d' % 3, 7.5 // 2, -7 // 2, 7 % -3)
        """
    )
    out = executor(code).output
    assert out[0] == 2**1000 % 7 and out[1] == pow(3, 10**6, 10**9 + 7) and out[2] == 5
    assert out[5] == 10**40 % 9 and out[6] == 123500 and out[7] == 0 and out[8] == 2.57
    assert out[9] and out[10] and out[11:13] == (3, 60) and out[13] == 10**10
    assert out[16:18] == (2.5, 2) and out[18:20] == (5, 4) and out[20] == 20
    assert out[21:] == ("    3", 3.0, -4, -2)


def test_iterator_pipelines_a_few_levels_deep_still_run() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=5)
    code = textwrap.dedent(
        """
        import itertools
        m = range(10)
        for _ in range(20):
            m = map(abs, m)
        pipeline = zip(map(str, filter(None, m)), enumerate(itertools.islice(itertools.count(), 9)))
        flat = list(itertools.chain.from_iterable([[1, 2], [3]]))
        (list(pipeline)[-1], flat, isinstance(map(abs, []), map), list(itertools.chain([1], (2,))))
        """
    )
    assert executor(code).output == (("9", (8, 8)), [1, 2, 3], True, [1, 2])


def test_limits_reset_after_refusals() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=2)
    with pytest.raises(SandboxResourceError):
        executor(HUGE + "h // g")
    assert executor("10**30 // 7").output == 10**30 // 7


_SUBPROCESS = """
import sys
from smolagents.errors import InterpreterError
from smolagents.local_python_executor import LocalPythonExecutor
executor = LocalPythonExecutor([], timeout_seconds=5)
try:
    executor(sys.stdin.read())
    print("RAN")
except InterpreterError as error:
    print("REFUSED", type(error).__name__, error)
print(executor("1 + 1").output)
"""

CRASHERS = {
    "deep_map_chain": "m = [1]\nfor _ in range(10**6):\n    m = map(abs, m)\nlist(m)",
    "deep_filter_zip_chain": "m = [1]\nfor _ in range(10**6):\n    m = zip(filter(None, m))\nlist(m)",
    "deep_enumerate_via_type": "m = enumerate([1])\nE = type(m)\nfor _ in range(10**6):\n    m = E(m)\nlist(m)",
    "deep_itertools_chain": (
        "import itertools\nm = [1]\nfor _ in range(10**6):\n    m = itertools.islice(itertools.chain(m), 5)\nlist(m)"
    ),
    "lazy_chain_from_iterable": (
        "import itertools\ndef g():\n    yield itertools.chain.from_iterable(g())\n"
        "list(itertools.chain.from_iterable(g()))"
    ),
    "deep_tuple_hash": "t = ()\nfor _ in range(10**6):\n    t = (t,)\nhash(t)",
    # nested lazily, one level per generator step: only the C stack pointer shows the depth
    "lazy_map_generator": "def g():\n    yield map(list, g())\nlist(map(list, g()))",
    "lazy_zip_generator": "def g():\n    yield zip(*g())\nlist(zip(*g()))",
    "lazy_sorted_generator": "def g():\n    yield sorted(g())\nsorted(g())",
}


@pytest.mark.parametrize("code", list(CRASHERS.values()), ids=list(CRASHERS))
def test_deep_nesting_cannot_crash_the_interpreter(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS], input=code, capture_output=True, text=True, timeout=50
    )
    assert result.returncode == 0, f"interpreter died (rc={result.returncode}): {result.stderr[-500:]}"
    assert "REFUSED" in result.stdout, result.stdout
    assert result.stdout.strip().endswith("2")  # the executor is still usable
    assert "nest" in result.stdout or "recursion" in result.stdout.lower() or "C stack" in result.stdout


def test_translate_keeps_its_meaning_for_every_table_kind() -> None:
    executor = LocalPythonExecutor([])
    code = (
        "class Upper:\n    def __getitem__(self, code):\n        if code == 97:\n            return 'AA'\n"
        "        raise LookupError(code)\n"
        "('abc'.translate({97: 'zz', 98: None}), 'abc'.translate(str.maketrans('a', 'b')), "
        "'abc'.translate(Upper()), 'ab'.translate(['x'] * 98), b'ab'.translate(bytes(range(256))))"
    )
    assert executor(code).output == ("zzc", "bbc", "AAbc", "xb", b"ab")


def test_straight_line_code_stops_at_the_deadline() -> None:
    # twenty slow single calls, no loop: each statement boundary is a preemption point
    executor = LocalPythonExecutor([], timeout_seconds=1)
    code = "x = list(range(3 * 10**6))\n" + "y = sorted(x, reverse=True)\n" * 40
    with pytest.raises(SandboxResourceError, match="time limit") as info:
        executor(code)
    assert info.value.limit == "timeout_seconds"
    assert executor("1 + 1").output == 2


def test_amplifying_dunders_cannot_skip_the_checked_operators(attack) -> None:
    for name in ("__floordiv__", "__rfloordiv__", "__divmod__", "__rdivmod__", "__ifloordiv__"):
        attack(f"h = 10**5000\nh.{name}(3)", match=name)


def test_resource_checks_outside_a_call_raise_ordinary_exceptions() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=2)
    big = executor("range(10**12)").output
    with pytest.raises(SandboxResourceError, match="max_sequence_length"):
        len(big)  # the host gets an Exception, never the sandbox's internal abort signal
    factorial = LocalPythonExecutor(["math"])("import math\nmath.factorial").output
    with pytest.raises(SandboxResourceError):
        factorial(10**9)


def test_host_compiled_patterns_of_sandbox_classes_are_time_limited() -> None:
    executor = LocalPythonExecutor(["string"], timeout_seconds=5)
    code = "import string\nclass T(string.Template):\n    idpattern = '(a+)+b'\nT('$' + 'a' * 40).safe_substitute({})"
    with pytest.raises(SandboxSecurityError, match="nested quantifiers"):
        executor(code)
    ordinary = (
        "import string\nclass P(string.Template):\n    delimiter = '%'\nP('%who likes').substitute(who='tim')"
    )
    assert executor(ordinary).output == "tim likes"


SELF_FEEDING = {
    "extend_iter": "L = list(range(5000))\nL.extend(iter(L))",
    "iadd_map": "L = list(range(5000))\nL += map(abs, L)",
    "iadd_named_iterator": "L = list(range(5000))\nit = iter(L)\nL += it",
    "attribute_iadd": (
        "class Box:\n    def __init__(self):\n        self.items = list(range(5000))\n"
        "b = Box()\nb.items += filter(None, b.items)"
    ),
    "item_iadd": "d = {'k': list(range(5000))}\nd['k'] += zip(d['k'])",
    "unbound_extend": "L = list(range(5000))\nlist.extend(L, enumerate(L))",
    "bytearray_extend": "b = bytearray(5000)\nb.extend(iter(b))",
    "list_subclass_iadd": "class L(list):\n    pass\nx = L(range(5000))\nx += iter(x)",
}


@pytest.mark.parametrize("code", list(SELF_FEEDING.values()), ids=list(SELF_FEEDING))
def test_a_list_cannot_extend_itself_forever(attack, code: str) -> None:
    # natively one C call that never returns while memory grows: here it extends in chunks,
    # with ticks and the sequence-length limit between them
    executor = LocalPythonExecutor([], limits=SandboxLimits(max_sequence_length=200_000), timeout_seconds=5)
    error = attack(code, executor=executor, expect=SandboxResourceError)
    assert error.limit == "max_sequence_length"


def test_extend_and_iadd_keep_their_meaning() -> None:
    code = (
        "L = [1]\nL.extend((2, 3))\nL.extend(x * 10 for x in range(2))\nL += 'ab'\nt = (9,)\nL += t\n"
        "it = iter([7, 8])\nL += it\nn = 1\nn += 2\ns = 'a'\ns += 'b'\n(L, n, s)"
    )
    assert LocalPythonExecutor([])(code).output == ([1, 2, 3, 0, 10, "a", "b", 9, 7, 8], 3, "ab")


_MEMORY_RUNNER = """
import resource
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))  # a regression fails here, not the machine
from smolagents.local_python_executor import LocalPythonExecutor, SandboxLimits
# the host frees ~600 MB in medium blocks and keeps a few, so the allocator keeps that memory
pool = ['x' * 100_000 for _ in range(6000)]
kept = pool[::50]
del pool
executor = LocalPythonExecutor([], limits=SandboxLimits(timeout_seconds=30, max_memory_bytes=100 * 2**20))
try:
    executor("d = {}\\ni = 0\\nwhile True:\\n    d[i] = [i] * 1000\\n    i += 1")
except Exception as error:
    print(getattr(error, "limit", type(error).__name__))
print(len(executor.state["d"]) * 8056 // 2**20)  # MiB the sandbox really allocated
doubling = LocalPythonExecutor([], limits=SandboxLimits(timeout_seconds=30, max_memory_bytes=100 * 2**20))
try:
    doubling("s = 'x' * 1000\\nwhile True:\\n    s = s + s")
except Exception as error:
    print(getattr(error, "limit", type(error).__name__))
"""


def test_memory_cap_counts_memory_the_process_had_freed() -> None:
    # memory the host freed stays resident and is handed out again without RSS growing:
    # the cap also counts what the C allocator hands out, so the sandbox gets ~100 MiB, not
    # the freed pool on top; concatenation doubling stops at the length limit
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_RUNNER], capture_output=True, text=True, timeout=110
    )
    assert result.returncode == 0, result.stderr[-1000:]
    limit, allocated_mib, doubling_limit = result.stdout.split()
    assert limit == "max_memory_bytes"
    assert int(allocated_mib) < 300, f"the sandbox allocated {allocated_mib} MiB under a 100 MiB cap"
    assert doubling_limit == "max_sequence_length"
