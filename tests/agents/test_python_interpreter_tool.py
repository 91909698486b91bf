"""PythonInterpreterTool: a fresh sandbox per call, for ToolCallingAgent."""

from __future__ import annotations

import warnings

from smolagents import AgentToolExecutionError, LogLevel, PythonInterpreterTool, ToolCallingAgent
from smolagents.testing import ScriptedModel

call = ScriptedModel.tool_call


def test_runs_code_and_returns_logs_and_output():
    tool = PythonInterpreterTool()
    out = tool(code="import math\nprint('hi')\nmath.sqrt(16)")
    assert "hi" in out and "4.0" in out
    assert "math" in tool.description


def test_each_call_is_a_fresh_sandbox():
    tool = PythonInterpreterTool()
    tool(code="secret = 1")
    out_of_state = None
    try:
        tool(code="secret")
    except Exception as exc:  # the variable does not survive between calls
        out_of_state = exc
    assert out_of_state is not None and "secret" in str(out_of_state)


def test_authorized_imports_and_refusals():
    tool = PythonInterpreterTool(authorized_imports=["numpy"])
    assert "6" in tool(code="import numpy\nint(numpy.arange(4).sum())")
    try:
        tool(code="import os")
    except Exception as exc:
        assert "os" in str(exc)
    else:
        raise AssertionError("import os was allowed")


def test_tool_calling_agent_with_base_tools_uses_it():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tools whose extras are missing are skipped with a warning
        agent = ToolCallingAgent(
            tools=[],
            model=ScriptedModel(
                [
                    call("python_interpreter", {"code": "print(sum(range(10)))"}),
                    call("python_interpreter", {"code": "1/0"}),
                    call("final_answer", {"answer": 45}),
                ]
            ),
            add_base_tools=True,
            verbosity_level=LogLevel.OFF,
        )
    assert "python_interpreter" in agent.tools
    assert agent.run("sum 0..9") == 45
    assert "45" in agent.memory.steps[1].observations
    error = agent.memory.steps[2].error
    assert isinstance(error, AgentToolExecutionError) and "ZeroDivisionError" in str(error)
