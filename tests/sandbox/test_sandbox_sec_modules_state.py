"""Security: module-attribute leaks, dangerous modules, builtins shadowing and state poisoning."""

from __future__ import annotations

import collections
import math
import random

import pytest

from smolagents.errors import InterpreterError
from smolagents.local_python_executor import LocalPythonExecutor

pytestmark = pytest.mark.timeout(30)

MODULE_LEAKS = {
    "random_private_os": "import random\nrandom._os.system('touch SENTINEL')",
    "random_private_instance": "import random\nrandom._inst",
    "re_reexported_module": "import re\nre.enum",
    "re_private_compiler": "import re\nre._compiler",
    "collections_abc_unauthorised": "import collections\ncollections.abc",
    "collections_private_sys": "import collections\ncollections._sys.modules['os'].system('touch SENTINEL')",
    "statistics_imports_math": "import statistics\nstatistics.math",
    "statistics_imports_random": "import statistics\nstatistics.random",
    "queue_imports_threading": "import queue\nqueue.threading",
    "from_import_private": "from random import _os",
    "from_import_module": "from re import enum",
    "module_dict": "import math\nmath.__dict__",
    "module_loader": "import math\nmath.__loader__",
    "module_spec": "import math\nmath.__spec__",
    "proxy_private_slot": "import math\nmath._sb_module",
    "proxy_constructor": "import math\ntype(math)(1, 2, 3, 4)",
    "queue_lock_attribute": "import queue\nqueue.Queue().mutex",
    "queue_condition_attribute": "import queue\nqueue.Queue().not_empty.wait()",
    "datetime_class_module_walk": "import datetime\ndatetime.datetime.__module__.__class__",
    "typing_eval_gadget": "import typing\ntyping.get_type_hints",
    "numpy_wildcard_f2py": "import numpy.f2py",
    "numpy_wildcard_ctypeslib": "import numpy\nnumpy.ctypeslib",
    "numpy_ctypes_attribute": "import numpy\nnumpy.zeros(3).ctypes",
}

DANGEROUS_IMPORTS = {
    name: f"import {name}"
    for name in (
        "os",
        "sys",
        "subprocess",
        "builtins",
        "importlib",
        "io",
        "socket",
        "shutil",
        "ctypes",
        "pickle",
    )
} | {
    "from_os": "from os import system\nsystem('touch SENTINEL')",
    "os_path": "import os.path",
    "relative": "from . import x",
    "private_module": "import _thread",
    "dunder_import": "__import__('os')",
    "import_inside_function": "def f():\n    import os\n    return os\nf()",
    "shutil_star": "from shutil import *",
}

REBINDING = {
    "assign": "final_answer = lambda x: x",
    "tool_assign": "web_search = None",
    "delete": "del final_answer",
    "global_in_function": "def f():\n    global web_search\n    web_search = 1\nf()",
    "for_target": "for final_answer in [1]:\n    pass",
    "import_as": "import math as final_answer",
    "from_import_as": "from math import pi as web_search",
    "def": "def final_answer(x):\n    return x",
    "class": "class web_search:\n    pass",
    "walrus": "[(final_answer := 1) for _ in range(1)]",
    "except_as": "try:\n    1 / 0\nexcept Exception as final_answer:\n    pass",
    "with_as": "class CM:\n    def __enter__(self):\n        return 1\n    def __exit__(self, *a):\n        pass\nwith CM() as web_search:\n    pass",
    "match_capture": "match 1:\n    case web_search:\n        pass",
    "augmented": "web_search += 1",
}

POISONING = {
    "module_constant": "import math\nmath.pi = 3",
    "module_function": "import re\nre.compile = None",
    "setattr_module": "import math\nsetattr(math, 'pi', 1)",
    "delete_module_attribute": "import math\ndel math.sqrt",
    "host_class_method": "import collections\ncollections.Counter.most_common = lambda self, n=None: []",
    "host_class_setattr": "import collections\nsetattr(collections.OrderedDict, 'x', 1)",
    "builtin_type_method": "str.upper = lambda self: 'x'",
    "builtin_function_attribute": "len.x = 1",
    "sandbox_helper_attribute": "print.x = 1",
    "builtins_dict": "print.__globals__['__builtins__']['len'] = None",
    "tool_attribute": "web_search.name = 'evil'",
    "tool_private_call": "web_search._sb_call",
}


def _executor(imports=()):
    executor = LocalPythonExecutor(list(imports), timeout_seconds=2)
    executor.send_tools({"web_search": lambda query: f"results for {query}"})
    return executor


@pytest.mark.parametrize("code", list(MODULE_LEAKS.values()), ids=list(MODULE_LEAKS))
def test_modules_never_leak_what_they_import(attack, code: str) -> None:
    import numpy  # noqa: F401  (in the test extra: fail if missing, never skip)

    attack(code, executor=_executor(["numpy.*", "typing"]))


@pytest.mark.parametrize("code", list(DANGEROUS_IMPORTS.values()), ids=list(DANGEROUS_IMPORTS))
def test_dangerous_modules_are_not_authorised(attack, code: str) -> None:
    attack(code)


@pytest.mark.parametrize("code", list(REBINDING.values()), ids=list(REBINDING))
def test_tools_and_final_answer_cannot_be_rebound(attack, code: str) -> None:
    executor = _executor()
    attack(code, executor=executor, match="tool|final_answer|web_search")
    assert executor("final_answer('still works')").is_final_answer
    assert executor("web_search('q')").output == "results for q"


@pytest.mark.parametrize("code", list(POISONING.values()), ids=list(POISONING))
def test_host_state_cannot_be_poisoned(attack, code: str) -> None:
    before = (math.pi, collections.Counter.most_common, str.upper, len)
    attack(code, executor=_executor())
    assert (math.pi, collections.Counter.most_common, str.upper, len) == before


def test_random_seed_does_not_touch_the_host_generator(attack) -> None:
    state = random.getstate()
    attack("import random\nrandom.seed(0)\n[random.random() for _ in range(5)]", expect=None)
    assert random.getstate() == state


def test_module_level_mutable_containers_are_copies() -> None:
    import numpy as np

    before = dict(np.typecodes)
    LocalPythonExecutor(["numpy"])("import numpy\nnumpy.typecodes['All'] = 'poisoned'")
    assert np.typecodes == before


SHADOWING = {
    "assign": "len = lambda x: 0",
    "augmented": "print += 1",
    "annotated": "isinstance: object = None",
    "for_target": "for str in ['a']: pass",
    "with_target": "class M:\n    def __enter__(self): return 1\n    def __exit__(self, *a): return False\nwith M() as int: pass",
    "import_as": "import math as sum",
    "from_import_as": "from math import floor as round",
    "def": "def sorted(x):\n    return []",
    "class": "class dict:\n    pass",
    "walrus": "[(max := 0) for _ in range(1)]",
    "global_in_function": "def f():\n    global min\n    min = 0\nf()",
    "except_name": "try:\n    1/0\nexcept Exception as ValueError:\n    pass",
    "match_capture": "match 1:\n    case abs:\n        pass",
    "tuple_target": "a, hash = 1, 2",
}


@pytest.mark.parametrize("code", list(SHADOWING.values()), ids=list(SHADOWING))
def test_rebinding_a_builtin_at_module_level_is_refused(code: str) -> None:
    executor = _executor()
    with pytest.raises(
        InterpreterError, match=r"Cannot assign to name .* builtin .* Pick another variable name"
    ):
        executor(code)
    # a later step's ordinary code is not hijacked
    assert executor(
        "(len([1, 2]), str(1), sorted([2, 1]), max(1, 2), hash(1), sum([1]), round(1.4))"
    ).output == (
        2,
        "1",
        [1, 2],
        2,
        1,
        1,
        1,
    )


def test_builtin_names_stay_usable_as_locals_and_attributes() -> None:
    executor = _executor()
    code = (
        "def f(list):\n    len = 3\n    return list, len\n"
        "class C:\n    id = 7\n"
        "(f([1]), C.id, [len for len in range(2)])"
    )
    assert executor(code).output == (([1], 3), 7, [0, 1])


def test_star_import_cannot_overwrite_tools() -> None:
    executor = LocalPythonExecutor(["math"])
    executor.send_tools({"sqrt": lambda x: "tool"})
    with pytest.raises(InterpreterError, match="sqrt"):
        executor("from math import *")
    assert executor("sqrt(4)").output == "tool"


def test_executors_do_not_share_state() -> None:
    first, second = LocalPythonExecutor([]), LocalPythonExecutor([])
    first("secret = 42")
    with pytest.raises(InterpreterError, match="NameError"):
        second("secret")
