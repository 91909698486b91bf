"""Security: format strings and indirect attribute access (getattr-like helpers)."""

from __future__ import annotations

import pytest

from smolagents.local_python_executor import LocalPythonExecutor

pytestmark = pytest.mark.timeout(30)

FORMAT_STRINGS = {
    "format_class": "'{0.__class__}'.format(1)",
    "format_globals": "def f():\n    pass\n'{0.__globals__}'.format(f)",
    "format_nested_walk": "'{0.__class__.__mro__[1].__subclasses__}'.format(1)",
    "format_keyword": "'{x.__class__}'.format(x=1)",
    "format_map": "'{a.__class__}'.format_map({'a': 1})",
    "format_unbound": "str.format('{0.__class__}', 1)",
    "format_map_unbound": "str.format_map('{a.__init__.__globals__}', {'a': 1})",
    "format_method_reference": "fmt = '{0.__class__}'.format\nfmt(1)",
    "format_via_map": "list(map('{0.__class__}'.format, [1]))",
    "format_frame_name": "def g():\n    yield 1\n'{0.gi_frame}'.format(g())",
    "format_nested_spec": "'{0:{1.__class__}}'.format(1, 2)",
    "fstring_attribute": "f'{(1).__class__}'",
    "fstring_nested_format": "f\"{'{0.__class__}'.format(1)}\"",
    "string_formatter_class": "import string\nstring.Formatter().format('{0.__class__}', 1)",
    "format_width_bomb": "'{:>10000000000}'.format(1)",
}

INDIRECT_GETATTR = {
    "getattr_builtin": "getattr(1, '__class__')",
    "getattr_default": "getattr(1, '__class__', None)",
    "hasattr_dunder": "hasattr(1, '__globals__')",
    "setattr_dunder": "class A:\n    pass\nsetattr(A(), '__class__', int)",
    "delattr_dunder": "class A:\n    pass\ndelattr(A, '__init__')",
    "getattr_via_map": "def f():\n    pass\nlist(map(getattr, [f], ['__globals__']))",
    "getattr_via_sorted_key": "sorted([1, 2], key=lambda x: getattr(x, '__class__'))",
    "getattr_reference": "g = getattr\ng(g, '__self__')",
    "functools_partial": "import functools\nfunctools.partial(getattr, 1, '__class__')()",
    "functools_reduce": "import functools\nfunctools.reduce(getattr, ['__class__', '__base__'], 1)",
    "operator_attrgetter": "import operator\noperator.attrgetter('__class__.__bases__')(1)",
    "operator_attrgetter_frame": "import operator\ndef g():\n    yield 1\noperator.attrgetter('gi_frame')(g())",
    "operator_methodcaller": "import operator\noperator.methodcaller('__subclasses__')(object)",
    "vars_builtin": "vars(1)",
    "globals_builtin": "globals()",
    "locals_builtin": "locals()",
    "eval_builtin": "eval('1')",
    "exec_builtin": "exec('import os')",
    "compile_builtin": "compile('1', 'x', 'eval')",
    "import_builtin": "__import__('os').system('touch SENTINEL')",
    "builtins_name": "__builtins__",
    "open_builtin": "open('SENTINEL', 'w').write('x')",
    "breakpoint_builtin": "breakpoint()",
    "input_builtin": "input()",
    "memoryview_builtin": "memoryview(b'x')",
    "match_class_keyword": "match 1:\n    case int(__class__=c):\n        c",
    "private_host_attribute": "import random\nrandom.Random()._randbelow(3)",
}


@pytest.mark.parametrize("code", list(FORMAT_STRINGS.values()), ids=list(FORMAT_STRINGS))
def test_format_strings_cannot_walk_attributes(attack, code: str) -> None:
    attack(code, executor=LocalPythonExecutor(["string"], timeout_seconds=2))


@pytest.mark.parametrize("code", list(INDIRECT_GETATTR.values()), ids=list(INDIRECT_GETATTR))
def test_indirect_attribute_access_uses_the_same_policy(attack, code: str) -> None:
    attack(code, executor=LocalPythonExecutor(["functools", "operator", "random"], timeout_seconds=2))


def test_safe_format_fields_still_work(executor) -> None:
    assert executor("class P:\n    name = 'x'\n'{0.name}-{1[k]}'.format(P(), {'k': 2})").output == "x-2"
    assert executor("'%(a)s' % {'a': 1}").output == "1"
