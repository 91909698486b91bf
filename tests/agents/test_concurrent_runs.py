"""Concurrent runs on one agent (issue 8): each run isolated, the last finished run's memory
kept, and the docs' async Starlette example answering every request correctly."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest

from smolagents import ActionStep, CodeAgent, LogLevel, TaskStep, ToolCallingAgent, tool
from smolagents.models import ChatMessage, MessageRole, content_to_text
from smolagents.testing import ScriptedModel

call = ScriptedModel.tool_call
WORDS = ["alpha", "beta", "gamma", "delta"]


def _texts(messages) -> list[str]:
    return [content_to_text(m.content if isinstance(m, ChatMessage) else m["content"]) for m in messages]


def _task_word(messages) -> str:
    tasks = [t for t in _texts(messages) if t.startswith("New task:")]
    return re.search(r"Shout (\w+)", tasks[-1]).group(1)


def _observation(messages) -> str | None:
    observed = [t for t in _texts(messages) if t.startswith("Observation:")]
    return observed[-1].split("\n", 1)[1].strip() if observed else None


def tool_calling_reply(messages, **kwargs):
    """Step 1 shouts the task's word; step 2 answers with what this run's memory observed, so
    a run that saw another run's memory answers wrongly."""
    seen = _observation(messages)
    if seen is None:
        return call("shout", {"text": _task_word(messages)})
    return call("final_answer", {"answer": seen})


def code_reply(messages, **kwargs):
    """Step 1 keeps the shout in a sandbox variable; step 2 answers with that variable, so a
    run that shares another run's executor (or memory) answers wrongly."""
    if _observation(messages) is None:
        return f"Thought: shout it.\n<code>\nresult = shout(text='{_task_word(messages)}')\nprint(result)\n</code>"
    return "Thought: answer.\n<code>\nfinal_answer(result)\n</code>"


def make_agent(cls, reply, tools, runs: int):
    return cls(tools=tools, model=ScriptedModel([reply] * (2 * runs)), verbosity_level=LogLevel.OFF)


def shouting_tool(barrier: threading.Barrier | None = None):
    @tool
    def shout(text: str) -> str:
        """Upper-case some text.

        Args:
            text: the text to shout.
        """
        if barrier is not None:
            barrier.wait(timeout=30)  # every run is inside its first step at once
        return text.upper() + "!"

    return shout


def _check_last_run_kept(agent) -> None:
    tasks = [s for s in agent.memory.steps if isinstance(s, TaskStep)]
    actions = [s for s in agent.memory.steps if isinstance(s, ActionStep)]
    assert len(tasks) == 1 and len(actions) == 2  # one whole run, not a mix
    word = re.search(r"Shout (\w+)", tasks[0].task).group(1)
    assert actions[-1].is_final_answer and actions[-1].action_output == word.upper() + "!"


def test_four_concurrent_two_step_aruns_get_their_own_answers():
    agent = make_agent(ToolCallingAgent, tool_calling_reply, [shouting_tool()], runs=4)

    async def main():
        return await asyncio.gather(*(agent.arun(f"Shout {word}") for word in WORDS))

    assert asyncio.run(main()) == [w.upper() + "!" for w in WORDS]
    _check_last_run_kept(agent)


def test_four_concurrent_code_agent_aruns_get_their_own_answers():
    agent = make_agent(CodeAgent, code_reply, [shouting_tool()], runs=4)

    async def main():
        return await asyncio.gather(*(agent.arun(f"Shout {word}") for word in WORDS))

    assert asyncio.run(main()) == [w.upper() + "!" for w in WORDS]
    _check_last_run_kept(agent)


@pytest.mark.parametrize("cls", [ToolCallingAgent, CodeAgent])
def test_runs_from_four_threads_at_once_get_their_own_answers(cls):
    barrier = threading.Barrier(len(WORDS))  # only passes if all four runs are in flight together
    reply = tool_calling_reply if cls is ToolCallingAgent else code_reply
    agent = make_agent(cls, reply, [shouting_tool(barrier)], runs=4)
    results: dict[str, object] = {}

    def worker(word: str) -> None:
        results[word] = agent.run(f"Shout {word}")

    threads = [threading.Thread(target=worker, args=(word,)) for word in WORDS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {w: w.upper() + "!" for w in WORDS}
    _check_last_run_kept(agent)


def test_documented_starlette_example_answers_every_request():
    """The docs' async Starlette example: one shared agent, agent.run in worker threads."""
    import anyio.to_thread
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    barrier = threading.Barrier(len(WORDS))
    agent = make_agent(CodeAgent, code_reply, [shouting_tool(barrier)], runs=4)

    async def run_agent(request: Request):
        data = await request.json()
        task = data.get("task", "")
        result = await anyio.to_thread.run_sync(agent.run, task)
        return JSONResponse({"result": result})

    app = Starlette(routes=[Route("/run-agent", run_agent, methods=["POST"])])

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            responses = await asyncio.gather(
                *(client.post("/run-agent", json={"task": f"Shout {word}"}) for word in WORDS)
            )
        return [r.json()["result"] for r in responses]

    assert asyncio.run(main()) == [w.upper() + "!" for w in WORDS]


def test_a_stream_claims_the_agent_only_while_it_runs():
    agent = make_agent(ToolCallingAgent, tool_calling_reply, [shouting_tool()], runs=3)
    never_started = agent.run("Shout alpha", stream=True)  # not iterated: holds nothing
    assert agent.run("Shout beta") == "BETA!"
    assert "beta" in agent.memory.steps[0].task  # ran on the agent itself
    stream = agent.run("Shout gamma", stream=True)
    next(stream)  # the agent is now busy with this stream...
    assert agent.run("Shout delta") == "DELTA!"  # ...so this run used a copy
    assert "gamma" in agent.memory.steps[0].task  # the agent's own (unfinished) run is untouched
    stream.close()  # abandoning the stream ends its claim
    assert not agent._run_lock.locked()
    never_started.close()
    assert agent.model.remaining == 1  # gamma's second step never ran: its stream was abandoned
    agent.model.allow_unused_replies = True


def test_interrupt_reaches_a_concurrent_run():
    release = threading.Event()
    entered = threading.Event()

    @tool
    def wait_here(text: str) -> str:
        """Block until the test releases it.

        Args:
            text: anything.
        """
        entered.set()
        release.wait(timeout=30)
        return text

    # the holder's first model call, then the concurrent run's (which blocks in the tool)
    replies = [call("final_answer", {"answer": "held"}), call("wait_here", {"text": "x"})]
    agent = ToolCallingAgent(tools=[wait_here], model=ScriptedModel(replies), verbosity_level=LogLevel.OFF)
    holder = agent.run("hold the agent", stream=True)
    next(holder)  # the agent itself is busy: the next run goes to a copy
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            agent.run("work")
        except BaseException as exc:  # the test inspects it
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    assert entered.wait(timeout=30)
    agent.interrupt()
    release.set()
    thread.join()
    holder.close()
    assert len(errors) == 1 and "interrupted" in str(errors[0])


def test_concurrent_copy_does_not_change_a_running_agents_memory():
    agent = make_agent(ToolCallingAgent, tool_calling_reply, [shouting_tool()], runs=2)
    stream = agent.run("Shout alpha", stream=True)
    next(stream)
    own_memory = agent.memory
    assert agent.run("Shout beta") == "BETA!"
    assert agent.memory is own_memory  # the running run keeps its memory
    assert [e for e in stream][-1].output == "ALPHA!"
    _check_last_run_kept(agent)
    assert "alpha" in agent.memory.steps[0].task


def test_copies_share_the_model_and_its_record_of_calls():
    # a copy shares configuration (model, tools, prompts): the model records every run's calls
    agent = make_agent(ToolCallingAgent, tool_calling_reply, [shouting_tool()], runs=2)

    async def main():
        return await asyncio.gather(agent.arun("Shout alpha"), agent.arun("Shout beta"))

    asyncio.run(main())
    assert len(agent.model.calls) == 4
    assert all(call.messages[0].role == MessageRole.SYSTEM for call in agent.model.calls)


def test_the_adopted_run_brings_its_executor_so_reset_false_sees_its_variables():
    inside = {w: threading.Event() for w in WORDS[:2]}
    release = {w: threading.Event() for w in WORDS[:2]}

    @tool
    def shout(text: str) -> str:
        """Upper-case some text.

        Args:
            text: the text to shout.
        """
        inside[text].set()
        release[text].wait(10)
        return text.upper() + "!"

    agent = make_agent(CodeAgent, code_reply, [shout], runs=2)
    original_executor = agent.python_executor
    results: dict[str, object] = {}

    def run(word: str) -> None:
        results[word] = agent.run(f"Shout {word}")

    first = threading.Thread(target=run, args=("alpha",))  # runs on the agent itself
    first.start()
    assert inside["alpha"].wait(10)
    second = threading.Thread(target=run, args=("beta",))  # runs on a copy with its own executor
    second.start()
    assert inside["beta"].wait(10)
    release["alpha"].set()
    first.join(10)
    release["beta"].set()  # the copy finishes last: its run becomes the agent's
    second.join(10)
    assert results == {"alpha": "ALPHA!", "beta": "BETA!"}
    assert agent.memory.steps[0].task.endswith("Shout beta")
    assert agent.python_executor is not original_executor
    assert agent.python_executor.state["result"] == "BETA!"  # reset=False continues with these
    assert original_executor.state["result"] == "ALPHA!"


def test_a_concurrent_run_on_a_user_supplied_executor_is_refused_clearly():
    from smolagents import LocalPythonExecutor, UserError

    started, release = threading.Event(), threading.Event()

    @tool
    def wait_here() -> str:
        """Block until the test releases it."""
        started.set()
        release.wait(10)
        return "done"

    agent = CodeAgent(
        tools=[wait_here],
        model=ScriptedModel(["<code>\nfinal_answer(wait_here())\n</code>"]),
        executor=LocalPythonExecutor([]),
        verbosity_level=LogLevel.OFF,
    )
    first = threading.Thread(target=agent.run, args=("wait",))
    first.start()
    assert started.wait(10)
    try:
        with pytest.raises(UserError, match="executor you passed as executor=") as caught:
            agent.run("another task")
        assert "executor_type" in str(caught.value)
    finally:
        release.set()
        first.join(10)
    assert agent.memory.steps[-1].action_output == "done"
