"""``smolagent batch``: tasks from a JSONL file, results to another, against a loopback server."""

from __future__ import annotations

import json
import re

import openai  # noqa: F401  (in the test extra: fail if missing, never skip)
import pytest

from smolagents.cli import main
from smolagents.testing.openai_server import OpenAICompatibleServer, ServerFailure, ServerReply


def echo_answer(request: dict) -> ServerReply | ServerFailure:
    """Answers each task with its number times ten (the task is in the conversation)."""
    text = json.dumps(request["messages"])
    if "explode" in text:
        return ServerFailure(status=400, body={"error": {"message": "bad request"}})
    number = int(re.search(r"number (\d+)", text).group(1))
    return ServerReply(tool_calls=[{"name": "final_answer", "arguments": {"answer": number * 10}}])


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HF_TOKEN", "SMOLAGENTS_MODEL_ID"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_batch_command_runs_a_tasks_file_and_resumes(backend, tmp_path, clean_env):
    tasks_file, out = tmp_path / "tasks.jsonl", tmp_path / "results.jsonl"
    lines = [json.dumps({"id": f"q{n}", "task": f"Multiply number {n} by ten."}) for n in range(6)]
    tasks_file.write_text("\n".join([*lines, "", json.dumps("Multiply number 7 by ten.")]) + "\n")
    with OpenAICompatibleServer(default=echo_answer) as server:
        flags = ["--action-type", "tool_calling", "--api-base", server.base_url, "--api-key", "k"]
        flags += ["--model-id", "test-model", "--max-steps", "2", "--quiet"]
        code = main(
            ["batch", str(tasks_file), "--out", str(out), "--backend", backend, "--concurrency", "3", *flags]
        )
        assert code == 0
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted((r["id"], r["output"], r["error"]) for r in records) == [
            ("6", 70, None),  # a plain string task gets its position among the tasks
            *[(f"q{n}", n * 10, None) for n in range(6)],
        ]
        requests = len(server.requests)
        # the same command again: everything is done, no model call is made
        assert main(["batch", str(tasks_file), "--out", str(out), *flags]) == 0
        assert len(server.requests) == requests
        # a new task is appended: only it runs, and its failure sets the exit status
        with tasks_file.open("a") as handle:
            handle.write(json.dumps({"id": "boom", "task": "Please explode."}) + "\n")
        assert main(["batch", str(tasks_file), "--out", str(out), *flags]) == 1
        last = json.loads(out.read_text().splitlines()[-1])
        assert last["id"] == "boom" and last["error"]


def test_batch_command_without_a_model_or_with_a_bad_file_exits_2(tmp_path, clean_env, capsys):
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text('"ok"\nnot json\n')
    assert main(["batch", str(tasks_file), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "no model is configured" in capsys.readouterr().err
    args = ["--api-base", "http://127.0.0.1:9/v1", "--api-key", "k"]
    assert main(["batch", str(tasks_file), "--out", str(tmp_path / "o.jsonl"), *args]) == 2
    assert "tasks.jsonl:2: not JSON" in capsys.readouterr().err
