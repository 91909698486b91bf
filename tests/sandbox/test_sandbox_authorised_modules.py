"""Authorised modules work for their safe parts; process creation and code evaluation never do.

Also the executor behaviours code written for smolagents relies on: assignments show their
value, ``InterpreterError`` is a ``ValueError``, ``__import__`` among the tools, dotted names.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from smolagents.errors import InterpreterError, SandboxSecurityError, UserError
from smolagents.local_python_executor import LocalPythonExecutor

pytestmark = pytest.mark.timeout(30)


def _executor(imports: list[str]) -> LocalPythonExecutor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # authorising host-control modules warns, by design
        return LocalPythonExecutor(imports, timeout_seconds=5)


# One entry per kind of authorisable module: pure Python, C accelerated (objects report
# ``_io``/``_thread`` as their module), dangerous-by-default roots, aliases (``os.path``),
# and ``'*'``.
ORDINARY_USE = {
    "io_stringio": (["io"], "import io\nio.StringIO('x').read()", "x"),
    "io_bytesio": (["io"], "import io\nb = io.BytesIO()\nb.write(b'ab')\nb.getvalue()", b"ab"),
    "pathlib_resolve": (["pathlib"], "from pathlib import Path\nPath('.').resolve().is_absolute()", True),
    "threading_lock": (
        ["threading"],
        "from threading import Lock\nlock = Lock()\n(lock.acquire(), lock.locked())",
        (True, True),
    ),
    "threading_with": (["threading"], "import threading\nwith threading.RLock():\n    x = 1\nx", 1),
    "os_getcwd": (["os"], "import os\nisinstance(os.getcwd(), str)", True),
    "os_path_alias": (["os.path"], "import os.path\nos.path.join('a', 'b')", "a/b"),
    "os_path_from": (["os.path"], "from os.path import basename\nbasename('/x/y.txt')", "y.txt"),
    "builtins_len": (["builtins"], "import builtins\nbuiltins.len([1, 2])", 2),
    "json": (["json"], "import json\njson.loads(json.dumps({'a': [1]}))", {"a": [1]}),
    "decimal": (["decimal"], "import decimal\nstr(decimal.Decimal('1.10') + 1)", "2.10"),
    "hashlib": (["hashlib"], "import hashlib\nhashlib.sha256(b'x').hexdigest()[:8]", "2d711642"),
    "struct_array": (
        ["struct", "array"],
        "import struct, array\n(struct.unpack('<i', struct.pack('<i', 7))[0], array.array('i', [3]).tolist())",
        (7, [3]),
    ),
    "sqlite_memory": (
        ["sqlite3"],
        "import sqlite3\nsqlite3.connect(':memory:').execute('select 2').fetchall()",
        [(2,)],
    ),
    "subprocess_constant": (["subprocess"], "import subprocess\nsubprocess.PIPE", -1),
    "numpy_dotted_only": (
        ["numpy.random"],
        "from numpy.random import default_rng\nint(default_rng(1).integers(5, 6))",
        5,
    ),
}


@pytest.mark.parametrize("imports, code, expected", list(ORDINARY_USE.values()), ids=list(ORDINARY_USE))
def test_authorised_modules_work(imports: list[str], code: str, expected: object) -> None:
    if any(name.startswith("numpy") for name in imports):
        import numpy  # noqa: F401  (in the test extra: fail if missing, never skip)
    assert _executor(imports)(code).output == expected


def test_star_authorisation_opens_files(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("hello")
    executor = _executor(["*"])
    assert (
        executor(f"import io\nwith io.open({str(path)!r}) as handle:\n    text = handle.read()\ntext").output
        == "hello"
    )


# Process creation and code evaluation stay refused however the module was authorised.
REFUSED = {
    "os_system": (["os"], "import os\nos.system('touch SENTINEL')"),
    "os_popen": (["os"], "import os\nos.popen('touch SENTINEL').read()"),
    "os_from_import": (["os"], "from os import system\nsystem('touch SENTINEL')"),
    "os_getattr": (["os"], "import os\ngetattr(os, 'execv')('/bin/touch', ['touch', 'SENTINEL'])"),
    "os_spawn": (["os"], "import os\nos.spawnv(os.P_WAIT, '/bin/touch', ['touch', 'SENTINEL'])"),
    "os_posix_spawn": (["os"], "import os\nos.posix_spawn('/bin/touch', ['touch', 'SENTINEL'], {})"),
    "os_fork": (["os"], "import os\nos.fork()"),
    "os_kill": (["os"], "import os\nos.kill(os.getpid(), 9)"),
    "posix_system": (["posix"], "import posix\nposix.system('touch SENTINEL')"),
    "os_wildcard": (["os.*"], "import os\nos.system('touch SENTINEL')"),
    "star_os": (["*"], "import os\nos.system('touch SENTINEL')"),
    "star_subprocess": (["*"], "import subprocess\nsubprocess.run(['touch', 'SENTINEL'])"),
    "subprocess_popen": (["subprocess"], "import subprocess\nsubprocess.Popen(['touch', 'SENTINEL'])"),
    "subprocess_getoutput": (["subprocess"], "from subprocess import getoutput\ngetoutput('touch SENTINEL')"),
    "pty_spawn": (["pty"], "import pty\npty.spawn(['touch', 'SENTINEL'])"),
    "multiprocessing": (["multiprocessing"], "import multiprocessing\nmultiprocessing.Process"),
    "builtins_eval": (
        ["builtins"],
        "import builtins\nbuiltins.eval(\"__import__('os').system('touch SENTINEL')\")",
    ),
    "builtins_exec": (
        ["builtins"],
        "import builtins\nbuiltins.exec(\"import os; os.system('touch SENTINEL')\")",
    ),
    "builtins_compile": (["builtins"], "import builtins\nbuiltins.compile('1', 'x', 'eval')"),
    "builtins_from_import": (["builtins"], "from builtins import eval\neval('1')"),
    "builtins_vars": (["builtins"], "import builtins\nbuiltins.vars(builtins)"),
    "builtins_globals": (["builtins"], "import builtins\nbuiltins.globals()"),
    "star_builtins_eval": (["*"], "import builtins\nbuiltins.eval('1')"),
    "importlib_import_module": (
        ["importlib"],
        "import importlib\nimportlib.import_module('os').system('touch SENTINEL')",
    ),
    "importlib_util": (["importlib.*"], "import importlib.util\nimportlib.util.spec_from_file_location"),
    "runpy": (["runpy"], "import runpy\nrunpy.run_path('SENTINEL')"),
    "code_module": (
        ["code"],
        "import code\ncode.InteractiveInterpreter().runsource(\"open('SENTINEL', 'w')\")",
    ),
    "marshal_loads": (["marshal"], "import marshal\nmarshal.loads(b'')"),
    "sys_modules": (["sys"], "import sys\nsys.modules['os'].system('touch SENTINEL')"),
    "sys_settrace": (["sys"], "import sys\nsys.settrace(print)"),
    "gc_referrers": (["gc"], "import gc\ngc.get_referrers([])"),
    "inspect_getmembers": (["inspect"], "import inspect\ninspect.getmembers(len)"),
    "inspect_frame": (["inspect"], "import inspect\ninspect.currentframe()"),
    "ctypes": (["ctypes"], "import ctypes\nctypes.CDLL(None).system(b'touch SENTINEL')"),
    "webbrowser": (["webbrowser"], "import webbrowser\nwebbrowser.open('file:///SENTINEL')"),
    "operator_attrgetter": (
        ["os", "operator"],
        "import os, operator\noperator.attrgetter('system')(os)('touch SENTINEL')",
    ),
}


@pytest.mark.parametrize("imports, code", list(REFUSED.values()), ids=list(REFUSED))
def test_process_creation_and_code_evaluation_stay_refused(attack, imports: list[str], code: str) -> None:
    attack(code, executor=_executor(imports), expect=SandboxSecurityError, match="refuses it even when")


def test_authorised_builtins_module_hands_out_the_sandbox_builtins(attack) -> None:
    # the real getattr would skip the attribute policy
    attack(
        "import builtins\nbuiltins.getattr(1, '__class__')",
        executor=_executor(["builtins"]),
        match="__class__",
    )


def test_refusal_message_says_why_and_what_to_do() -> None:
    with pytest.raises(SandboxSecurityError) as info:
        _executor(["os"])("import os\nos.system('true')")
    message = str(info.value)
    assert "'os.system' creates or signals processes" in message
    assert "even when 'os' is authorised" in message
    assert "give it a tool" in message


def test_star_import_skips_refused_names() -> None:
    executor = _executor(["os"])
    executor("from os import *")
    assert executor("getcwd() == getcwd()").output is True
    with pytest.raises(InterpreterError, match="system"):
        executor("system('true')")


# ------------------------------------------------------------------ behaviours users rely on
@pytest.mark.parametrize(
    "code, expected",
    [
        ("x = 2**10", 1024),
        ("x = 5\nx += 1", 6),
        ("a, b = 1, 2", (1, 2)),
        ("a = b = 'same'", "same"),
        ("n: int = 7", 7),
        ("d = {}\nd['k'] = 3", None),  # item assignment: reading back could run code twice
        ("import math", None),
    ],
)
def test_last_statement_value_includes_assignments(code: str, expected: object) -> None:
    assert LocalPythonExecutor([])(code).output == expected


def test_interpreter_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ZeroDivisionError"):
        LocalPythonExecutor([])("1 / 0")
    assert issubclass(SandboxSecurityError, ValueError)


def test_send_tools_accepts_an_explicit_import_and_keeps_the_policy() -> None:
    executor = LocalPythonExecutor([])
    executor.send_tools({"__import__": __import__, "double": lambda x: 2 * x})
    assert executor("double(4)").output == 8
    with pytest.raises(SandboxSecurityError, match="Import of os is not allowed"):
        executor("import os")


def test_dotted_authorisation_needs_only_the_top_level_package() -> None:
    import numpy  # noqa: F401  (in the test extra: fail if missing, never skip)

    executor = LocalPythonExecutor(["numpy.not_a_real_submodule"])
    assert "numpy.not_a_real_submodule" in executor.authorized_imports
    with pytest.raises(UserError, match=r"no_such_package_xyz\.sub"):
        LocalPythonExecutor(["no_such_package_xyz.sub"])


def test_class_factories_keep_working_without_dunder_names() -> None:
    executor = _executor(["enum", "dataclasses", "abc", "argparse"])
    code = (
        "import enum, dataclasses, abc, argparse\n"
        "Color = enum.Enum('Color', 'RED GREEN')\n"
        "class Level(enum.IntEnum):\n    LOW = 1\n    HIGH = 2\n"
        "Point = dataclasses.make_dataclass('Point', [('x', int), ('y', int)])\n"
        "class Shape(abc.ABC):\n    @abc.abstractmethod\n    def area(self): ...\n"
        "class Square(Shape):\n    def area(self):\n        return 4\n"
        "options = {'verbose': True}\n"
        "ns = argparse.Namespace(**options)\n"
        "(Color.GREEN.value, Level.HIGH + 1, isinstance(Level.LOW, enum.Enum), Point(1, 2).y, "
        "Square().area(), isinstance(Shape, abc.ABCMeta), ns.verbose)"
    )
    assert executor(code).output == (2, 3, True, 2, 4, True, True)


def test_metaclass_handles_only_answer_isinstance() -> None:
    executor = _executor(["abc"])
    with pytest.raises(SandboxSecurityError, match="only answers isinstance checks"):
        executor("import abc\nabc.ABCMeta('X', (), {})")
