"""Security round 2: host-global stdlib state, secrets, ``match`` patterns, ``type()`` and
objects handed back to the host.

Every test runs with a fake secret in the host's environment and in ``__main__``'s
globals and checks that it never shows up in the output or the logs.
"""

from __future__ import annotations

import collections.abc
import copy
import csv
import decimal
import fractions
import json
import logging
import math
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from smolagents.errors import InterpreterError, SandboxResourceError, SandboxSecurityError
from smolagents.local_python_executor import LocalPythonExecutor

pytestmark = pytest.mark.timeout(30)

STDLIB = [
    "abc",
    "enum",
    "csv",
    "logging",
    "timeit",
    "dataclasses",
    "functools",
    "typing",
    "json",
    "copy",
    "string",
    "textwrap",
    "decimal",
    "fractions",
    "operator",
    "collections.abc",
]
SECRETS = ("hunter2", "hunter3")


@pytest.fixture(autouse=True)
def host_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SB_SECRET", "hunter2")
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "SB_MAIN_SECRET", "hunter3", raising=False)
    yield


@pytest.fixture
def stdlib_executor() -> LocalPythonExecutor:
    return LocalPythonExecutor(STDLIB, timeout_seconds=5)


def run_clean(executor: LocalPythonExecutor, code: str) -> Any:
    """Run code that must succeed; the secrets must not appear anywhere."""
    output = executor(code)
    for secret in SECRETS:
        assert secret not in repr(output.output) and secret not in output.logs
    return output


def refused(
    executor: LocalPythonExecutor,
    code: str,
    match: str | None = None,
    kind: type[BaseException] | tuple[type[BaseException], ...] = InterpreterError,
) -> InterpreterError:
    with pytest.raises(kind, match=match) as info:
        executor(code)
    for secret in SECRETS:
        assert secret not in str(info.value) and secret not in getattr(info.value, "logs", "")
    assert executor("1 + 1").output == 2
    return info.value


# --------------------------------------------------------------------------- 1. host registries


def _host_snapshot() -> dict[str, Any]:
    main = sys.modules["__main__"]
    root = logging.getLogger()
    return {
        "seq_int": isinstance(1, collections.abc.Sequence),
        "hashable_registry": collections.abc.Sequence._abc_registry_dump()
        if hasattr(collections.abc.Sequence, "_abc_registry_dump")
        else None,
        "main_names": sorted(vars(main)),
        "dialects": sorted(csv.list_dialects()),
        "field_limit": csv.field_size_limit(),
        "decimal": (decimal.getcontext().prec, decimal.getcontext().rounding, decimal.DefaultContext.prec),
        "log_disable": logging.root.manager.disable,
        "root_level": root.level,
        "root_handlers": list(root.handlers),
        "smolagents_handlers": list(logging.getLogger("smolagents").handlers),
        "loggers": sorted(logging.root.manager.loggerDict),
        "logger_class": logging.getLoggerClass(),
        "record_factory": logging.getLogRecordFactory(),
        "level_names": logging.getLevelNamesMapping(),
        "json_dumps_name": json.dumps.__name__,
        "json_dumps_attrs": sorted(vars(json.dumps)),
        "encoder_init": json.JSONEncoder.__init__,
        "decoder_dict": sorted(vars(json.JSONDecoder)),
        "fraction_dict": sorted(vars(fractions.Fraction)),
    }


HOST_STATE_PAYLOADS = {
    "abc_register_host_abc": "import collections.abc\ncollections.abc.Sequence.register(int)",
    "abc_register_decorator": "import collections.abc\n@collections.abc.Sequence.register\nclass X: pass",
    "abcmeta_register_unbound": "import abc\nabc.ABCMeta.register(abc.ABC, int)",
    "abc_register_via_getattr": "import collections.abc\ngetattr(collections.abc.Hashable, 'register')(list)",
    "abc_update_abstractmethods": "import abc\nabc.update_abstractmethods(abc.ABC)",
    "enum_global_enum_host_class": "import enum\nenum.global_enum(enum.Enum)",
    "csv_unregister_host": "import csv\ncsv.unregister_dialect('excel')",
    "logging_capture_warnings": "import logging\nlogging.captureWarnings(True)",
    "logging_basicconfig_file": "import logging\nlogging.basicConfig(filename='SENTINEL')",
    "logging_dictconfig": "import logging.config\nlogging.config.dictConfig({'version': 1})",
    "functools_update_host_function": "import functools, json\ndef g(): pass\nfunctools.update_wrapper(json.dumps, g)",
    "functools_wraps_host_function": "import functools, json\nfunctools.wraps(len)(json.dumps)",
    "functools_wrapper_code_swap": "import functools\ndef a(): pass\ndef b(): pass\n"
    "functools.update_wrapper(a, b, assigned=('__code__',))",
    "time_clock_settime": "import time\ntime.clock_settime",
    "time_clock_settime_ns": "import time\nf = time.clock_settime_ns",
    "timeit_main": "import timeit\ntimeit.main(['pass'])",
    "dataclass_on_host_class": "import dataclasses, json\ndataclasses.dataclass(json.JSONEncoder)",
    "dataclass_factory_on_host_class": "import dataclasses, json\ndataclasses.dataclass(frozen=True)(json.JSONDecoder)",
    "total_ordering_on_host_class": "import functools, fractions\nfunctools.total_ordering(fractions.Fraction)",
    "typing_final_on_host_function": "import typing, json\ntyping.final(json.dumps)",
    "typing_runtime_checkable_host": "import typing\ntyping.runtime_checkable(typing.Protocol)",
    "typing_no_type_check_host_class": "import typing, json\ntyping.no_type_check(json.JSONEncoder)",
    "typing_clear_overloads": "import typing\ntyping.clear_overloads()",
    "abstractmethod_on_host_function": "import abc, json\nabc.abstractmethod(json.dumps)",
    "setattr_on_module_singleton": "import dataclasses\ndataclasses.MISSING.flag = 1",
    "setattr_on_host_enum_member": "import enum\nsetattr(enum.EnumCheck.UNIQUE, 'flag', 1)",
}


@pytest.mark.parametrize("code", HOST_STATE_PAYLOADS.values(), ids=HOST_STATE_PAYLOADS.keys())
def test_host_registries_refused(code: str, attack: Any) -> None:
    before = _host_snapshot()
    attack(code, executor=LocalPythonExecutor([*STDLIB, "logging.config"], timeout_seconds=5))
    assert _host_snapshot() == before


MUTATING_BUT_PRIVATE = {
    "enum_global_enum": "import enum\n@enum.global_enum\nclass Color(enum.Enum):\n    RED_X = 1\nRED_X",
    "csv_register_dialect": "import csv\ncsv.register_dialect('semi', delimiter=';')\n"
    "(list(csv.reader(['a;b'], 'semi')), 'semi' in csv.list_dialects(), csv.get_dialect('semi').delimiter)",
    "csv_field_size_limit": "import csv\ncsv.field_size_limit(10)\ncsv.field_size_limit()",
    "decimal_getcontext": "import decimal\ndecimal.getcontext().prec = 3\nstr(decimal.Decimal(1) / 7)",
    "decimal_setcontext": "import decimal\ndecimal.setcontext(decimal.Context(prec=2))\nstr(decimal.Decimal(1) / 7)",
    "decimal_default_context": "import decimal\ndecimal.DefaultContext.prec = 2",
    "logging_disable": "import logging\nlogging.disable(50)",
    "logging_root_level": "import logging\nlogging.getLogger().setLevel(50)\nlogging.root.setLevel(50)",
    "logging_add_handler": "import logging\nlogging.getLogger('smolagents').addHandler(logging.NullHandler())",
    "logging_level_name": "import logging\nlogging.addLevelName(5, 'TRACE')\nlogging.getLevelName(5)",
    "logging_logger_class": "import logging\nclass L(logging.Logger): pass\nlogging.setLoggerClass(L)",
    "logging_record_factory": "import logging\nlogging.setLogRecordFactory(lambda *a: None)",
    "logging_logger_root_attribute": "import logging\nlogging.Logger('x').root.setLevel(50)\n"
    "logging.Logger.manager.disable = 40",
}


@pytest.mark.parametrize("code", MUTATING_BUT_PRIVATE.values(), ids=MUTATING_BUT_PRIVATE.keys())
def test_registries_are_private_copies(code: str, stdlib_executor: LocalPythonExecutor) -> None:
    before = _host_snapshot()
    run_clean(stdlib_executor, code)
    assert _host_snapshot() == before
    assert stdlib_executor("1 + 1").output == 2


def test_host_loggers_unreachable(stdlib_executor: LocalPythonExecutor) -> None:
    before = _host_snapshot()
    out = run_clean(
        stdlib_executor,
        "import logging, copy\nc = copy.copy(logging.getLogger('smolagents'))\nc.setLevel(50)\n"
        "(sorted(logging.Logger.manager.loggerDict), c is logging.getLogger('smolagents'), logging.root.handlers)",
    )
    assert out.output == (["smolagents"], True, [])
    stdlib_executor.send_variables({"host_logger": logging.getLogger("smolagents")})
    refused(stdlib_executor, "host_logger.setLevel(50)", match="Host logging objects")
    refused(
        stdlib_executor, "match host_logger:\n    case object(handlers=h):\n        h", match="Host logging"
    )
    assert _host_snapshot() == before


def test_private_state_persists_across_calls(stdlib_executor: LocalPythonExecutor) -> None:
    before = _host_snapshot()
    run_clean(stdlib_executor, "import decimal, csv\ndecimal.getcontext().prec = 4\ncsv.field_size_limit(77)")
    assert _host_snapshot() == before
    out = run_clean(stdlib_executor, "(str(decimal.Decimal(1) / 3), csv.field_size_limit())")
    assert out.output == ("0.3333", 77)
    assert _host_snapshot() == before


def test_own_abc_register_and_enum_still_work(stdlib_executor: LocalPythonExecutor) -> None:
    out = run_clean(
        stdlib_executor,
        "import abc, enum\nclass B(abc.ABC): pass\nB.register(int)\n"
        "class Color(enum.Enum):\n    RED = 1\n(isinstance(1, B), Color.RED.name, Color(1) is Color.RED)",
    )
    assert out.output == (True, "RED", True)


def test_sandbox_logging_goes_to_logs(stdlib_executor: LocalPythonExecutor) -> None:
    out = run_clean(
        stdlib_executor,
        "import logging\nlogging.basicConfig(level=logging.INFO, format='{levelname}|{name}|{message}', style='{')\n"
        "log = logging.getLogger('job')\nlog.info('rows=%d', 3)\nlogging.warning('careful')\n"
        "h = logging.StreamHandler()\nh.setFormatter(logging.Formatter('%(levelname)s-%(message)s'))\n"
        "other = logging.getLogger('other'); other.propagate = False; other.addHandler(h)\nother.error('x')",
    )
    assert out.logs == "INFO|job|rows=3\nWARNING|root|careful\nERROR-x\n"


# --------------------------------------------------------------------------- 2. secrets


SECRET_PAYLOADS = {
    "logging_str_style_walk": "import logging\nf = logging.Formatter('{msg.__init__.__globals__}', style='{')\n"
    "print(f.format(logging.LogRecord('n', 10, 'p', 1, 'm', None, None)))",
    "logging_str_format_style": "import logging\nr0 = logging.LogRecord('n', 10, 'p', 1, 'm', None, None)\n"
    "s = logging.StrFormatStyle('{args[0].__init__.__globals__[os].environ[SB_SECRET]}')\n"
    "print(s.format(logging.LogRecord('n', 10, 'p', 1, 'm', (r0,), None)))",
    "logging_basicconfig_style": "import logging\nlogging.basicConfig(format='{levelname.__class__}', style='{')\n"
    "logging.warning('x')",
    "logging_extra_walk": "import logging\nlogging.basicConfig(format='{obj.__class__.__init__}', style='{')\n"
    "logging.warning('x', extra={'obj': 1})",
    "logging_args_amplify": "import logging\nlogging.warning('%999999999d', 1)",
    "logging_record_amplify": "import logging\nr = logging.LogRecord('n', 10, 'p', 1, '%(x)999999999s', ({'x': 1},), None)\n"
    "r.getMessage()",
    "timeit_code_string": "import timeit\ntimeit.timeit('import os; print(os.environ)', number=1)",
    "timeit_timer_string": "import timeit\ntimeit.Timer('print(1)').timeit(1)",
    "timeit_setup_string": "import timeit\ntimeit.repeat(lambda: 1, setup='import os', number=1)",
    "singledispatch_annotation_eval": "import functools\n"
    "@functools.singledispatch\ndef f(x): return 1\n@f.register\n"
    "def _(x: '[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == \\'int\\'][0]'): return 2\n"
    "f(1)",
    "singledispatchmethod_annotation_eval": "import functools\nclass A:\n    @functools.singledispatchmethod\n"
    "    def m(self, x): return 1\n    @m.register\n    def _(self, x: '[c for c in ().__class__.__base__]'): return 2",
    "format_map_walk": "class A: pass\n'{a.__init__.__globals__}'.format_map({'a': A()})",
    "attrgetter_walk": "import operator\ndef f(): pass\noperator.attrgetter('__globals__')(f)",
}


@pytest.mark.parametrize("code", SECRET_PAYLOADS.values(), ids=SECRET_PAYLOADS.keys())
def test_secrets_unreachable(code: str, stdlib_executor: LocalPythonExecutor) -> None:
    before = _host_snapshot()
    refused(stdlib_executor, code, kind=(SandboxSecurityError, SandboxResourceError))
    assert _host_snapshot() == before


def test_safe_formatting_still_works(stdlib_executor: LocalPythonExecutor) -> None:
    out = run_clean(
        stdlib_executor,
        "import logging, string, timeit\n"
        "r = logging.LogRecord('n', 20, 'p', 1, 'v=%s', (5,), None)\n"
        "a = logging.Formatter('{levelname}:{message}', style='{').format(r)\n"
        "b = logging.Formatter('${levelname}:${message}', style='$').format(r)\n"
        "c = string.Template('$x-$y').substitute(x=1, y=2)\n"
        "d = timeit.timeit(lambda: sum([1, 2]), number=5) >= 0\n"
        "(a, b, c, d)",
    )
    assert out.output == ("INFO:v=5", "INFO:v=5", "1-2", True)


def test_singledispatch_by_annotation_still_works(stdlib_executor: LocalPythonExecutor) -> None:
    out = run_clean(
        stdlib_executor,
        "import functools\n@functools.singledispatch\ndef f(x): return 'other'\n"
        "@f.register\ndef _(x: int): return 'int'\n@f.register\ndef _(x: 'str'): return 'str'\n"
        "@f.register(float)\ndef _(x): return 'float'\n(f(1), f('a'), f(1.5), f(None))",
    )
    assert out.output == ("int", "str", "float", "other")


# --------------------------------------------------------------------------- 3. match


MATCH_PAYLOADS = {
    "keyword_special_method": "match '{0.__class__.__base__.__subclasses__}':\n    case str(format=f):\n        f(1)",
    "keyword_join": "match ',':\n    case str(join=j):\n        j",
    "keyword_dunder": "match 1:\n    case object(__class__=c):\n        c",
    "keyword_blocked": "def g():\n    yield 1\nmatch g():\n    case object(gi_frame=f):\n        f",
    "match_args_dunder_virtual_subclass": "import abc, dataclasses\nclass A(abc.ABC): pass\n"
    "D = dataclasses.make_dataclass('D', ['__globals__'], bases=(A,))\ndef f(): pass\nA.register(type(f))\n"
    "match f:\n    case D(g):\n        g",
    "match_args_dunder_callable_abc": "import abc, dataclasses, collections.abc\nclass A(abc.ABC): pass\n"
    "D = dataclasses.make_dataclass('D', ['__globals__'], bases=(A,))\nA.register(collections.abc.Callable)\n"
    "match len:\n    case D(g):\n        g",
    "match_args_special_name": "import dataclasses\n"
    "D = dataclasses.make_dataclass('D', ['format'], bases=(str,))\nmatch D('{0.__class__}'):\n"
    "    case D(f):\n        f",
}


@pytest.mark.parametrize("code", MATCH_PAYLOADS.values(), ids=MATCH_PAYLOADS.keys())
def test_match_class_patterns_guarded(code: str, attack: Any) -> None:
    attack(code, executor=LocalPythonExecutor(STDLIB, timeout_seconds=5))


def test_match_reads_host_module_attribute_refused() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=5)
    executor.send_variables({"holder": types.SimpleNamespace(mod=math, value=3)})
    refused(executor, "match holder:\n    case object(mod=m):\n        m", match="class pattern")
    assert executor("match holder:\n    case object(value=v):\n        r = v\nr").output == 3


def test_ordinary_match_still_works(stdlib_executor: LocalPythonExecutor) -> None:
    out = run_clean(
        stdlib_executor,
        "import dataclasses, enum\n"
        "@dataclasses.dataclass\nclass Point:\n    x: int\n    y: int\n"
        "class Color(enum.Enum):\n    RED = 1\n"
        "def kind(v):\n    match v:\n"
        "        case Point(x=0, y=y): return f'yaxis {y}'\n"
        "        case Point(a, b): return f'pt {a},{b}'\n"
        "        case Color.RED: return 'red'\n"
        "        case int() | float() as n: return f'num {n}'\n"
        "        case str(s): return f'str {s}'\n"
        "        case [a, b]: return f'pair {a} {b}'\n"
        "        case {'k': w}: return f'map {w}'\n"
        "        case _: return 'other'\n"
        "[kind(Point(0, 5)), kind(Point(1, 2)), kind(Color.RED), kind(3), kind('s'), kind([1, 2]), "
        "kind({'k': 9}), kind(None)]",
    )
    assert out.output == ["yaxis 5", "pt 1,2", "red", "num 3", "str s", "pair 1 2", "map 9", "other"]


# --------------------------------------------------------------------------- 4. type()


TYPE_PAYLOADS = {
    "function_type_constructor": "def f(): pass\ntype(f)(None, {})",
    "method_type_binds_anything": "class A:\n    def m(self): pass\ntype(A().m)(print, 1)",
    "module_proxy_type": "import math\ntype(math)(1, 2, 3, 4)",
    "generator_type": "def g():\n    yield 1\ntype(g())()",
    "namespace_type": "type(holder)(a=1)",
    "builtin_function_type": "type(len)(1)",
    "host_logger_type": "import logging\ntype(logging.getLogger()).manager",
}


@pytest.mark.parametrize("code", TYPE_PAYLOADS.values(), ids=TYPE_PAYLOADS.keys())
def test_type_of_host_objects_is_opaque(code: str, attack: Any) -> None:
    executor = LocalPythonExecutor(STDLIB, timeout_seconds=5)
    executor.send_variables({"holder": types.SimpleNamespace(a=1)})
    if "logging" in code:  # the private root logger's class is fine, its manager is private
        assert executor(code).output is not logging.root.manager
        return
    attack(code, executor=executor, match="not allowed")


def test_type_still_useful(stdlib_executor: LocalPythonExecutor) -> None:
    out = run_clean(
        stdlib_executor,
        "import collections, decimal\ndef f(): pass\nclass A: pass\n"
        "[type(f).__name__, isinstance(f, type(f)), type(f) is type(lambda: 0), type(1) is int, type(A()) is A,"
        " type([]) == list, type(collections.Counter()).__name__, type(decimal.Decimal(1))(2) == 2,"
        " type(None).__name__, type(A) is type]",
    )
    assert out.output == ["function", True, True, True, True, True, "Counter", True, "NoneType", True]


# --------------------------------------------------------------------------- 5. host handoff


HANDOFF_CODE = """
import math
def f(): return 1
def g():
    yield 1
class C:
    def __len__(self): return 3
    def __repr__(self): return 'C!'
    def __getattr__(self, name): return 1
    def __eq__(self, other): return True
    __hash__ = None
[math, f, g(), C(), final_answer]
"""


def test_returned_objects_raise_ordinary_exceptions() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=5)
    module, function, generator, instance, answer = executor(HANDOFF_CODE).output
    assert not hasattr(module, "_repr_html_")
    assert getattr(module, "__rich__", None) is None
    assert getattr(module, "_repr_markdown_", "absent") == "absent"
    assert "sandboxed" in repr(module)
    assert module.sqrt(4) == 2.0
    assert not hasattr(instance, "_repr_html_")  # sandbox __getattr__ refuses to run: reads as absent
    for probe in (
        function,
        lambda: list(generator),
        lambda: len(instance),
        lambda: repr(instance),
        lambda: instance == 1,
        lambda: answer(1),
    ):
        with pytest.raises(SandboxSecurityError, match="outside an executor call"):
            probe()
    try:  # copying runs no sandbox code (probes read as absent); anything raised is an Exception
        copy.deepcopy(instance)
    except Exception:
        pass
    assert executor("1 + 1").output == 2


DUNDER_BINDINGS = {
    "len_print": "class C:\n    __len__ = print",
    "hash_builtin": "class C:\n    __hash__ = id",
    "repr_final_answer": "class C:\n    __repr__ = final_answer",
    "iter_itertools_count": "import itertools\nclass C:\n    __iter__ = itertools.count",
    "len_time_sleep": "import time\nclass C:\n    __len__ = time.sleep",
    "add_checked_operator": "import operator\nclass C(int):\n    __add__ = operator.lshift",
    "eq_via_staticmethod": "class C:\n    __eq__ = staticmethod(print)",
    "getitem_property": "class C:\n    __getitem__ = property(print)",
    "call_partial": "import functools\nclass C:\n    __call__ = functools.partial(print, 1)",
    "bool_bound_method": "import queue\nq = queue.Queue()\nclass C:\n    __bool__ = q.get",
    "iter_class": "import itertools\nclass C:\n    __iter__ = itertools.chain",
}


@pytest.mark.parametrize("code", DUNDER_BINDINGS.values(), ids=DUNDER_BINDINGS.keys())
def test_host_callables_cannot_be_bound_to_dunders(code: str, attack: Any) -> None:
    attack(
        code,
        executor=LocalPythonExecutor(["operator", "functools"], timeout_seconds=5),
        match="not defined in the sandbox",
    )


def test_ordinary_classes_still_work(stdlib_executor: LocalPythonExecutor) -> None:
    out = run_clean(
        stdlib_executor,
        "import functools, enum, dataclasses\n"
        "@functools.total_ordering\nclass V:\n    def __init__(self, v): self.v = v\n"
        "    def __eq__(self, o): return self.v == o.v\n    def __lt__(self, o): return self.v < o.v\n"
        "    __hash__ = None\n    __str__ = __repr__ = lambda self: f'V{self.v}'\n"
        "class E(enum.IntEnum):\n    A = 1\n"
        "import typing\nclass Pt(typing.NamedTuple):\n    x: int\n"
        "class HasLen(typing.Protocol):\n    def __len__(self) -> int: ...\n"
        "class S(str):\n    __str__ = str.__str__\n    __hash__ = object.__hash__\n"
        "@dataclasses.dataclass(frozen=True)\nclass P:\n    x: int\n"
        "[V(1) <= V(2), str(V(3)), E.A + 1, hash(P(1)) == hash(P(1)), repr(Pt(1)), str(S('s'))]",
    )
    assert out.output == [True, "V3", 2, True, "Pt(x=1)", "s"]
    assert repr(out.output) and str(out.output)  # the host can print what came back


def test_additional_function_cannot_be_bound_to_dunder(attack: Any) -> None:
    executor = LocalPythonExecutor([], additional_functions={"helper": lambda *a: 0}, timeout_seconds=5)
    attack("class C:\n    __len__ = helper", executor=executor, match="not defined in the sandbox")


def test_refusal_in_another_thread_does_not_abort_the_running_call() -> None:
    import threading

    def probe(function: Any) -> str:
        seen: list[str] = []

        def touch() -> None:
            try:
                function()
                seen.append("ran")
            except Exception as error:  # an ordinary Exception, never a BaseException
                seen.append(type(error).__name__)

        worker = threading.Thread(target=touch)
        worker.start()
        worker.join(5)
        return seen[0] if seen else "hung"

    executor = LocalPythonExecutor([], additional_functions={"probe": probe}, timeout_seconds=5)
    out = executor("import math\n(probe(lambda: math._private), 1 + 1)")
    assert out.output == ("OutsideCallError", 2)
