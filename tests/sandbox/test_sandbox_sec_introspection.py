"""Security: class-graph walks, function globals and code objects, frames.

Each payload, if it worked, would reach ``os.system`` (or a frame's globals) and create
the sentinel file; the ``attack`` fixture asserts it failed with an ``InterpreterError``,
that the sentinel does not exist and that the executor is still usable.
"""

from __future__ import annotations

import pytest

from smolagents.errors import SandboxSecurityError
from smolagents.local_python_executor import LocalPythonExecutor

pytestmark = pytest.mark.timeout(30)

_SYSTEM = "__init__.__globals__['system']('touch SENTINEL')"

CLASS_GRAPH = {
    "subclasses_via_tuple": "().__class__.__bases__[0].__subclasses__()",
    "subclasses_via_str_mro": "''.__class__.__mro__[1].__subclasses__()",
    "object_subclasses": "object.__subclasses__()",
    "type_subclasses": "type.__subclasses__(object)",
    "str_mro_method": "str.mro()[-1]",
    "int_mro_via_type": "type(1).mro()",
    "class_of_class": "(1).__class__.__class__",
    "base_attr": "[].__class__.__base__",
    "type_dict": "int.__dict__",
    "getattr_subclasses": "getattr(object, '__subclasses__')()",
    "getattr_concat": "getattr(object, '__sub' + 'classes__')()",
    "wrap_close_chain": (
        "for c in ().__class__.__base__.__subclasses__():\n"
        f"    if c.__name__ == '_wrap_close':\n        c.{_SYSTEM}"
    ),
    "exception_subclasses": "Exception.__subclasses__()",
    "bool_bases": "bool.__bases__",
    "reduce_ex": "object.__reduce_ex__(1, 2)",
    "type_three_args": "type('X', (object,), {'run': lambda self: 1})",
    "type_of_type_three_args": "type(type(1))('X', (), {})",
    "metaclass_of_enum": "from enum import Enum\nclass C(Enum):\n    A = 1\ntype(C)('X', (), {})",
    "super_walk": "super(int, 1).__thisclass__",
    "class_attr_in_body": "class A:\n    __class__ = int",
}

FUNCTIONS_AND_CODE = {
    "function_globals": "def f():\n    pass\nf.__globals__['__builtins__']",
    "function_code": "def f():\n    pass\nf.__code__.co_consts",
    "lambda_code": "(lambda: 0).__code__",
    "closure_cells": "def outer():\n    x = 1\n    def inner():\n        return x\n    return inner\nouter().__closure__[0].cell_contents",
    "defaults_dunder": "def f(a=1):\n    pass\nf.__defaults__",
    "func_dict": "def f():\n    pass\nf.__dict__",
    "print_globals": "print.__globals__",
    "builtin_self_module": "len.__self__",
    "builtin_module_attr_walk": "getattr(len, '__self__')",
    "method_func": "class A:\n    def m(self):\n        pass\nA().m.__func__.__globals__",
    "wrapped_attr": "import functools\n@functools.lru_cache\ndef f():\n    pass\nf.__wrapped__",
    "code_replace": "def f():\n    pass\ndef g():\n    pass\nf.__code__ = g.__code__",
    "legacy_func_globals": "def f():\n    pass\nf.func_globals",
    "co_consts_attribute": "def f():\n    pass\nx = f\nx.co_consts",
    "decorator_steals_code": "def steal(fn):\n    return fn.__code__\n@steal\ndef f():\n    pass",
}

FRAMES = {
    "generator_frame": "def g():\n    yield 1\ng().gi_frame",
    "generator_frame_globals": "def g():\n    yield 1\nx = g()\nnext(x)\nx.gi_frame.f_back.f_globals",
    "generator_code": "def g():\n    yield 1\ng().gi_code",
    "generator_yieldfrom": "def g():\n    yield from [1]\nx = g()\nnext(x)\nx.gi_yieldfrom",
    "getattr_gi_frame": "def g():\n    yield 1\ngetattr(g(), 'gi_' + 'frame')",
    "traceback_frame": "try:\n    1 / 0\nexcept Exception as e:\n    e.__traceback__.tb_frame.f_globals",
    "traceback_getattr": "try:\n    1 / 0\nexcept Exception as e:\n    getattr(e, '__traceback__')",
    "exception_context": "try:\n    try:\n        1 / 0\n    except Exception:\n        raise ValueError()\nexcept ValueError as e:\n    e.__context__",
    "frame_attribute_names": "class Fake:\n    f_back = 1\nFake().f_back",
    "tb_next_name": "class Fake:\n    tb_next = 1\ngetattr(Fake(), 'tb_next')",
    "sys_getframe": "import sys\nsys._getframe()",
    "inspect_currentframe": "import inspect\ninspect.currentframe()",
    "coroutine_frame": "async def c():\n    pass\nc().cr_frame",
    "async_generator_frame": "async def a():\n    yield 1\na().ag_frame",
}


@pytest.mark.parametrize("code", list(CLASS_GRAPH.values()), ids=list(CLASS_GRAPH))
def test_class_graph_walks_are_refused(attack, code: str) -> None:
    attack(code)


@pytest.mark.parametrize("code", list(FUNCTIONS_AND_CODE.values()), ids=list(FUNCTIONS_AND_CODE))
def test_function_globals_and_code_objects_are_unreachable(attack, code: str) -> None:
    attack(code, executor=LocalPythonExecutor(["functools"], timeout_seconds=2))


@pytest.mark.parametrize("code", list(FRAMES.values()), ids=list(FRAMES))
def test_frames_are_unreachable(attack, code: str) -> None:
    attack(code)


def test_with_exit_never_receives_a_traceback(attack) -> None:
    code = (
        "seen = []\nclass CM:\n    def __enter__(self):\n        return self\n"
        "    def __exit__(self, t, v, tb):\n        seen.append(tb)\n        return True\n"
        "with CM():\n    1 / 0\nseen"
    )
    assert attack(code, expect=None) is None


def test_dir_lists_no_private_names(executor) -> None:
    names = executor("dir(object) + dir(1) + dir([])").output
    assert names and not any(name.startswith("_") for name in names)


def test_security_errors_are_uncatchable(executor) -> None:
    with pytest.raises(SandboxSecurityError):
        executor("try:\n    getattr((), '__class__')\nexcept BaseException:\n    print('caught')")
    assert "caught" not in executor("print('ok')").logs
