"""Turning tracing on from the environment, and what tracing off costs: no opentelemetry
import (checked in fresh interpreters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

RUN_AN_AGENT = """
import json, sys
from smolagents import LogLevel, ToolCallingAgent
from smolagents.testing import ScriptedModel
agent = ToolCallingAgent(
    tools=[],
    model=ScriptedModel([ScriptedModel.tool_call("final_answer", {"answer": 1})]),
    verbosity_level=LogLevel.OFF,
)
"""

TRACED_BY_THE_APP = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
assert agent.run("x") == 1
spans = exporter.get_finished_spans()
print(json.dumps({
    "names": sorted(s.name for s in spans),
    "content": any("gen_ai.input.messages" in s.attributes for s in spans),
}))
"""


def run_python(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SMOLAGENTS_TELEMETRY")}
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_import_smolagents_does_not_import_opentelemetry() -> None:
    code = "import sys, smolagents, smolagents.telemetry; print('opentelemetry' in sys.modules)"
    assert run_python(code, SMOLAGENTS_TELEMETRY="1") == "False"


def test_a_run_with_tracing_off_does_not_import_opentelemetry() -> None:
    code = (
        RUN_AN_AGENT
        + "agent.run('x'); print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    assert run_python(code) == "[]"
    assert run_python(code, SMOLAGENTS_TELEMETRY="0") == "[]"


def test_smolagents_telemetry_1_traces_from_the_first_run() -> None:
    out = json.loads(run_python(RUN_AN_AGENT + TRACED_BY_THE_APP, SMOLAGENTS_TELEMETRY="1"))
    assert out == {
        "names": [
            "chat scripted-model",
            "execute_tool final_answer",
            "invoke_agent ToolCallingAgent",
            "step 1",
        ],
        "content": False,
    }


def test_content_from_the_environment_too() -> None:
    out = json.loads(
        run_python(
            RUN_AN_AGENT + TRACED_BY_THE_APP, SMOLAGENTS_TELEMETRY="1", SMOLAGENTS_TELEMETRY_CONTENT="1"
        )
    )
    assert out["content"] is True


def test_without_the_variable_nothing_is_traced() -> None:
    out = json.loads(run_python(RUN_AN_AGENT + TRACED_BY_THE_APP))
    assert out == {"names": [], "content": False}


def test_a_missing_extra_names_the_install_command() -> None:
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "from smolagents import telemetry\n"
        "try:\n"
        "    telemetry.instrument()\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, '|', exc)\n"
    )
    out = run_python(code)
    assert out.startswith("MissingDependencyError |")
    assert "pip install 'smolagents[telemetry]'" in out


@pytest.mark.parametrize("value", ["true", "ON"])
def test_true_values_of_the_variable(value: str) -> None:
    code = (
        RUN_AN_AGENT + "from smolagents import telemetry\nagent.run('x')\nprint(telemetry.is_instrumented())"
    )
    assert run_python(code, SMOLAGENTS_TELEMETRY=value) == "True"


def test_the_variable_without_the_extra_is_a_clear_error_at_each_run() -> None:
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n" + RUN_AN_AGENT + "agent.model.allow_unused_replies = True\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        agent.run('x')\n"
        "    except ImportError as exc:\n"
        "        print(type(exc).__name__, '|', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "SMOLAGENTS_TELEMETRY": "1"},
        timeout=60,
    ).stdout.splitlines()
    assert len(out) == 2
    assert all(
        line.startswith("MissingDependencyError |") and "smolagents[telemetry]" in line for line in out
    )
