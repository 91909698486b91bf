"""CodeAgent driven by ScriptedModel: code extraction, execution, errors, tools, managed agents."""

from __future__ import annotations

import asyncio
import re
import sys

import pytest

from smolagents import (
    ActionStep,
    AgentExecutionError,
    AgentParsingError,
    ChatMessageStreamDelta,
    CodeAgent,
    LogLevel,
    TaskStep,
    Tool,
    ToolCallingAgent,
    UserError,
    tool,
)
from smolagents.agents._code_parsing import extract_code, resolve_code_block_tags
from smolagents.testing import ScriptedModel


def code(body: str, thought: str = "Thought: let me compute.") -> str:
    return f"{thought}\n<code>\n{body}\n</code>"


def make_agent(replies, tools=(), **kwargs):
    kwargs.setdefault("verbosity_level", LogLevel.OFF)
    return CodeAgent(tools=list(tools), model=ScriptedModel(replies), **kwargs)


# ---------------------------------------------------------------- code extraction
TAGS = resolve_code_block_tags(None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thought: x\n<code>\nprint(1)\n</code>", "print(1)"),
        ("Thought: x\n<code>\na = 1\n</code>\nmore\n<code>\nprint(a)\n</code>", "a = 1\n\nprint(a)"),
        ("Thought: x\n```py\nprint(2)\n```", "print(2)"),
        ("Thought: x\n```python\nprint(3)\n```\n", "print(3)"),
        ("Thought: use `len` on the list\n<code>\nprint(len([1]))", "print(len([1]))"),  # no closing tag
        ("<think>maybe <code>import os</code></think>Thought: ok\n<code>\nprint(4)\n</code>", "print(4)"),
        ("Thought: x\n<code>```python\nprint(5)\n```</code>", "print(5)"),
        ("result = 2 + 2\nfinal_answer(result)", "result = 2 + 2\nfinal_answer(result)"),  # bare code
    ],
)
def test_extract_code_variants(text, expected):
    assert extract_code(text, TAGS) == expected


def test_extract_code_failure_explains_the_format():
    with pytest.raises(AgentParsingError) as info:
        extract_code("I think the answer is 42.", TAGS)
    assert "<code>" in str(info.value) and "</code>" in str(info.value)


def test_markdown_and_custom_tags():
    md = resolve_code_block_tags("markdown")
    assert extract_code("```python\nprint(1)\n```", md) == "print(1)"
    custom = resolve_code_block_tags(("<py>", "</py>"))
    assert extract_code("<py>x = 1</py>", custom) == "x = 1"
    with pytest.raises(UserError):
        resolve_code_block_tags(("only-one",))  # type: ignore[arg-type]


# ---------------------------------------------------------------- running code
def test_run_prints_observations_and_final_answer():
    agent = make_agent([code("x = 6 * 7\nprint('x is', x)"), code("final_answer(x)")])
    assert agent.run("compute") == 42
    first = agent.memory.steps[1]
    assert first.code_action == "x = 6 * 7\nprint('x is', x)"
    assert "x is 42" in first.observations
    # the model sees the observation
    assert "x is 42" in " ".join(m.text for m in agent.model.calls[1].messages)


def test_code_error_becomes_step_error_with_failing_line_and_model_recovers():
    agent = make_agent([code("print('before')\ny = 1 / 0"), code("final_answer('recovered')")])
    assert agent.run("x") == "recovered"
    step = agent.memory.steps[1]
    assert isinstance(step.error, AgentExecutionError)
    assert "ZeroDivisionError" in str(step.error) and "1 / 0" in str(step.error)
    assert "before" in step.observations  # print output before the error is kept
    assert "ZeroDivisionError" in " ".join(m.text for m in agent.model.calls[1].messages)


def test_parse_failure_is_a_step_error():
    agent = make_agent(["I refuse to write code.", code("final_answer(1)")])
    assert agent.run("x") == 1
    assert isinstance(agent.memory.steps[1].error, AgentParsingError)


def test_forbidden_import_names_authorised_modules():
    agent = make_agent([code("import os\nos.system('echo hi')"), code("final_answer(1)")])
    agent.run("x")
    error = str(agent.memory.steps[1].error)
    assert "os" in error and "math" in error


def test_additional_authorized_imports_and_prompt():
    agent = make_agent(
        [code("import numpy as np\nfinal_answer(int(np.arange(4).sum()))")],
        additional_authorized_imports=["numpy"],
    )
    assert agent.run("x") == 6
    assert "numpy" in agent.system_prompt and "'math'" in agent.system_prompt


def test_tools_are_functions_and_output_schema_is_shown():
    class WeatherTool(Tool):
        name = "get_weather"
        description = "Weather for a city."
        inputs = {"city": {"type": "string", "description": "The city."}}
        output_type = "object"
        output_schema = {
            "type": "object",
            "properties": {"temperature_c": {"type": "number"}, "sky": {"type": "string"}},
            "required": ["temperature_c", "sky"],
        }

        def forward(self, city: str) -> dict:
            return {"temperature_c": 21.5, "sky": "clear"}

    agent = make_agent([code("w = get_weather(city='Paris')\nfinal_answer(w['sky'])")], tools=[WeatherTool()])
    assert agent.run("sky?") == "clear"
    assert "temperature_c" in agent.system_prompt and "def get_weather" in agent.system_prompt


def test_additional_args_are_variables():
    agent = make_agent([code("final_answer(len(rows))")])
    assert agent.run("count rows", additional_args={"rows": [1, 2, 3]}) == 3


def test_state_persists_between_steps_and_runs_with_reset_false():
    agent = make_agent(
        [code("counter = 10"), code("final_answer(counter + 1)"), code("final_answer(counter + 2)")]
    )
    assert agent.run("x") == 11
    assert agent.run("y", reset=False) == 12


def test_managed_agent_called_from_code():
    sub = ToolCallingAgent(
        tools=[],
        model=ScriptedModel([ScriptedModel.tool_call("final_answer", {"answer": "Paris"})]),
        name="geographer",
        description="Knows capitals.",
        verbosity_level=LogLevel.OFF,
    )
    agent = make_agent(
        [code("report = geographer(task='Capital of France?')\nprint(report)"), code("final_answer('done')")],
        managed_agents=[sub],
    )
    assert agent.run("x") == "done"
    assert "Paris" in agent.memory.steps[1].observations
    assert "geographer" in agent.system_prompt


def test_final_answer_cannot_be_rebound_or_caught():
    agent = make_agent(
        [
            # one reply: had the final answer been swallowed, the next step's model call would fail
            code("try:\n    final_answer('caught?')\nexcept BaseException:\n    print('swallowed')"),
        ]
    )
    assert agent.run("x") == "caught?"


def test_structured_outputs():
    agent = make_agent(
        ['{"thought": "easy", "code": "final_answer(3 * 3)"}'], use_structured_outputs_internally=True
    )
    assert agent.run("x") == 9
    assert agent.model.calls[0].kwargs["response_format"]["type"] == "json_schema"
    assert '"thought"' in agent.system_prompt


def test_stream_outputs_and_events():
    agent = make_agent([code("final_answer('ok')")], stream_outputs=True)
    events = list(agent.run("x", stream=True))
    text = "".join(e.content or "" for e in events if isinstance(e, ChatMessageStreamDelta))
    assert "final_answer('ok')" in text
    names = [type(e).__name__ for e in events if not isinstance(e, ChatMessageStreamDelta)]
    assert names == ["ToolCall", "ToolOutput", "ActionOutput", "ActionStep", "FinalAnswerStep"]


def test_arun():
    agent = make_agent([code("print('a')"), code("final_answer('async ok')")])
    assert asyncio.run(agent.arun("x")) == "async ok"


def test_stop_sequence_cut_closing_tag_is_restored_in_memory():
    agent = make_agent(["Thought: go\n<code>\nfinal_answer(5)\n</code>\nObservation: hallucinated"])
    assert agent.run("x") == 5
    output = agent.memory.steps[1].model_output
    assert output.rstrip().endswith("</code>") and "hallucinated" not in output


def test_executor_types_fail_clearly(monkeypatch):
    with pytest.raises(
        UserError, match=r"one of \['local', 'process', 'docker', 'wasm', 'e2b', 'modal', 'blaxel'\]"
    ):
        make_agent([], executor_type="nope")
    for module, extra, executor_type in [
        ("e2b_code_interpreter", "e2b", "e2b"),
        ("docker", "docker", "docker"),
        ("modal", "modal", "modal"),
    ]:
        monkeypatch.setitem(sys.modules, module, None)  # the extra is not installed
        with pytest.raises(ImportError, match=re.escape(f"pip install 'smolagents[{extra}]'")):
            make_agent([], executor_type=executor_type)


def test_context_manager_calls_cleanup():
    cleaned = []
    agent = make_agent([])
    agent.python_executor.cleanup = lambda: cleaned.append(True)
    with agent:
        pass
    assert cleaned == [True]


def test_memory_tutorial_step_by_step():
    """The docs' memory tutorial, as written, with a scripted model."""
    agent = CodeAgent(
        tools=[],
        model=ScriptedModel(
            [
                code("a, b = 0, 1\nfor _ in range(19):\n    a, b = b, a + b\nprint(b)"),
                code("final_answer(b)"),
            ]
        ),
        verbosity_level=1,
    )
    agent.python_executor.send_tools({**agent.tools})
    print(agent.memory.system_prompt)

    task = "What is the 20th Fibonacci number?"
    agent.memory.steps.append(TaskStep(task=task, task_images=[]))

    final_answer = None
    step_number = 1
    while final_answer is None and step_number <= 10:
        memory_step = ActionStep(
            step_number=step_number,
            observations_images=[],
        )
        final_answer = agent.step(memory_step)
        agent.memory.steps.append(memory_step)
        step_number += 1

    assert final_answer == 6765
    assert "6765" in agent.memory.steps[1].observations


def test_docs_helium_style_executor_call():
    agent = make_agent([])
    agent.state["greeting"] = "hi"
    out = agent.python_executor("x = 2 + 3\nx", agent.state)
    assert out.output == 5 and not out.is_final_answer


@tool
def double(n: int) -> int:
    """Double a number.

    Args:
        n: the number.
    """
    return 2 * n


def test_tool_called_from_code():
    agent = make_agent([code("final_answer(double(n=21))")], tools=[double])
    assert agent.run("x") == 42


def test_sandbox_object_with_custom_str_as_last_output_does_not_break_the_step():
    agent = make_agent(
        [
            code("class Point:\n    def __str__(self):\n        return 'P'\np = Point()\np"),
            code("final_answer('ok')"),
        ]
    )
    assert agent.run("x") == "ok"
    step = agent.memory.steps[1]
    assert step.error is None and "Point object defined in the sandbox" in step.observations


def test_executor_kwargs_set_sandbox_limits_and_a_timeout_is_a_step_error():
    agent = make_agent(
        [code("while True:\n    pass"), code("final_answer('stopped')")],
        executor_kwargs={"timeout_seconds": 0.5},
    )
    assert agent.run("x") == "stopped"
    error = str(agent.memory.steps[1].error)
    assert "SandboxResourceError" in error or "time" in error.lower()
    assert agent.python_executor.limits.timeout_seconds == 0.5


def test_memory_return_full_code_joins_the_code_actions():
    agent = make_agent([code("a = 1"), code("b = a + 1"), code("final_answer(b)")])
    assert agent.run("x") == 2
    assert agent.memory.return_full_code() == "a = 1\n\nb = a + 1\n\nfinal_answer(b)"


def test_print_limit_given_twice_is_merged_and_executor_kwargs_win() -> None:
    agent = CodeAgent(
        tools=[],
        model=ScriptedModel([]),
        max_print_outputs_length=100,
        executor_kwargs={"max_print_outputs_length": 20},
    )
    assert agent.python_executor.max_print_outputs_length == 20
    only_agent_level = CodeAgent(tools=[], model=ScriptedModel([]), max_print_outputs_length=100)
    assert only_agent_level.python_executor.max_print_outputs_length == 100


def test_a_plain_function_is_not_accepted_as_model() -> None:
    def my_model(messages):
        return "Thought: hi"

    with pytest.raises(UserError, match=r"generate\(messages, stop_sequences=None") as info:
        CodeAgent(tools=[], model=my_model)
    assert "my_model" in str(info.value)


@pytest.mark.parametrize("level, expected", [(-5, -1), (0, 0), (2, 2), (3, 2), (10, 2)])
def test_verbosity_level_accepts_any_int(level: int, expected: int) -> None:
    agent = CodeAgent(tools=[], model=ScriptedModel([]), verbosity_level=level)
    assert int(agent.logger.level) == expected  # higher is more verbose; past DEBUG prints everything


def test_verbosity_level_must_be_an_int() -> None:
    with pytest.raises(UserError, match="verbosity_level must be an int"):
        CodeAgent(tools=[], model=ScriptedModel([]), verbosity_level="info")


def test_run_result_token_usage_is_none_when_the_model_reports_none() -> None:
    from smolagents import ChatMessage, Model

    class NoUsageModel(Model):
        def generate(self, messages, stop_sequences=None, **kwargs):
            return ChatMessage(role="assistant", content="Thought: done\n<code>final_answer(7)</code>")

    agent = CodeAgent(tools=[], model=NoUsageModel(model_id="no-usage"), verbosity_level=-1)
    result = agent.run("seven", return_full_result=True)
    assert result.output == 7
    assert result.token_usage is None  # unknown, not zero
    counted = CodeAgent(
        tools=[], model=ScriptedModel(["Thought: x\n<code>final_answer(1)</code>"]), verbosity_level=-1
    ).run("one", return_full_result=True)
    assert counted.token_usage is not None and counted.token_usage.total_tokens > 0


def test_run_wraps_text_and_image_answers_in_agent_types() -> None:
    from PIL import Image

    from smolagents import AgentImage, AgentText

    text = CodeAgent(
        tools=[], model=ScriptedModel(["Thought: x\n<code>final_answer('hello')</code>"]), verbosity_level=-1
    ).run("greet")
    assert isinstance(text, AgentText) and text == "hello"
    number = CodeAgent(
        tools=[], model=ScriptedModel(["Thought: x\n<code>final_answer(41 + 1)</code>"]), verbosity_level=-1
    ).run("count")
    assert number == 42 and type(number) is int  # other values unchanged
    agent = CodeAgent(
        tools=[], model=ScriptedModel(["Thought: x\n<code>final_answer(picture)</code>"]), verbosity_level=-1
    )
    image = agent.run("show", additional_args={"picture": Image.new("RGB", (2, 2))})
    assert isinstance(image, AgentImage)


def test_memory_step_base_dict_is_empty() -> None:
    from smolagents.memory import MemoryStep

    assert MemoryStep().dict() == {}


def test_agent_named_like_its_tool_is_refused() -> None:
    with pytest.raises(UserError, match="named 'final_answer' like one of its tools"):
        CodeAgent(tools=[], model=ScriptedModel([]), name="final_answer", description="x")


def test_system_prompt_cannot_be_assigned() -> None:
    agent = CodeAgent(tools=[], model=ScriptedModel([]))
    assert "final_answer" in agent.system_prompt
    with pytest.raises(UserError, match=r'prompt_templates\["system_prompt"\]'):
        agent.system_prompt = "You are a pirate."


def test_a_sync_code_agent_run_does_not_import_asyncio() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from smolagents import CodeAgent\n"
        "from smolagents.testing import ScriptedModel\n"
        "agent = CodeAgent(tools=[], model=ScriptedModel(['Thought: x\\n<code>final_answer(1)</code>']), "
        "verbosity_level=-1)\n"
        "assert agent.run('one') == 1\n"
        "print('asyncio' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-800:]
    assert result.stdout.strip() == "False"


def test_full_result_and_memory_serialise_objects_of_sandbox_classes() -> None:
    import json

    define = "Thought: x\n<code>class P:\n    def __repr__(self):\n        return 'P!'\np = P()\np</code>"
    answer = "Thought: y\n<code>final_answer(p)</code>"
    agent = CodeAgent(tools=[], model=ScriptedModel([define, answer]), verbosity_level=2)
    result = agent.run("make a P", return_full_result=True)
    assert type(result.output).__name__ == "P"
    dumped = json.dumps(result.dict())  # the sandbox __repr__ cannot run now: the type names it
    assert "<P object defined in the sandbox>" in dumped
    assert json.dumps(agent.memory.get_full_steps())
