"""Context policy: the prompt is a bounded view of memory; memory itself is never changed.

Scripted transcripts check each part of the view (observation cuts, the summary of old
steps and its reuse, the token budget, dropped images, provider cache hints) and that the
default is today's full replay.
"""

from __future__ import annotations

import asyncio
import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported

from smolagents import CodeAgent, ToolCallingAgent
from smolagents.agents._context import ContextBudgetError, ContextPolicy, count_message_tokens
from smolagents.errors import UserError
from smolagents.memory import ActionStep
from smolagents.models import ChatMessage
from smolagents.testing import ScriptedModel


def _texts(messages: list[ChatMessage]) -> str:
    out = []
    for message in messages:
        for part in message.content if isinstance(message.content, list) else [message.content]:
            if isinstance(part, dict) and part.get("type") == "text":
                out.append(part["text"])
            elif isinstance(part, str):
                out.append(part)
    return "\n".join(out)


def _code_run(steps: int, size: int = 2000) -> list[str]:
    """A script: ``steps`` code actions printing ``size`` characters, then the answer."""
    replies = [f"<code>\nprint('{chr(97 + i % 26)}' * {size})\n</code>" for i in range(steps)]
    return [*replies, "<code>\nfinal_answer('done')\n</code>"]


def _agent(model: ScriptedModel, policy: ContextPolicy | None, **kwargs) -> CodeAgent:
    return CodeAgent([], model, verbosity_level=0, context_policy=policy, **kwargs)


# --------------------------------------------------------------------------- the policy object
def test_policy_rejects_bad_values_with_a_clear_message():
    with pytest.raises(UserError, match=r"keep_last_steps=-1.*integer >= 0"):
        ContextPolicy(keep_last_steps=-1)
    with pytest.raises(UserError, match="summarizer must be a Model"):
        ContextPolicy(summarizer="gpt-4o")
    with pytest.raises(UserError, match=r"context_policy must be a smolagents\.ContextPolicy"):
        CodeAgent([], ScriptedModel([]), context_policy={"keep_last_steps": 3})


def test_default_is_full_replay_and_an_empty_policy_builds_the_same_messages():
    plain = ScriptedModel(_code_run(3))
    viewed = ScriptedModel(_code_run(3))
    _agent(plain, None).run("count")
    _agent(viewed, ContextPolicy()).run("count")
    assert [_texts(c.messages) for c in plain.calls] == [_texts(c.messages) for c in viewed.calls]


# --------------------------------------------------------------------------- observations
def test_long_observations_are_cut_in_the_prompt_but_intact_in_memory():
    model = ScriptedModel(_code_run(2, size=5000))
    agent = _agent(model, ContextPolicy(max_observation_chars=600))
    assert agent.run("print things") == "done"
    prompt = _texts(model.calls[-1].messages)
    assert "characters cut from this observation by the context policy" in prompt
    assert "agent.memory.steps[1].observations" in prompt
    assert "a" * 5000 not in prompt and "a" * 300 in prompt
    step = agent.memory.steps[1]
    assert isinstance(step, ActionStep) and "a" * 5000 in step.observations  # memory is untouched
    full_record = agent.memory.get_full_steps()[1]["observations"]
    assert "a" * 5000 in full_record


# --------------------------------------------------------------------------- summary
def test_old_steps_are_replaced_by_one_digest_from_the_right_step_and_it_is_reused():
    model = ScriptedModel(_code_run(6, size=300))
    agent = _agent(model, ContextPolicy(keep_last_steps=2))
    agent.run("print things")
    texts = [_texts(c.messages) for c in model.calls]
    # calls 1-3 see at most 2 earlier steps: no summary yet
    assert all("Summary of" not in t for t in texts[:3])
    # call 4 sees steps 1-3: step 1 is folded into the summary, steps 2-3 stay verbatim
    assert "Summary of steps 1-1" in texts[3]
    assert "print('a' * 300)" not in texts[3].split("Summary of steps 1-1")[1].split("\n- Step 1")[0]
    assert "- Step 1: ran code `print('a' * 300)`" in texts[3]
    assert "print('b' * 300)" in texts[3] and "- Step 2:" not in texts[3]
    # the last call: steps 1-4 summarised, 5-6 verbatim; each digest line was written once
    assert "Summary of steps 1-4" in texts[-1]
    digest = texts[-1].split("Summary of steps 1-4")[1]
    for n in (1, 2, 3, 4):
        assert digest.count(f"- Step {n}:") == 1
    view = agent._context_view()
    assert view.summary_updates == 4  # extended once per newly-old step, never rebuilt
    assert [s.step_number for s in view.folded] == [1, 2, 3, 4]
    assert len(agent.memory.steps) == 8  # task + 7 steps: memory keeps everything


def test_summarizer_model_extends_its_previous_summary_incrementally():
    summarizer = ScriptedModel(["S1: printed a", "S1+S2: printed a then b", "S1..S3"])
    model = ScriptedModel(_code_run(4, size=100))
    agent = _agent(model, ContextPolicy(keep_last_steps=1, summarizer=summarizer))
    agent.run("print things")
    assert len(summarizer.calls) == 3  # one call per newly-old step, not one per step of the run
    second = _texts(summarizer.calls[1].messages)
    assert "Current summary:\nS1: printed a" in second and "- Step 2:" in second and "- Step 1:" not in second
    assert "S1..S3" in _texts(model.calls[-1].messages)


def test_summarize_every_batches_folds_so_the_prefix_stays_stable():
    summarizer = ScriptedModel(["first", "second"])
    model = ScriptedModel(_code_run(8, size=100))
    policy = ContextPolicy(keep_last_steps=1, summarizer=summarizer, summarize_every=3)
    _agent(model, policy).run("print things")
    assert len(summarizer.calls) == 2
    summaries = [
        t.split("memory):\n")[1].split("\n")[0] if "memory):" in t else None
        for t in map(_texts, (c.messages for c in model.calls))
    ]
    # call k sees k-1 steps; 3 newly-old steps are folded at once (calls 5 and 8)
    assert summaries == [None] * 4 + ["first"] * 3 + ["second"] * 2


def test_a_failing_summarizer_falls_back_to_the_digest():
    summarizer = ScriptedModel([RuntimeError("summarizer down")])
    model = ScriptedModel(_code_run(2, size=100))
    assert _agent(model, ContextPolicy(keep_last_steps=1, summarizer=summarizer)).run("go") == "done"
    assert "- Step 1: ran code" in _texts(model.calls[-1].messages)


def test_summarizer_calls_are_awaited_in_async_runs():
    summarizer = ScriptedModel(["async summary"])
    model = ScriptedModel(_code_run(2, size=100))
    agent = _agent(model, ContextPolicy(keep_last_steps=1, summarizer=summarizer))
    assert asyncio.run(agent.arun("go")) == "done"
    assert "async summary" in _texts(model.calls[-1].messages)


def test_digest_stops_growing_past_max_summary_chars():
    model = ScriptedModel(_code_run(12, size=100))
    agent = _agent(model, ContextPolicy(keep_last_steps=1, max_summary_chars=400))
    agent.run("go")
    last = _texts(model.calls[-1].messages)
    assert "earlier steps, in brief: calls: code runs x" in last
    summary = agent._context_view().summary
    assert len(summary) <= 400 + 200  # the counts line plus lines under the cap


# --------------------------------------------------------------------------- budget
@pytest.mark.parametrize("agent_kind", ["code", "tool_calling"])
def test_the_prompt_never_exceeds_max_input_tokens(agent_kind, quiet_logger):
    budget = 1500
    if agent_kind == "code":
        model = ScriptedModel(_code_run(10, size=1500))
        agent = CodeAgent(
            [], model, logger=quiet_logger, context_policy=ContextPolicy(max_input_tokens=budget)
        )
    else:
        from smolagents import tool

        @tool
        def fetch(page: int) -> str:
            """Fetch a page.

            Args:
                page: page number.
            """
            return f"page {page}: " + "lorem ipsum " * 150

        calls = [ScriptedModel.tool_call("fetch", {"page": i}) for i in range(10)]
        model = ScriptedModel([*calls, ScriptedModel.tool_call("final_answer", {"answer": "done"})])
        agent = ToolCallingAgent(
            [fetch], model, logger=quiet_logger, context_policy=ContextPolicy(max_input_tokens=budget)
        )
    assert agent.run("go") == "done"
    view = agent._context_view()
    overhead = view._count(agent._prompt_overhead_text()) if agent._prompt_overhead_text() else 0
    sizes = [count_message_tokens(c.messages, view._count) + overhead for c in model.calls]
    assert max(sizes) <= budget
    assert sizes[-1] < sum(sizes) / len(sizes) * 2  # it was squeezed, not just small
    assert (
        "counted with an estimate" in quiet_logger.buffer.getvalue()
    )  # the logs say how tokens were counted


def test_a_prompt_that_cannot_fit_stops_the_run_with_a_clear_error():
    model = ScriptedModel(_code_run(1), allow_unused_replies=True)  # no model call happens
    agent = _agent(model, ContextPolicy(max_input_tokens=50))
    with pytest.raises(ContextBudgetError, match="Raise max_input_tokens"):
        agent.run("go")


def test_the_models_tokenizer_is_used_when_it_has_one(quiet_logger):
    class Tokenizer:
        def encode(self, text: str) -> list[int]:
            return [0] * len(text.split())

    model = ScriptedModel(_code_run(1))
    model.tokenizer = Tokenizer()
    agent = CodeAgent([], model, logger=quiet_logger, context_policy=ContextPolicy(max_input_tokens=100_000))
    agent.run("go")
    assert "counted with the model's tokenizer (Tokenizer)" in quiet_logger.buffer.getvalue()


# --------------------------------------------------------------------------- images
def test_images_of_older_steps_are_dropped_from_the_prompt_only():
    def screenshot(step, agent):
        if isinstance(step, ActionStep):
            step.observations_images = [f"https://example.com/shot{step.step_number}.png"]

    model = ScriptedModel(_code_run(3, size=10))
    agent = _agent(model, ContextPolicy(keep_images_steps=1), step_callbacks=[screenshot])
    agent.run("browse")
    last = model.calls[-1].messages
    images = [p["image"] for m in last for p in m.content if isinstance(p, dict) and p.get("type") == "image"]
    assert images == ["https://example.com/shot3.png"]
    assert _texts(last).count("image(s) of this older step dropped by the context policy") == 2
    assert agent.memory.steps[1].observations_images == ["https://example.com/shot1.png"]


# --------------------------------------------------------------------------- cache hints
def _parts_with(messages: list[dict], key: str) -> list[dict]:
    found = []
    for message in messages:
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if key in part:
                found.append(part)
    return found


def test_cache_hints_reach_a_litellm_server(monkeypatch):
    litellm = pytest.importorskip("litellm")
    monkeypatch.setattr(litellm, "suppress_debug_info", True)
    from smolagents.models.litellm import LiteLLMModel
    from smolagents.testing.openai_server import OpenAICompatibleServer

    replies = [f"<code>\nprint({i})\n</code>" for i in range(3)] + ["<code>\nfinal_answer('ok')\n</code>"]
    with OpenAICompatibleServer(replies=replies) as server:
        model = LiteLLMModel(
            "openai/claude-test", api_base=server.base_url, api_key="k", retry_base_delay=0.001
        )
        agent = _agent(model, ContextPolicy(keep_last_steps=1, cache_hints=True))
        assert agent.run("go") == "ok"
        last = server.requests[-1].json["messages"]
    marked = _parts_with(last, "cache_control")
    assert len(marked) == 3  # system prompt, task + summary, last message
    assert last[0]["role"] == "system" and "cache_control" in last[0]["content"][-1]
    assert "Summary of steps" in marked[1]["text"] and "New task:" in marked[1]["text"]
    assert marked[2] is last[-1]["content"][-1]


def test_cache_points_reach_a_bedrock_server(monkeypatch, tmp_path):
    pytest.importorskip("boto3")
    from smolagents.models.bedrock import AmazonBedrockModel
    from smolagents.testing.bedrock_server import BedrockConverseServer

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    replies = [f"<code>\nprint({i})\n</code>" for i in range(2)] + ["<code>\nfinal_answer('ok')\n</code>"]
    with BedrockConverseServer(replies=replies) as server:
        model = AmazonBedrockModel(
            "anthropic.claude-test", client_kwargs={"endpoint_url": server.url}, retry_base_delay=0.001
        )
        agent = _agent(model, ContextPolicy(keep_last_steps=1))  # hints chosen from the model kind
        assert agent.run("go") == "ok"
        body = server.requests[-1].json
        model.close()
    points = _parts_with(body["messages"], "cachePoint")
    assert len(points) == 2  # after the task + summary, and at the end
    assert body["messages"][-1]["content"][-1] == {"cachePoint": {"type": "default"}}


def test_no_cache_hints_for_models_that_do_not_take_them():
    model = ScriptedModel(_code_run(2))
    _agent(model, ContextPolicy(keep_last_steps=1)).run("go")
    assert "cache_control" not in str(model.calls[-1].messages)
    assert "cachePoint" not in str(model.calls[-1].messages)


def test_replay_and_memory_are_unchanged_by_the_policy(quiet_logger):
    model = ScriptedModel(_code_run(4, size=3000))
    agent = CodeAgent(
        [],
        model,
        logger=quiet_logger,
        context_policy=ContextPolicy(keep_last_steps=1, max_observation_chars=100),
    )
    agent.run("go")
    agent.replay()
    replayed = quiet_logger.buffer.getvalue()
    assert "characters cut" not in replayed.split("Replaying")[1]
    assert all(
        "d" * 3000 in s.observations
        for s in agent.memory.steps
        if isinstance(s, ActionStep) and s.step_number == 4
    )
