"""The smolagent CLI: model from flags or environment, a clear message when there is none."""

from __future__ import annotations

import os
import subprocess
import sys

import openai  # noqa: F401  (in the test extra: fail if missing, never skip)
import pytest

from smolagents.cli import build_model, main
from smolagents.testing.openai_server import OpenAICompatibleServer, ServerReply

MODEL_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HF_TOKEN", "SMOLAGENTS_MODEL_ID")


@pytest.fixture
def clean_env(monkeypatch):
    for name in MODEL_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_model_exits_non_zero_with_instructions():
    env = {k: v for k, v in os.environ.items() if k not in MODEL_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "smolagents.cli", "hello"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 2
    assert "no model is configured" in proc.stderr
    assert "OPENAI_API_KEY" in proc.stderr and "--model-type" in proc.stderr


def test_unknown_model_type_is_named(clean_env, capsys):
    assert main(["hi", "--model-type", "NoSuchModel"]) == 2
    err = capsys.readouterr().err
    assert "NoSuchModel" in err and "OpenAIModel" in err


def test_model_from_environment(clean_env):
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    clean_env.setenv("SMOLAGENTS_MODEL_ID", "local-llama")
    model = build_model(None, None)
    assert type(model).__name__ == "OpenAIModel" and model.model_id == "local-llama"


def test_cli_runs_a_tool_calling_agent_against_a_server(clean_env, capsys):
    reply = ServerReply(tool_calls=[{"name": "final_answer", "arguments": {"answer": "366 days"}}])
    with OpenAICompatibleServer([reply]) as server:
        code = main(
            ["How long is a leap year?", "--action-type", "tool_calling", "--api-base", server.base_url,
             "--api-key", "k", "--model-id", "test-model", "--verbosity-level", "-1"]
        )  # fmt: skip
        assert code == 0
        assert capsys.readouterr().out.strip().endswith("366 days")
        assert server.requests[0].json["model"] == "test-model"
        assert "How long is a leap year?" in str(server.requests[0].json["messages"])


def test_interactive_session_reads_tasks_until_empty_line(clean_env, capsys, monkeypatch):
    replies = [
        ServerReply(tool_calls=[{"name": "final_answer", "arguments": {"answer": "first answer"}}]),
        ServerReply(tool_calls=[{"name": "final_answer", "arguments": {"answer": "second answer"}}]),
    ]
    inputs = iter(["task one", "task two", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(inputs))
    with OpenAICompatibleServer(replies) as server:
        clean_env.setenv("OPENAI_BASE_URL", server.base_url)
        assert main(["--action-type", "tool_calling", "--verbosity-level", "-1"]) == 0
        # the second task continues the conversation
        assert "task one" in str(server.requests[1].json["messages"])
    out = capsys.readouterr().out
    assert "first answer" in out and "second answer" in out


def test_flags_are_mapped_to_each_model_class_parameter_names(clean_env):
    model = build_model("AzureOpenAIModel", "my-deployment", api_base="http://127.0.0.1:9", api_key="k")
    assert type(model).__name__ == "AzureOpenAIModel" and model.azure_endpoint == "http://127.0.0.1:9"


def test_env_picks_azure_when_only_azure_is_configured(clean_env):
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:9")
    clean_env.setenv("AZURE_OPENAI_API_KEY", "k")
    clean_env.setenv("OPENAI_API_VERSION", "2024-10-21")
    clean_env.setenv("SMOLAGENTS_MODEL_ID", "dep")
    assert type(build_model(None, None)).__name__ == "AzureOpenAIModel"


def test_cli_default_action_type_runs_a_code_agent(clean_env, capsys):
    reply = ServerReply(
        content="Thought: compute it.\n<code>\nimport math\nfinal_answer(math.factorial(5))\n</code>"
    )
    with OpenAICompatibleServer([reply]) as server:
        code = main(
            [
                "5!?",
                "--api-base",
                server.base_url,
                "--api-key",
                "k",
                "--imports",
                "numpy",
                "--verbosity-level",
                "-1",
            ]
        )
        assert code == 0
        assert capsys.readouterr().out.strip().endswith("120")
        system = str(server.requests[0].json["messages"][0])
        assert "numpy" in system and "<code>" in system
