"""The interactive ``smolagent`` driven in a real terminal (a pseudo-terminal via pexpect)."""

from __future__ import annotations

import os
import sys

import pexpect

from smolagents.testing.openai_server import OpenAICompatibleServer, ServerReply


def _env() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"TERM": "dumb", "COLUMNS": "200", "NO_COLOR": "1"})
    return env


def test_interactive_setup_asks_for_model_and_tools_then_runs_tasks() -> None:
    replies = [
        ServerReply(content="Thought: easy.\n<code>\nfinal_answer(2 + 2)\n</code>"),
    ]
    with OpenAICompatibleServer(replies) as server:
        child = pexpect.spawn(
            sys.executable, ["-m", "smolagents.cli", "--verbosity-level", "-1"],
            env=_env(), encoding="utf-8", timeout=60, dimensions=(50, 200),
        )  # fmt: skip
        try:
            child.expect("Agent type")
            child.sendline("nonsense")  # a bad choice is refused and asked again
            child.expect("Please select one of the available options")
            child.expect("Agent type")
            child.sendline("code")
            child.expect("no model is configured")  # nothing in the environment: ask for one
            child.expect("Model type")
            child.sendline("OpenAIModel")
            child.expect("Model id")
            child.sendline("test-model")
            child.expect("API base URL")
            child.sendline(server.base_url)
            child.expect("API key")
            child.sendline("")
            child.expect("Model: OpenAIModel test-model")
            child.expect("Tools")
            child.sendline("no_such_tool")
            child.expect(r"Unknown tool\(s\) \['no_such_tool'\]")
            child.expect("Tools")
            child.sendline("")
            child.expect("smolagent> ")
            child.sendline("What is 2 + 2?")
            child.expect(r"\r\n4\r\n")
            child.expect("smolagent> ")
            child.sendline("")
            child.expect(pexpect.EOF)
        finally:
            child.close()
        assert child.exitstatus == 0
        assert server.requests[0].json["model"] == "test-model"
        assert "What is 2 + 2?" in str(server.requests[0].json["messages"])


def test_ctrl_d_during_setup_quits_cleanly() -> None:
    child = pexpect.spawn(sys.executable, ["-m", "smolagents.cli"], env=_env(), encoding="utf-8", timeout=60)
    child.expect("Agent type")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
