"""Security: host-invoked dunders, metaclasses/decorators/descriptors, exceptions as escape.

Sandbox-made functions and classes must refuse to run once the executor call returned:
the host may later ``str()``, compare, hash, iterate or garbage-collect what it got back.
And nothing raised inside (``SystemExit``, ``KeyboardInterrupt``...) may leave the call.
"""

from __future__ import annotations

import threading

import pytest

from smolagents.errors import InterpreterError, SandboxResourceError, SandboxSecurityError
from smolagents.local_python_executor import LocalPythonExecutor

pytestmark = pytest.mark.timeout(30)

_EVIL_CLASS = """
class Evil:
    def __str__(self):
        return 'ran in host'
    def __repr__(self):
        return 'ran in host'
    def __eq__(self, other):
        return True
    def __hash__(self):
        return 1
    def __iter__(self):
        return iter([1, 2])
    def __len__(self):
        return 1
    def __bool__(self):
        return True
    def __getattr__(self, name):
        return 'ran in host'
    def __format__(self, spec):
        return 'ran in host'
    def __contains__(self, item):
        return True
    def __call__(self):
        return 'ran in host'
    @property
    def prop(self):
        return 'ran in host'
"""

HOST_CALLS = {
    "str": lambda obj: str(obj),
    "repr": lambda obj: repr(obj),
    "eq": lambda obj: obj == 1,
    "hash": lambda obj: hash(obj),
    "iter": lambda obj: list(obj),
    "len": lambda obj: len(obj),
    "bool": lambda obj: bool(obj),
    "getattr_hook": lambda obj: obj.missing,
    "format": lambda obj: f"{obj}",
    "contains": lambda obj: 1 in obj,
    "call": lambda obj: obj(),
    "property": lambda obj: obj.prop,
}


@pytest.mark.parametrize("host_call", list(HOST_CALLS.values()), ids=list(HOST_CALLS))
def test_sandbox_objects_refuse_to_run_in_the_host(host_call) -> None:
    executor = LocalPythonExecutor([])
    obj = executor(_EVIL_CLASS + "Evil()").output
    with pytest.raises(SandboxSecurityError, match="outside"):
        host_call(obj)


@pytest.mark.parametrize(
    "code, host_call",
    [
        ("lambda: 'ran'", lambda f: f()),
        ("def f():\n    return 'ran'\nf", lambda f: f()),
        ("def g():\n    yield 1\n    yield 2\nx = g()\nnext(x)\nx", lambda g: next(g)),
        ("(i for i in range(3))", lambda g: next(g)),
        (
            "class D:\n    def __get__(self, obj, owner):\n        return 'ran'\nclass H:\n    d = D()\nH()",
            lambda h: h.d,
        ),
    ],
    ids=["lambda", "function", "resumed_generator", "generator_expression", "descriptor"],
)
def test_sandbox_callables_refuse_to_run_after_the_call(code, host_call) -> None:
    value = LocalPythonExecutor([])(code).output
    with pytest.raises(SandboxSecurityError):
        host_call(value)


def test_sandbox_function_refuses_other_threads_while_idle() -> None:
    executor = LocalPythonExecutor([])
    func = executor("def f():\n    return 1\nf").output
    errors = []

    def call() -> None:
        try:
            func()
        except SandboxSecurityError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert executor("f()").output == 1  # still fine inside a later call


METACLASS_DECORATOR_DESCRIPTOR = {
    "metaclass_keyword": "class A(metaclass=type):\n    pass",
    "metaclass_subclass_of_type": "class Meta(type):\n    pass",
    "metaclass_via_type_call": "Meta = type(type)\nclass A(metaclass=Meta):\n    pass",
    "define_del": "class A:\n    def __del__(self):\n        pass",
    "define_reduce": "class A:\n    def __reduce__(self):\n        return (print, ('x',))",
    "define_init_subclass": "class A:\n    def __init_subclass__(cls):\n        pass",
    "define_class_getitem": "class A:\n    def __class_getitem__(cls, item):\n        pass",
    "define_getattribute": "class A:\n    def __getattribute__(self, name):\n        pass",
    "match_args_definition": "class A:\n    __match_args__ = ('__class__',)",
    "slots_dunder": "class A:\n    __slots__ = ('__dict__',)",
    "decorator_returns_globals": "def deco(fn):\n    return fn.__globals__\n@deco\ndef f():\n    pass",
    "decorator_getattr_walk": "def deco(fn):\n    return getattr(fn, '__code__')\n@deco\ndef f():\n    pass",
    "descriptor_set_name_dunder": "class D:\n    def __set_name__(self, owner, name):\n        owner.__dict__\nclass A:\n    d = D()",
    "property_on_dunder": "class A:\n    __class__ = property(lambda self: int)",
    "super_host_reinit": "import queue\nq = queue.Queue()\nq.__init__(5)",
    "object_setattr": "class A:\n    pass\nobject.__setattr__(A(), '__class__', int)",
}


@pytest.mark.parametrize(
    "code", list(METACLASS_DECORATOR_DESCRIPTOR.values()), ids=list(METACLASS_DECORATOR_DESCRIPTOR)
)
def test_metaclasses_decorators_descriptors(attack, code: str) -> None:
    attack(code)


EXCEPTIONS_AS_ESCAPE = {
    "system_exit": "raise SystemExit(0)",
    "keyboard_interrupt": "raise KeyboardInterrupt",
    "generator_exit": "raise GeneratorExit",
    "base_exception": "raise BaseException('out')",
    "base_exception_group": "raise BaseExceptionGroup('g', [KeyboardInterrupt()])",
    "exit_builtin": "exit(0)",
    "quit_builtin": "quit()",
    "system_exit_in_generator": "def g():\n    yield 1\n    raise SystemExit\nlist(g())",
    "system_exit_from_del_path": "class A:\n    def __eq__(self, o):\n        raise SystemExit\n[A()].index(1)",
    "generator_ignores_exit": "def g():\n    while True:\n        try:\n            yield 1\n        except GeneratorExit:\n            pass\nx = g()\nnext(x)\nx.close()",
    "throw_keyboard_interrupt": "def g():\n    yield 1\nx = g()\nnext(x)\nx.throw(KeyboardInterrupt)",
    "exception_group_star": "try:\n    raise ValueError()\nexcept* ValueError:\n    pass",
}


@pytest.mark.parametrize("code", list(EXCEPTIONS_AS_ESCAPE.values()), ids=list(EXCEPTIONS_AS_ESCAPE))
def test_base_exceptions_stay_inside(attack, code: str) -> None:
    attack(code)


@pytest.mark.parametrize(
    "code",
    [
        "try:\n    final_answer('done')\nexcept BaseException:\n    pass\nprint('after')",
        "try:\n    final_answer('done')\nexcept:\n    pass\nprint('after')",
        "try:\n    final_answer('done')\nfinally:\n    print('after')",
        "def f():\n    try:\n        final_answer('done')\n    finally:\n        return 'swallowed'\nf()\nprint('after')",
        "class CM:\n    def __enter__(self):\n        return self\n    def __exit__(self, *a):\n        return True\nwith CM():\n    final_answer('done')\nprint('after')",
        "def g():\n    try:\n        yield final_answer('done')\n    except BaseException:\n        yield 'swallowed'\nlist(g())\nprint('after')",
        "class A:\n    def __eq__(self, other):\n        final_answer('done')\ntry:\n    [A()].index(0)\nexcept BaseException:\n    pass\nprint('after')",
    ],
    ids=[
        "except_base",
        "bare_except",
        "finally",
        "finally_return",
        "with_exit_true",
        "generator",
        "dunder_in_c",
    ],
)
def test_final_answer_cannot_be_caught(code: str) -> None:
    result = LocalPythonExecutor([])(code)
    assert result.is_final_answer and result.output == "done"
    assert "after" not in result.logs


@pytest.mark.parametrize(
    "code",
    [
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
        "def f():\n    try:\n        while True:\n            pass\n    finally:\n        return 'swallowed'\nwhile True:\n    f()",
        "class CM:\n    def __enter__(self):\n        return self\n    def __exit__(self, *a):\n        return True\nwhile True:\n    with CM():\n        while True:\n            pass",
    ],
    ids=["except_base", "finally_return", "with_exit_true"],
)
def test_limits_cannot_be_caught(code: str) -> None:
    with pytest.raises(SandboxResourceError, match="time limit"):
        LocalPythonExecutor([], timeout_seconds=1)(code)


def test_error_message_survives_hostile_str() -> None:
    code = "class E(Exception):\n    def __str__(self):\n        raise SystemExit\nraise E()"
    with pytest.raises(InterpreterError, match="due to: E:"):
        LocalPythonExecutor([])(code)
