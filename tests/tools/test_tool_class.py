"""Tool subclasses: definition checks, calling conventions, setup, async, prompts."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from smolagents.errors import UserError
from smolagents.tools import Tool, tool


class AddTool(Tool):
    name = "add"
    description = "Adds two numbers."
    inputs = {
        "a": {"type": "number", "description": "First number."},
        "b": {"type": "number", "description": "Second number.", "nullable": True},
    }
    output_type = "number"

    def forward(self, a: float, b: float | None) -> float:
        return a + (b or 0)


class ModelDownloadTool(Tool):
    """The subclass example from the docs (without the network call)."""

    name = "model_download_tool"
    description = "Returns the most downloaded model of a given task on the Hugging Face Hub."
    inputs = {"task": {"type": "string", "description": "The task for which to get the download count."}}
    output_type = "string"

    def forward(self, task: str) -> str:
        return f"model-for-{task}"


class RetrieverTool(Tool):
    """The RAG example from the docs: __init__ with arguments, attributes set after super()."""

    name = "retriever"
    description = "Retrieves documents."
    inputs = {"query": {"type": "string", "description": "The query."}}
    output_type = "string"

    def __init__(self, docs: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.docs = docs

    def forward(self, query: str) -> str:
        return "\n".join(doc for doc in self.docs if query in doc)


def test_docs_examples_work() -> None:
    assert ModelDownloadTool()(task="text-to-video") == "model-for-text-to-video"
    assert RetrieverTool(["a cat", "a dog"])("cat") == "a cat"


# ----------------------------------------------------------------- definition checks


def test_bad_input_type_fails_at_class_definition() -> None:
    with pytest.raises(UserError) as info:

        class BadType(Tool):
            name = "bad"
            description = "Bad."
            inputs = {"x": {"type": "text", "description": "x"}}
            output_type = "string"

            def forward(self, x: str) -> str:
                return x

    message = str(info.value)
    assert "BadType" in message
    assert "inputs['x'] has type 'text'" in message
    assert "string" in message  # lists the allowed types


def test_missing_input_description_and_bad_output_type() -> None:
    with pytest.raises(UserError) as info:

        class NoDescription(Tool):
            name = "nodesc"
            description = "No description."
            inputs = {"x": {"type": "string"}}
            output_type = "str"

            def forward(self, x: str) -> str:
                return x

    message = str(info.value)
    assert "NoDescription" in message
    assert "inputs['x'] has no 'description'" in message
    assert "'output_type' is 'str'" in message


def test_forward_signature_must_match_inputs() -> None:
    class Mismatch(Tool):
        name = "mismatch"
        description = "Mismatched."
        inputs = {"query": {"type": "string", "description": "q"}}
        output_type = "string"

        def forward(self, querry: str) -> str:
            return querry

    with pytest.raises(UserError) as info:
        Mismatch()
    message = str(info.value)
    assert "Mismatch" in message
    assert "['query'] are not parameters of forward" in message
    assert "['querry'] have no entry in 'inputs'" in message


def test_missing_attributes_and_forward() -> None:
    class Incomplete(Tool):
        description = "Has no name, inputs, output_type or forward."

    with pytest.raises(UserError) as info:
        Incomplete()
    message = str(info.value)
    for expected in (
        "Incomplete",
        "no 'name'",
        "no 'inputs'",
        "no 'output_type'",
        "does not implement forward",
    ):
        assert expected in message


def test_invalid_name() -> None:
    class BadName(Tool):
        name = "bad name"
        description = "d"
        inputs = {}
        output_type = "string"

        def forward(self) -> str:
            return ""

    with pytest.raises(UserError, match="'name' is 'bad name'; use a valid Python identifier"):
        BadName()


def test_attributes_set_in_init_are_validated_after_init() -> None:
    class Dynamic(Tool):
        output_type = "string"

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name
            self.description = f"The {name} tool."
            self.inputs = {"x": {"type": "string", "description": "x"}}

        def forward(self, x: str) -> str:
            return x

    assert Dynamic("echo")("hi") == "hi"
    with pytest.raises(UserError, match="'name' is 'not valid'"):
        Dynamic("not valid")


def test_forward_with_extra_defaulted_parameter_and_kwargs_is_allowed() -> None:
    class Extra(Tool):
        name = "extra"
        description = "d"
        inputs = {"x": {"type": "string", "description": "x"}}
        output_type = "string"

        def forward(self, x: str, suffix: str = "!") -> str:
            return x + suffix

    class Kwargs(Tool):
        name = "kw"
        description = "d"
        inputs = {"x": {"type": "string", "description": "x"}}
        output_type = "string"

        def forward(self, **kwargs: Any) -> str:
            return kwargs["x"]

    assert Extra()("a") == "a!"
    assert Kwargs()(x="b") == "b"


# ----------------------------------------------------------------- calling


def test_call_with_kwargs_single_dict_and_positional() -> None:
    add = AddTool()
    assert add(a=1, b=2) == 3
    assert add({"a": 1, "b": 2}) == 3
    assert add(1, 2) == 3
    assert add(1) == 1  # nullable input omitted -> None
    assert add({"a": 5}) == 5


def test_single_dict_for_object_input_is_passed_through() -> None:
    class Keys(Tool):
        name = "keys"
        description = "Lists keys."
        inputs = {"data": {"type": "object", "description": "a mapping"}}
        output_type = "array"

        def forward(self, data: dict[str, Any]) -> list[str]:
            return sorted(data)

    keys = Keys()
    assert keys({"z": 1, "y": 2}) == ["y", "z"]  # not the inputs' keys: one positional dict
    assert keys({"data": {"k": 1}}) == ["k"]  # exactly the inputs' keys: kwargs


def test_setup_runs_once_even_with_concurrent_calls() -> None:
    class Heavy(Tool):
        name = "heavy"
        description = "Loads something once."
        inputs = {}
        output_type = "integer"
        setups = 0

        def setup(self) -> None:
            type(self).setups += 1
            self.value = 42

        def forward(self) -> int:
            return self.value

    heavy = Heavy()
    assert not heavy.is_initialized
    threads = [threading.Thread(target=heavy) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert heavy() == 42
    assert heavy.is_initialized
    assert Heavy.setups == 1


def test_sanitize_inputs_outputs_wraps_strings() -> None:
    from smolagents.agent_types import AgentText

    @tool
    def shout(text: str) -> str:
        """Shouts.

        Args:
            text: what to shout.
        """
        return text.upper()

    result = shout(text=AgentText("hey"), sanitize_inputs_outputs=True)
    assert isinstance(result, AgentText)
    assert result == "HEY"
    assert type(shout(text="hey")) is str


def test_tool_decorated_function_behaves_like_the_function() -> None:
    @tool
    def multiply(a: int, b: int = 2) -> int:
        """Multiplies.

        Args:
            a: the first factor.
            b: the second factor.
        """
        return a * b

    assert multiply(3) == 6
    assert multiply(3, 3) == 9
    assert multiply.forward(4, b=5) == 20
    assert "Multiplies." in multiply.__doc__
    assert isinstance(multiply, Tool)


# ----------------------------------------------------------------- async


@tool
async def async_echo(text: str, delay: float = 0.0) -> str:
    """Echoes after a delay.

    Args:
        text: what to echo.
        delay: seconds to wait.
    """
    await asyncio.sleep(delay)
    return f"echo:{text}"


class AsyncSubclass(Tool):
    name = "async_sub"
    description = "Async subclass."
    inputs = {"x": {"type": "integer", "description": "x"}}
    output_type = "integer"

    async def forward(self, x: int) -> int:
        await asyncio.sleep(0)
        return x + 1


def test_async_tools_are_detected() -> None:
    assert async_echo.is_async
    assert AsyncSubclass().is_async
    assert not AddTool().is_async


def test_async_tool_sync_call_without_loop() -> None:
    assert async_echo("a") == "echo:a"
    assert AsyncSubclass()(x=1) == 2


def test_async_tool_sync_call_inside_running_loop() -> None:
    async def main() -> str:
        return async_echo(text="inside")  # a sync call, while this thread's loop is running

    assert asyncio.run(main()) == "echo:inside"


def test_acall_awaits_async_and_threads_sync_tools() -> None:
    seen_threads: list[int] = []

    @tool
    def where(x: int) -> int:
        """Records the calling thread.

        Args:
            x: a number.
        """
        seen_threads.append(threading.get_ident())
        return x * 10

    async def main() -> tuple[str, int, int, list[Any]]:
        concurrent = await asyncio.gather(
            async_echo.acall(text="1", delay=0.01), async_echo.acall({"text": "2"})
        )
        return (
            await async_echo.acall(text="x"),
            await where.acall(x=2),
            await AsyncSubclass().acall(3),
            concurrent,
        )

    echoed, threaded, sub, concurrent = asyncio.run(main())
    assert (echoed, threaded, sub) == ("echo:x", 20, 4)
    assert concurrent == ["echo:1", "echo:2"]
    assert seen_threads and seen_threads[0] != threading.get_ident()


# ----------------------------------------------------------------- prompts


def test_to_code_prompt() -> None:
    @tool
    def get_weather(location: str, celsius: bool = False) -> str:
        """Get weather in the next days at given location.

        Args:
            location: the location
            celsius: whether to use Celsius
        """
        return location

    assert get_weather.to_code_prompt() == (
        "def get_weather(location: string, celsius: boolean = False) -> string:\n"
        '    """Get weather in the next days at given location.\n'
        "\n"
        "    Args:\n"
        "        location: the location\n"
        "        celsius: whether to use Celsius\n"
        '    """'
    )


def test_to_code_prompt_includes_output_schema() -> None:
    class UserLookup(Tool):
        name = "get_user"
        description = "Looks up a user."
        inputs = {"user_id": {"type": "integer", "description": "The user's id."}}
        output_type = "object"
        output_schema = {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        }

        def forward(self, user_id: int) -> dict[str, Any]:
            return {"name": "Ada", "age": 36}

    prompt = UserLookup().to_code_prompt()
    assert prompt.startswith("def get_user(user_id: integer) -> dict:\n")
    assert "Returns:" in prompt
    assert "JSON schema" in prompt
    schema_start = prompt.index("{")
    schema_text = prompt[schema_start : prompt.rindex("}") + 1]
    assert json.loads(schema_text) == UserLookup.output_schema
    assert "JSON schema" in UserLookup().to_tool_calling_prompt()


def test_to_code_prompt_lists_enum_values_and_returns() -> None:
    from typing import Literal

    @tool
    def convert(amount: float, unit: Literal["km", "mi"]) -> float:
        """Converts a distance.

        Args:
            amount: the distance
            unit: the target unit

        Returns:
            The converted distance.
        """
        return amount

    prompt = convert.to_code_prompt()
    assert "unit: the target unit. Allowed values: 'km', 'mi'." in prompt
    assert "Returns:\n        number: The converted distance." in prompt


def test_to_tool_calling_prompt() -> None:
    prompt = ModelDownloadTool().to_tool_calling_prompt()
    assert prompt.startswith("model_download_tool: Returns the most downloaded model")
    assert "\n    Takes inputs: {'task': {'type': 'string'" in prompt
    assert prompt.endswith("\n    Returns an output of type: string")


def test_to_json_schema_openai_format() -> None:
    @tool
    def search(query: str, limit: int | None = None, anything: Any = None, picture: Any = None) -> str:
        """Searches.

        Args:
            query: the query.
            limit: how many.
            anything: any value.
            picture: unused.
        """
        return query

    schema = search.to_json_schema()
    assert schema["type"] == "function"
    function = schema["function"]
    assert function["name"] == "search"
    assert function["description"] == "Searches."
    params = function["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["query"]
    assert params["properties"]["query"] == {"type": "string", "description": "the query."}
    assert params["properties"]["limit"] == {"type": ["integer", "null"], "description": "how many."}
    assert params["properties"]["anything"] == {"description": "any value."}
    assert AddTool().to_json_schema()["function"]["parameters"]["required"] == ["a"]
