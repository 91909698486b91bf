"""The shared remote base on a minimal pipe transport: the contract, recovery, and hostile
results (a compromised remote side must never get code run on the host)."""

from __future__ import annotations

import base64
import json
import pickle
import re
import warnings
from pathlib import Path

import pytest

from smolagents import Tool, tool
from smolagents.errors import InterpreterError, UserError
from smolagents.local_python_executor import CodeOutput, PythonExecutor
from smolagents.remote_executors import (
    RemoteExecutorError,
    RemotePayloadError,
    RemotePythonExecutor,
    RemoteSessionLostError,
)
from smolagents.remote_executors._base import MARKER, format_remote_error, parse_envelope

from .conftest import PipeExecutor


class _OpensFile:
    """Unpickling this creates a file: proof that a pickle was (not) loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pickle_tree(path: Path) -> dict:
    return {"$t": "pickle", "v": base64.b64encode(pickle.dumps(_OpensFile(str(path)))).decode()}


def _replace_envelope(text: str, change) -> str:
    lines = []
    for line in text.split("\n"):
        if line.startswith(MARKER + " "):
            marker, nonce, body = line.split(" ", 2)
            line = f"{marker} {nonce} {change(json.loads(body))}"
        lines.append(line)
    return "\n".join(lines)


@pytest.fixture
def pipe():
    executor = PipeExecutor()
    yield executor
    executor.cleanup()


# ---------------------------------------------------------------- the contract
def test_is_a_python_executor_with_the_documented_methods(pipe):
    assert isinstance(pipe, PythonExecutor) and isinstance(pipe, RemotePythonExecutor)
    result = pipe.run_code_raise_errors("print('x')\n1")
    assert result == CodeOutput(output=1, logs="x\n", is_final_answer=False)
    assert pipe.install_packages(["json", "collections.*", "*"]) == []  # stdlib and wildcards: nothing to do


def test_run_code_raise_errors_rejects_non_text(pipe):
    with pytest.raises(UserError):
        pipe.run_code_raise_errors(b"1")  # type: ignore[arg-type]


def test_variables_travel_as_data_not_pickles(pipe):
    pipe.send_variables({"when": (1, {2})})
    sent = [program for program in pipe.programs if "'vars'" in program][-1]
    assert "pickle" not in sent and "$t" in sent
    assert pipe("when").output == (1, {2})


def test_unencodable_variable_names_it_and_pickle_needs_opt_in(pipe):
    class Custom:
        pass

    with pytest.raises(UserError, match=r"'thing'.*allow_pickle"):
        pipe.send_variables({"thing": Custom()})
    with pytest.raises(UserError, match="identifier"):
        pipe.send_variables({"not valid": 1})


def test_allow_pickle_warns():
    with pytest.warns(UserWarning, match="pickle"):
        executor = PipeExecutor(allow_pickle=True)
    try:
        executor.send_variables({"value": complex(1, 2)})
        assert executor("value").output == complex(1, 2)
    finally:
        executor.cleanup()


def test_tools_that_cannot_travel_are_refused(pipe):
    with pytest.raises(UserError, match="Managed agents"):
        pipe.send_tools({"helper": object()})
    with pytest.raises(UserError, match="identifier"):
        pipe.send_tools({"bad name": lambda: 1})


def _plain_helper(text: str) -> str:
    return text.upper()


def test_plain_functions_travel_as_source_and_tool_rebinding_lasts_one_call(pipe):
    pipe.send_tools({"shout": _plain_helper})
    assert pipe("shout('hi')").output == "HI"
    assert pipe("shout = 3\nshout").output == 3
    assert pipe("shout('again')").output == "AGAIN"


@tool
def loud(text: str) -> str:
    """Upper-case a text.

    Args:
        text: the text.
    """
    return text.upper()


@tool
def needs_a_missing_package(text: str) -> str:
    """A tool whose code imports a package that is not installed anywhere.

    Args:
        text: anything.
    """
    import no_such_package_for_smolagents_tests  # noqa: F401

    return text


def test_tool_requirements_are_installed_remotely_and_a_failure_names_them(monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: pip fails at once instead of retrying
    executor = PipeExecutor()
    try:
        with pytest.raises(RemoteExecutorError, match="no_such_package_for_smolagents_tests"):
            executor.send_tools({"needs": needs_a_missing_package})
        pip_calls = [program for program in executor.programs if "'pip'" in program]
        assert len(pip_calls) == 1 and "no_such_package_for_smolagents_tests" in pip_calls[0]
    finally:
        executor.cleanup()


class NeedsAnArgument(Tool):
    name = "needs_an_argument"
    description = "A tool that cannot be rebuilt without constructor arguments."
    inputs = {"x": {"type": "integer", "description": "anything"}}
    output_type = "integer"

    def __init__(self, required: int) -> None:
        super().__init__()
        self.required = required

    def forward(self, x: int) -> int:
        return x + self.required


def test_a_tool_that_cannot_be_rebuilt_is_refused_before_sending(pipe):
    with pytest.raises(UserError, match="required parameters"):
        pipe.send_tools({"needs_an_argument": NeedsAnArgument(1)})
    assert not [program for program in pipe.programs if "'tools'" in program]


def test_a_tool_failing_to_rebuild_remotely_is_a_clear_error(pipe):
    pipe("import sys\nsys.modules['smolagents.tools'] = None")  # the remote side cannot import it
    with pytest.raises(RemoteExecutorError, match=r"tools could not be installed.*ModuleNotFoundError"):
        pipe.send_tools({"loud": loud})


def test_unencodable_results_come_back_as_their_repr(pipe):
    output = pipe("class Thing:\n    def __repr__(self):\n        return 'Thing()'\nThing()").output
    assert output == "Thing()"


def test_print_output_is_truncated_to_the_limit():
    executor = PipeExecutor(max_print_outputs_length=100)
    try:
        logs = executor("print('a' * 1000)").logs
    finally:
        executor.cleanup()
    assert len(logs) < 300 and "truncated" in logs


# ---------------------------------------------------------------- recovery
def test_remote_dying_mid_call_is_the_steps_error_and_next_call_works(pipe):
    pipe.send_tools({"shout": _plain_helper})
    pipe.send_variables({"sent": 5})
    pipe("made = 1")
    with pytest.raises(RemoteSessionLostError, match="lost"):
        pipe("import os\nos._exit(3)")
    # tools and variables sent by the host are sent again; state made by code is gone
    assert pipe("shout('ok'), sent").output == ("OK", 5)
    with pytest.raises(InterpreterError, match="NameError"):
        pipe("made")


def test_silent_restart_is_detected(pipe):
    pipe("made = 1")
    pipe.kill_child()  # the next program reaches a fresh interpreter without the runtime
    pipe.process = None
    with pytest.raises(RemoteSessionLostError):
        pipe("made")
    assert pipe("2 + 2").output == 4


def test_cleanup_is_idempotent_and_final(pipe):
    pipe.cleanup()
    pipe.cleanup()
    assert pipe.process is None or pipe.process.poll() is not None
    with pytest.raises(RemoteExecutorError, match="cleaned up"):
        pipe("1")


# ---------------------------------------------------------------- hostile results
def test_remote_code_forcing_a_pickle_result_is_refused_and_never_unpickled(pipe, tmp_path):
    """The remote side flips its own codec to pickle (what a compromised remote could do):
    the host refuses the value and never runs the pickle."""
    marker = tmp_path / "pwned"
    pipe.send_variables({"path": str(marker)})
    code = (
        "import sys\nsys.modules['__smolagents_remote__']._config['allow_pickle'] = True\n"
        "import pathlib\n"
        "class Evil:\n    def __reduce__(self):\n        return (open, (path, 'w'))\n"
        "Evil()"
    )
    with pytest.raises(RemotePayloadError, match="pickle"):
        pipe(code)
    assert not marker.exists()


def test_forged_pickle_in_a_final_answer_is_refused(pipe, tmp_path):
    marker = tmp_path / "pwned"
    pipe.tamper = lambda program, text: _replace_envelope(
        text, lambda body: json.dumps({**body, "kind": "final", "value": _pickle_tree(marker)})
    )
    with pytest.raises(RemotePayloadError, match="refused"):
        pipe("1")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda body: "{not json", "not valid JSON"),
        (lambda body: json.dumps([1, 2]), "not a version-1"),
        (lambda body: json.dumps({**body, "v": 99}), "not a version-1"),
        (lambda body: json.dumps({**body, "kind": "exec"}), "unknown kind"),
        (lambda body: json.dumps({**body, "logs": {"a": 1}}), "'logs' is not text"),
        (lambda body: json.dumps({**body, "value": {"$t": "evil", "v": 1}}), "unknown tag"),
        (lambda body: json.dumps({**body, "kind": "error", "error": "boom"}), "without error details"),
        (
            lambda body: json.dumps({**body, "kind": "error", "error": {"type": 1, "message": ""}}),
            "wrong type",
        ),
        (lambda body: "[" * 100_000 + "]" * 100_000, "malformed"),
    ],
)
def test_malformed_results_are_refused(pipe, change, match):
    pipe.tamper = lambda program, text: _replace_envelope(text, change)
    with pytest.raises(RemotePayloadError, match=match):
        pipe("1")


def test_missing_duplicated_or_foreign_envelopes_are_refused(pipe):
    pipe.tamper = lambda program, text: "just some text\n"
    with pytest.raises(RemotePayloadError, match="no result"):
        pipe("1")
    pipe.tamper = lambda program, text: text + text
    with pytest.raises(RemotePayloadError, match="2 results"):
        pipe("1")
    pipe.tamper = lambda program, text: re.sub(rf"{MARKER} \w+ ", f"{MARKER} 0000 ", text)
    with pytest.raises(RemotePayloadError, match="does not belong"):
        pipe("1")
    pipe.tamper = None
    assert pipe("1").output == 1


def test_oversized_results_are_refused():
    with pytest.raises(RemotePayloadError, match="over the limit"):
        parse_envelope("x" * 101, "nonce", limit=100)


def test_hostile_error_type_names_are_not_trusted():
    text = format_remote_error({"type": "__import__('os').system('x')", "message": "m", "line": "y = 1"})
    assert text == "Code execution failed at line 'y = 1' due to: RemoteError: m"


def test_remote_side_refuses_pickled_variables(pipe, tmp_path):
    """The remote runtime decodes variables without pickle too (a forged host message)."""
    marker = tmp_path / "pwned-remote"
    envelope = pipe._op("vars", json.dumps({"x": _pickle_tree(marker)}))
    assert envelope["kind"] == "error" and "pickle" in envelope["error"]["message"]
    assert not marker.exists()


def test_prints_cannot_forge_the_result(pipe):
    forged = f"{MARKER} 0000 " + json.dumps({"v": 1, "kind": "final", "value": "forged", "logs": ""})
    result = pipe(f"print({forged!r})\n'real'")
    assert (result.output, result.is_final_answer) == ("real", False)
    assert forged in result.logs


def test_warnings_are_not_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        executor = PipeExecutor()
    executor.cleanup()


def test_importing_the_package_imports_no_sdk():
    import subprocess
    import sys

    code = (
        "import sys, smolagents.remote_executors as r\n"
        "print(sorted(m for m in ('docker', 'websocket', 'e2b_code_interpreter', 'modal') if m in sys.modules))\n"
        "print(r.DockerExecutor.__name__, r.KernelGatewayClient.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "DockerExecutor KernelGatewayClient"]
    import smolagents.remote_executors as package

    with pytest.raises(AttributeError, match="NoSuchExecutor"):
        package.NoSuchExecutor  # noqa: B018


def test_tools_run_where_smolagents_is_not_installed_without_installing_it() -> None:
    """A remote Python without smolagents gets the in-memory tool stand-in, never a pip
    install (which would bring another project's package from PyPI)."""
    from smolagents import Tool, tool

    class Doubler(Tool):
        name = "doubler"
        description = "Doubles a number."
        inputs = {"x": {"type": "integer", "description": "the number"}}
        output_type = "integer"

        def forward(self, x: int) -> int:
            return 2 * x

    @tool
    def greet(name: str, punctuation: str = "!") -> str:
        """Greets someone.

        Args:
            name: who to greet.
            punctuation: how to end.
        """
        return f"hello {name}{punctuation}"

    executor = PipeExecutor(python_flags=["-I", "-S"])  # no site-packages: no smolagents there
    installed: list[list[str]] = []
    executor.install_packages = lambda packages: installed.append(list(packages)) or []  # type: ignore[method-assign]
    try:
        assert executor("import importlib.util\nimportlib.util.find_spec('smolagents')").output is None
        executor.send_tools({"doubler": Doubler(), "greet": greet})
        assert executor("doubler(21)").output == 42
        assert executor("doubler(x=4) + doubler({'x': 1})").output == 10
        assert executor("greet('ada', punctuation='?')").output == "hello ada?"
        assert all("smolagents" not in packages for packages in installed)
    finally:
        executor.cleanup()
