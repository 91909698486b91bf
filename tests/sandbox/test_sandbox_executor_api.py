"""The executor API others code against: results, state, tools, errors, imports, limits."""

from __future__ import annotations

import warnings

import pytest

from smolagents.errors import InterpreterError, SandboxResourceError, SandboxSecurityError, UserError
from smolagents.local_python_executor import (
    BASE_BUILTIN_MODULES,
    DEFAULT_MAX_LEN_OUTPUT,
    CodeOutput,
    FinalAnswerException,
    LocalPythonExecutor,
    PythonExecutor,
    SandboxLimits,
)

pytestmark = pytest.mark.timeout(60)


def test_public_constants() -> None:
    assert BASE_BUILTIN_MODULES == [
        "collections",
        "datetime",
        "itertools",
        "math",
        "queue",
        "random",
        "re",
        "stat",
        "statistics",
        "time",
        "unicodedata",
    ]
    assert DEFAULT_MAX_LEN_OUTPUT == 50_000
    assert issubclass(FinalAnswerException, BaseException) and not issubclass(FinalAnswerException, Exception)


def test_call_returns_code_output_with_last_expression() -> None:
    executor = LocalPythonExecutor([])
    result = executor("x = 2\nprint('hello')\nx * 21")
    assert result == CodeOutput(output=42, logs="hello\n", is_final_answer=False)
    assert executor("y = 1").output == 1  # an assignment shows its value, as users rely on
    assert executor("import math").output is None


def test_state_persists_and_additional_variables_merge() -> None:
    executor = LocalPythonExecutor([])
    executor("counter = 1")
    executor("counter += 1")
    assert executor.state["counter"] == 2
    assert executor("counter + extra", {"extra": 10}).output == 12
    executor.send_variables({"frame": [1, 2, 3]})
    assert executor("sum(frame)").output == 6
    assert all(not key.startswith("__") for key in executor.state)


def test_functions_and_classes_persist_across_calls() -> None:
    executor = LocalPythonExecutor([])
    executor("class Box:\n    def __init__(self, v):\n        self.v = v\ndef make(v):\n    return Box(v)")
    assert executor("make(3).v").output == 3


def test_final_answer_builtin_and_host_tool() -> None:
    executor = LocalPythonExecutor([])
    result = executor("print('before')\nfinal_answer({'a': 1})\nprint('never')")
    assert result == CodeOutput(output={"a": 1}, logs="before\n", is_final_answer=True)

    seen = []

    def host_final_answer(answer):
        seen.append(answer)
        return f"processed:{answer}"

    executor.send_tools({"final_answer": host_final_answer})
    result = executor("final_answer(answer=7)")
    assert result.output == "processed:7" and result.is_final_answer and seen == [7]


def test_tools_are_opaque_callables() -> None:
    class SearchTool:
        name = "web_search"
        description = "Searches the web."
        secret = "host-only"

        def __call__(self, query: str) -> str:
            return f"results for {query}"

    executor = LocalPythonExecutor([])
    executor.send_tools({"web_search": SearchTool(), "add": lambda a, b: a + b})
    assert executor("web_search('cats')").output == "results for cats"
    assert executor("add(2, b=3)").output == 5
    assert executor("(web_search.name, web_search.description)").output == ("web_search", "Searches the web.")
    with pytest.raises(InterpreterError):
        executor("web_search.secret")
    with pytest.raises(InterpreterError, match="tool"):
        executor("web_search = 1")
    assert executor("def f(web_search):\n    return web_search * 2\nf(4)").output == 8


def test_docs_usage_with_agent_state_dict() -> None:
    executor = LocalPythonExecutor(["math"])
    agent_state = {"answer_so_far": 41}
    assert executor("from math import *\nanswer_so_far + 1", agent_state).output == 42
    executor.send_tools({**{"noop": lambda: None}})
    assert executor("noop() is None").output


def test_errors_name_type_message_and_line_and_carry_logs() -> None:
    executor = LocalPythonExecutor([])
    with pytest.raises(InterpreterError) as info:
        executor("print('step 1')\nx = 5\ny = x / 0\nprint('not reached')")
    message = str(info.value)
    assert "Code execution failed at line 'y = x / 0'" in message
    assert "ZeroDivisionError: division by zero" in message
    assert info.value.logs == "step 1\n"
    # the state keeps what was assigned before the error, and the executor stays usable
    assert executor("x + 1").output == 6


def test_error_inside_function_reports_the_failing_line() -> None:
    executor = LocalPythonExecutor([])
    with pytest.raises(InterpreterError, match="Code execution failed at line 'return items\\[10\\]'"):
        executor("def pick(items):\n    return items[10]\npick([1, 2])")


@pytest.mark.parametrize("code", ["x = " + "(" * 300 + "1" + ")" * 300, "x = " + "-" * 100_000 + "1"])
def test_absurdly_nested_code_is_a_clear_error(code: str) -> None:
    with pytest.raises(InterpreterError, match=r"Code (parsing failed|could not be compiled)"):
        LocalPythonExecutor([])(code)


def test_syntax_error_message() -> None:
    with pytest.raises(InterpreterError, match="Code parsing failed on line 2 due to: SyntaxError"):
        LocalPythonExecutor([])("x = 1\nif x\n    pass")


def test_logs_truncated_with_a_note() -> None:
    executor = LocalPythonExecutor([], max_print_outputs_length=100)
    logs = executor("for i in range(1000):\n    print(i)").logs
    assert "truncated" in logs and len(logs) < 400
    assert logs.startswith("0\n1\n") and logs.rstrip().endswith("999")


def test_imports_default_and_additional() -> None:
    assert LocalPythonExecutor([])("import math\nmath.floor(2.5)").output == 2
    with pytest.raises(
        SandboxSecurityError, match=r"Import of json is not allowed\. Authorized imports are: \["
    ):
        LocalPythonExecutor([])("import json")
    assert LocalPythonExecutor(["json"])("import json\njson.dumps([1])").output == "[1]"


def test_submodule_authorisation_rules() -> None:
    import numpy  # noqa: F401  (in the test extra: fail if missing, never skip)

    plain = LocalPythonExecutor(["numpy"])
    assert plain("import numpy as np\nint(np.arange(3).sum())").output == 3
    with pytest.raises(SandboxSecurityError, match=r"numpy\.random"):
        plain("import numpy.random")
    with pytest.raises(SandboxSecurityError, match=r"numpy\.random"):
        plain("import numpy as np\nnp.random.rand(2)")
    wildcard = LocalPythonExecutor(["numpy.*"])
    assert wildcard("import numpy.random\nnumpy.random.default_rng(0).integers(0, 1, 3).tolist()").output == [
        0,
        0,
        0,
    ]
    explicit = LocalPythonExecutor(["numpy.random"])
    assert explicit("from numpy.random import default_rng\ndefault_rng(1).integers(5, 6)").output == 5
    with pytest.raises(SandboxSecurityError, match="f2py"):
        wildcard("import numpy.f2py")


def test_star_authorises_everything_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="ANY module"):
        executor = LocalPythonExecutor(["*"])
    assert executor("import json\njson.loads('[2]')").output == [2]


def test_missing_authorised_module_fails_at_construction() -> None:
    with pytest.raises(InterpreterError, match="not_a_real_module_xyz") as info:
        LocalPythonExecutor(["not_a_real_module_xyz"])
    assert isinstance(info.value, UserError)


def test_limits_and_keyword_overrides() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=5, max_operations=1000, max_memory_bytes=None)
    assert executor.limits.timeout_seconds == 5
    assert executor.limits.max_operations == 1000
    assert executor.limits.max_memory_bytes is None
    with pytest.raises(SandboxResourceError, match="1000 operations") as info:
        executor("for i in range(10**6):\n    pass")
    assert info.value.limit == "max_operations"
    custom = LocalPythonExecutor([], limits=SandboxLimits(max_sequence_length=100))
    with pytest.raises(SandboxResourceError):
        custom("'x' * 1000")


def test_context_manager_and_cleanup() -> None:
    with LocalPythonExecutor([]) as executor:
        assert isinstance(executor, PythonExecutor)
        assert executor("1").output == 1


def test_additional_functions_are_callable() -> None:
    executor = LocalPythonExecutor([], additional_functions={"double": lambda x: 2 * x})
    assert executor("double(21)").output == 42


def test_compiled_code_is_cached() -> None:
    from smolagents.local_python_executor import _executor

    code = "value_for_cache_test = 12345"
    _executor._compile(code, frozenset({"final_answer"}))
    first = _executor._compile(code, frozenset({"final_answer"}))
    assert _executor._compile(code, frozenset({"final_answer"})) is first


def test_executor_rejects_nested_call_on_itself() -> None:
    executor = LocalPythonExecutor([])
    executor.send_tools({"reenter": lambda: executor("1")})
    with pytest.raises(InterpreterError, match="already running"):
        executor("reenter()")
    assert executor("2").output == 2


def test_no_warning_for_default_imports() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LocalPythonExecutor(["json", "numpy"])


def test_a_failed_call_start_leaves_the_executor_usable() -> None:
    executor = LocalPythonExecutor([])
    calls = []

    def enter() -> None:
        calls.append("enter")
        if len(calls) == 1:
            raise RuntimeError("host state could not be swapped")

    executor._runtime.add_call_hook(enter, lambda: calls.append("exit"))
    with pytest.raises(RuntimeError, match="could not be swapped"):
        executor("1 + 1")
    assert executor("2 + 2").output == 4  # not stuck as "already running"
    assert calls[-1] == "exit"
