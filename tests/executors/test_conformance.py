"""One behaviour for every executor: the same code gives the same results wherever it runs.

Parametrised over ``EXECUTORS`` in conftest.py (one line adds an executor). Where executors
legitimately differ, the difference is a named trait of ``ExecutorKind`` and the test
asserts each side of it explicitly.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest

from smolagents import CodeAgent, tool
from smolagents.default_tools import FinalAnswerTool
from smolagents.errors import InterpreterError, SandboxResourceError
from smolagents.remote_executors import RemoteExecutorError
from smolagents.testing import ScriptedModel

from .conftest import EXECUTORS


@tool
def scale(value: float, factor: float = 2.0) -> float:
    """Multiply a value by a factor.

    Args:
        value: the number to scale.
        factor: the multiplier.
    """
    return value * factor


@tool
def describe(name: str, excited: bool = False) -> str:
    """Describe a name.

    Args:
        name: who to describe.
        excited: add an exclamation mark.
    """
    return f"this is {name}" + ("!" if excited else "")


def test_state_persists_across_calls(make_executor):
    executor = make_executor()
    executor("x = 20")
    executor("def double(v):\n    return v * 2")
    result = executor("double(x) + 2")
    assert (result.output, result.is_final_answer) == (42, False)


def test_last_assignment_is_the_value(make_executor):
    assert make_executor()("x = 2 ** 10").output == 1024


def test_prints_come_back_as_logs(make_executor):
    executor = make_executor()
    result = executor("print('hello', 1)\nprint('world')\n7")
    assert result.logs == "hello 1\nworld\n"
    assert result.output == 7


def test_final_answer_top_level_and_nested(make_executor):
    executor = make_executor()
    top = executor("final_answer('top')\nprint('never')")
    assert (top.output, top.is_final_answer) == ("top", True)
    assert "never" not in top.logs
    nested = executor("def inner():\n    final_answer({'k': [1, 2]})\ndef outer():\n    inner()\nouter()")
    assert (nested.output, nested.is_final_answer) == ({"k": [1, 2]}, True)


def test_final_answer_is_not_swallowed_by_except_exception(make_executor):
    result = make_executor()("try:\n    final_answer(5)\nexcept Exception:\n    pass\n")
    assert (result.output, result.is_final_answer) == (5, True)


def test_runtime_error_has_message_line_and_logs(make_executor):
    executor = make_executor()
    with pytest.raises(InterpreterError) as caught:
        executor("print('before')\nratio = 10\nresult = ratio / 0\nprint('after')")
    message = str(caught.value)
    assert "ZeroDivisionError" in message and "division by zero" in message
    assert "result = ratio / 0" in message
    assert caught.value.logs == "before\n"


def test_syntax_error_names_line(make_executor):
    with pytest.raises(InterpreterError) as caught:
        make_executor()("x = 1\ny = (")
    message = str(caught.value)
    assert "SyntaxError" in message and "line 2" in message


def test_name_error_and_state_kept_after_error(make_executor):
    executor = make_executor()
    executor("kept = 'yes'")
    with pytest.raises(InterpreterError, match="NameError"):
        executor("undefined_name + 1")
    assert executor("kept").output == "yes"


def test_tools_with_positional_and_keyword_arguments(make_executor):
    executor = make_executor()
    executor.send_tools({"scale": scale, "describe": describe, "final_answer": FinalAnswerTool()})
    assert executor("scale(3.0)").output == 6.0
    assert executor("scale(3.0, 10.0)").output == 30.0
    assert executor("scale(value=1.5, factor=4.0)").output == 6.0
    assert executor("describe('Ada', excited=True)").output == "this is Ada!"
    done = executor("final_answer(describe(name='Bob'))")
    assert (done.output, done.is_final_answer) == ("this is Bob", True)


def _values(data_libraries: bool = True) -> dict[str, Any]:
    values = {
        "text": "héllo",
        "integer": 2**70,
        "real": 1.5,
        "flag": True,
        "nothing": None,
        "items": [1, "a", None],
        "pair": (1, (2, 3)),
        "mapping": {"a": 1, "b": [2]},
        "numbers": {1, 2, 3},
        "frozen": frozenset({"x"}),
        "raw": b"\x00\xff",
        "moment": datetime.datetime(2024, 5, 6, 7, 8, 9),
        "day": datetime.date(2024, 1, 2),
        "money": decimal.Decimal("1.10"),
    }
    if data_libraries:
        import numpy as np
        import pandas as pd
        from PIL import Image

        values["array"] = np.arange(6, dtype=np.int32).reshape(2, 3)
        values["frame"] = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
        values["image"] = Image.new("RGB", (3, 2), (10, 20, 30))
    return values


def _same(left: Any, right: Any) -> bool:
    import numpy as np
    import pandas as pd
    from PIL import Image

    if isinstance(left, np.ndarray):
        return isinstance(right, np.ndarray) and left.dtype == right.dtype and np.array_equal(left, right)
    if isinstance(left, pd.DataFrame):
        return isinstance(right, pd.DataFrame) and left.equals(right)
    if isinstance(left, Image.Image):
        return (
            isinstance(right, Image.Image) and left.size == right.size and left.tobytes() == right.tobytes()
        )
    return type(left) is type(right) and left == right


def test_every_encoded_value_type_round_trips(make_executor, executor_kind):
    """Sent in (send_variables), copied by the code, and returned: same type, same value."""
    data_libraries = executor_kind[1].data_libraries
    values = _values(data_libraries)
    executor = make_executor(additional_imports=["numpy", "pandas", "PIL"] if data_libraries else [])
    executor.send_variables({f"sent_{name}": value for name, value in values.items()})
    wrong = []
    for name, value in values.items():
        returned = executor(f"received = sent_{name}\nreceived").output
        if not _same(value, returned):
            wrong.append((name, value, returned))
    assert wrong == []


def test_values_made_by_the_code_come_back_typed(make_executor, executor_kind):
    executor = make_executor()
    code = "import datetime\n(1, 'a', {2, 3}, b'z', None, datetime.date(2020, 2, 2), frozenset({1}))"
    assert executor(code).output == (1, "a", {2, 3}, b"z", None, datetime.date(2020, 2, 2), frozenset({1}))
    if executor_kind[1].data_libraries:
        executor = make_executor(additional_imports=["numpy"])
        array = executor("import numpy\nnumpy.array([1.5, 2.5])").output
        assert array.tolist() == [1.5, 2.5]


def test_additional_variables_of_a_call(make_executor):
    assert make_executor()("a + b", additional_variables={"a": 2, "b": 3}).output == 5


def test_authorised_imports(make_executor, executor_kind):
    """The local sandbox refuses unauthorised modules; a remote interpreter is full Python
    (isolated by its machine) and only installs the additional imports."""
    _name, kind = executor_kind
    if kind.data_libraries:
        executor = make_executor(additional_imports=["numpy"])
        assert executor("import numpy\nint(numpy.arange(4).sum())").output == 6
    else:
        executor = make_executor(additional_imports=["statistics"])
    assert executor("import statistics\nstatistics.mean([1, 2, 3])").output == 2
    if kind.enforces_authorized_imports:
        with pytest.raises(InterpreterError, match="not allowed"):
            executor("import subprocess")
    else:
        assert executor("import subprocess\nsubprocess.__name__").output == "subprocess"


def test_timeout_stops_the_code_and_the_executor_recovers(make_executor, executor_kind):
    _name, kind = executor_kind
    executor = make_executor(timeout_seconds=2)
    executor("before = 'kept'")
    with pytest.raises(SandboxResourceError) as caught:
        executor("counter = 0\nwhile True:\n    counter += 1")
    assert "time limit" in str(caught.value)
    assert executor("1 + 1").output == 2
    if kind.timeout_keeps_state:
        assert executor("before").output == "kept"
    else:
        with pytest.raises(InterpreterError, match="NameError"):
            executor("before")


def test_cleanup_twice(make_executor, executor_kind):
    _name, kind = executor_kind
    executor = make_executor()
    executor("x = 1")
    executor.cleanup()
    executor.cleanup()
    if kind.unusable_after_cleanup:
        with pytest.raises(RemoteExecutorError, match="cleaned up"):
            executor("x")


def test_context_manager_cleans_up(make_executor):
    with make_executor() as executor:
        assert executor("3 * 3").output == 9


# ---------------------------------------------------------------- the same agent run everywhere
def _code(text: str) -> str:
    return f"Thought: step\n<code>\n{text}\n</code>"


_SCRIPT = [
    _code("total = scale(21.0)\nprint('total is', total)"),
    _code("print('about to fail')\nbroken = total / 0"),
    _code("words = [describe(name='x'), describe('y', excited=True)]\nprint(words)"),
    _code("final_answer({'total': total, 'words': words})"),
]


def _memory_summary(agent: CodeAgent) -> list[dict[str, Any]]:
    summary = []
    for step in agent.memory.steps[1:]:
        record = step.dict()
        summary.append(
            {
                key: record.get(key)
                for key in (
                    "step_number",
                    "code_action",
                    "observations",
                    "error",
                    "action_output",
                    "is_final_answer",
                )
            }
        )
    return summary


def test_same_scripted_agent_run_gives_same_memory_on_every_executor(request):
    summaries = {}
    for name, kind in EXECUTORS.items():
        executor = kind.factory(request, additional_imports=[], timeout_seconds=30)
        with CodeAgent(
            tools=[scale, describe], model=ScriptedModel(list(_SCRIPT)), executor=executor
        ) as agent:
            answer = agent.run("compute")
        assert answer == {"total": 42.0, "words": ["this is x", "this is y!"]}, name
        summaries[name] = _memory_summary(agent)
    reference = summaries.pop("local")
    assert "ZeroDivisionError" in reference[1]["error"]["message"]
    assert "about to fail" in reference[1]["observations"]
    for name, summary in summaries.items():
        assert summary == reference, name
