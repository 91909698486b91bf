"""Tool approval in one process: the attribute and the policy, a callback, a stream's
consumer (sync and async, from the consuming thread or another one), denial as an
observation, and the errors a user can cause. Both agent kinds, driven by ScriptedModel."""

from __future__ import annotations

import asyncio
import threading

import pytest

from smolagents import (
    ActionStep,
    ApprovalDecision,
    ApprovalRequest,
    CodeAgent,
    FinalAnswerStep,
    LogLevel,
    Tool,
    ToolCallingAgent,
    ToolOutput,
    UserError,
    tool,
)
from smolagents.agents import _approval
from smolagents.monitoring import AgentLogger
from smolagents.testing import ScriptedModel

call = ScriptedModel.tool_call
KINDS = ["tool_calling", "code"]


def code(body: str) -> str:
    return f"Thought: next.\n<code>\n{body}\n</code>"


@pytest.fixture
def ran():
    """Every call that really ran: (tool, argument, thread name)."""
    return []


@pytest.fixture
def delete_file(ran):
    @tool(requires_approval=True)
    def delete_file(path: str) -> str:
        """Delete a file.

        Args:
            path: the file to delete.
        """
        ran.append(("delete_file", path, threading.current_thread().name))
        return f"deleted {path}"

    return delete_file


@pytest.fixture
def read_file(ran):
    @tool
    def read_file(path: str) -> str:
        """Read a file.

        Args:
            path: the file to read.
        """
        ran.append(("read_file", path, threading.current_thread().name))
        return f"contents of {path}"

    return read_file


def script(kind: str) -> list:
    """Step 1 deletes a.txt (printing before and after, for CodeAgent), step 2 answers."""
    if kind == "tool_calling":
        return [call("delete_file", {"path": "a.txt"}), call("final_answer", {"answer": "done"})]
    return [
        code("print('before')\nresult = delete_file('a.txt')\nprint(result)"),
        code("final_answer('done')"),
    ]


def build(kind, tools, replies, **kwargs):
    kwargs.setdefault("verbosity_level", LogLevel.OFF)
    agent_class = ToolCallingAgent if kind == "tool_calling" else CodeAgent
    return agent_class(tools=tools, model=ScriptedModel(replies), **kwargs)


def first_action(agent) -> ActionStep:
    return next(step for step in agent.memory.steps if isinstance(step, ActionStep))


def what_the_model_saw_next(agent) -> str:
    """The text of the messages of the model's second call (after step 1)."""
    return "\n".join(message.text for message in agent.model.calls[1].messages)


def assert_denied(kind, agent, ran, reason):
    """The tool did not run, the model was told why, and the run went on to its answer."""
    assert ran == []
    step = first_action(agent)
    if kind == "tool_calling":  # an observation, not an error
        assert step.error is None
        assert "approval was denied" in step.observations and reason in step.observations
    else:  # the call raised PermissionError in the code, which stopped there
        assert "PermissionError" in str(step.error) and reason in str(step.error)
        assert "before" in step.observations
    assert reason in what_the_model_saw_next(agent)


# ---------------------------------------------------------------------------- which tools ask
def test_requires_approval_is_a_tool_attribute_settable_three_ways():
    class Wipe(Tool):
        name = "wipe"
        description = "Wipe the disk."
        inputs = {"disk": {"type": "string", "description": "the disk"}}
        output_type = "string"
        requires_approval = True

        def forward(self, disk: str) -> str:
            return disk

    @tool
    def plain(x: int) -> int:
        """Identity.

        Args:
            x: a number.
        """
        return x

    @tool(requires_approval=True)
    def risky(x: int) -> int:
        """Identity, but risky.

        Args:
            x: a number.
        """
        return x

    assert Tool.requires_approval is False and plain.requires_approval is False
    assert Wipe().requires_approval is True and risky.requires_approval is True
    plain.requires_approval = True  # on an instance
    assert plain.requires_approval is True
    assert risky(3) == 3  # still an ordinary tool when called directly
    assert risky.to_dict()["requires_approval"] is True and "requires_approval" not in plain_copy_dict(plain)
    assert Tool.from_dict(risky.to_dict()).requires_approval is True  # saved and loaded with the tool


def plain_copy_dict(tool_):
    tool_.requires_approval = False
    return tool_.to_dict()


def test_tool_decorator_refuses_a_requires_approval_that_is_not_a_bool():
    with pytest.raises(UserError, match="requires_approval"):

        @tool(requires_approval="yes")
        def risky(x: int) -> int:
            """Identity.

            Args:
                x: a number.
            """
            return x


def test_bad_approval_settings_are_refused_at_construction(delete_file):
    with pytest.raises(UserError, match="approval_callback must be a function"):
        build("tool_calling", [delete_file], [], approval_callback="yes")
    with pytest.raises(UserError, match="approval_timeout must be a positive number"):
        build("tool_calling", [delete_file], [], approval_timeout=0)


# ---------------------------------------------------------------------------- the callback
@pytest.mark.parametrize("kind", KINDS)
def test_callback_approves_the_call(kind, delete_file, ran):
    asked: list[ApprovalRequest] = []
    agent = build(kind, [delete_file], script(kind), approval_callback=lambda r: asked.append(r) or True)
    assert agent.run("Delete a.txt") == "done"
    assert [entry[:2] for entry in ran] == [("delete_file", "a.txt")]
    assert ran[0][2] == threading.current_thread().name  # tools keep running on the caller's thread
    (request,) = asked
    assert (request.tool_name, request.arguments, request.step_number) == (
        "delete_file",
        {"path": "a.txt"},
        1,
    )
    assert request.source == ("tool_call" if kind == "tool_calling" else "code")
    assert isinstance(request.run_id, str) and request.id.startswith("approval_")
    assert "deleted a.txt" in first_action(agent).observations


@pytest.mark.parametrize("kind", KINDS)
def test_callback_denial_is_an_observation_the_model_reacts_to(kind, delete_file, ran):
    agent = build(kind, [delete_file], script(kind), approval_callback=lambda r: (False, "not on Fridays"))
    assert agent.run("Delete a.txt") == "done"
    assert_denied(kind, agent, ran, "not on Fridays")


@pytest.mark.parametrize(
    ("answer", "approved"),
    [(ApprovalDecision(True), True), ("yes", True), (None, False), (ApprovalDecision(False, "no"), False)],
)
def test_callback_may_answer_with_a_decision_or_any_truth_value(answer, approved, delete_file, ran):
    agent = build("tool_calling", [delete_file], script("tool_calling"), approval_callback=lambda r: answer)
    agent.run("Delete a.txt")
    assert bool(ran) is approved


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_callback_is_the_steps_error_and_the_tool_does_not_run(kind, delete_file, ran):
    def callback(request):
        raise RuntimeError("approval service down")

    agent = build(kind, [delete_file], script(kind), approval_callback=callback)
    assert agent.run("Delete a.txt") == "done"
    assert ran == []
    assert "approval service down" in str(first_action(agent).error)


# ---------------------------------------------------------------------------- the policy
def test_policy_decides_which_calls_need_approval_and_none_defers_to_the_tool(delete_file, read_file, ran):
    def policy(tool_name, arguments):
        if arguments["path"].startswith("/tmp/"):
            return False  # scratch files: never ask, even for a tool that requires approval
        if arguments["path"].startswith("/secret/"):
            return True  # ask even for a tool that does not require approval
        return None  # the tool's requires_approval decides

    asked: list[ApprovalRequest] = []
    replies = [
        call("delete_file", {"path": "/tmp/x"}),
        call("read_file", {"path": "/secret/key"}),
        call("read_file", {"path": "notes.txt"}),
        call("delete_file", {"path": "notes.txt"}),
        call("final_answer", {"answer": "done"}),
    ]
    agent = build(
        "tool_calling",
        [delete_file, read_file],
        replies,
        approval_policy=policy,
        approval_callback=lambda r: asked.append(r) or True,
    )
    agent.run("Tidy up")
    assert [(r.tool_name, r.arguments["path"]) for r in asked] == [
        ("read_file", "/secret/key"),
        ("delete_file", "notes.txt"),
    ]
    assert len(ran) == 4


def test_policy_sees_the_arguments_of_calls_from_code_by_name(read_file, ran):
    asked: list[ApprovalRequest] = []
    agent = build(
        "code",
        [read_file],
        [
            code("a = read_file('/secret/key')\nb = read_file(path='notes.txt')\nprint(a, b)"),
            code("final_answer(1)"),
        ],
        approval_policy=lambda name, arguments: arguments["path"].startswith("/secret/"),
        approval_callback=lambda r: asked.append(r) or False,
    )
    agent.run("Read")
    assert [r.arguments for r in asked] == [{"path": "/secret/key"}]
    assert ran == []  # denied: the code stopped at its first line


@pytest.mark.parametrize("kind", KINDS)
def test_final_answer_never_asks(kind, read_file):
    asked: list[ApprovalRequest] = []
    replies = (
        [call("final_answer", {"answer": "done"})]
        if kind == "tool_calling"
        else [code("final_answer('done')")]
    )
    agent = build(
        kind, [read_file], replies, approval_policy=lambda name, args: True, approval_callback=asked.append
    )
    assert agent.run("Answer") == "done" and asked == []


# ---------------------------------------------------------------------------- nobody to ask
@pytest.mark.parametrize("kind", KINDS)
def test_a_run_with_nobody_to_ask_is_refused_before_it_starts(kind, delete_file, read_file):
    agent = build(kind, [delete_file], [])
    with pytest.raises(UserError, match="approval_callback=") as caught:
        agent.run("Delete a.txt")
    assert "delete_file" in str(caught.value) and agent.model.calls == []
    with pytest.raises(UserError, match="approval_policy"):
        build(kind, [read_file], [], approval_policy=lambda name, args: False).run("Read")


def test_a_remote_executor_is_refused_when_tools_need_approval(delete_file):
    from smolagents.remote_executors import RemotePythonExecutor

    class Elsewhere(RemotePythonExecutor):
        def _run_program(self, program, timeout):
            raise AssertionError("nothing runs: the agent refuses first")

    agent = CodeAgent(
        tools=[delete_file],
        model=ScriptedModel([]),
        executor=Elsewhere([], None),
        approval_callback=lambda r: True,
        verbosity_level=LogLevel.OFF,
    )
    with pytest.raises(UserError, match="executor_type='local' or 'process'"):
        agent.run("Delete a.txt")


# ---------------------------------------------------------------------------- in a stream
@pytest.mark.parametrize("kind", KINDS)
def test_stream_yields_the_request_and_the_consumer_approves(kind, delete_file, ran):
    agent = build(kind, [delete_file], script(kind))
    events = []
    for event in agent.run("Delete a.txt", stream=True):
        events.append(event)
        if isinstance(event, ApprovalRequest):
            assert ran == [] and agent.pending_approvals == [event]
            agent.approve(event.id, True)
    (request,) = [e for e in events if isinstance(e, ApprovalRequest)]
    assert (request.tool_name, request.arguments) == ("delete_file", {"path": "a.txt"})
    outputs = [e for e in events if isinstance(e, ToolOutput)]
    assert events.index(request) < events.index(outputs[0])
    assert [entry[:2] for entry in ran] == [("delete_file", "a.txt")]
    assert ran[0][2] == threading.current_thread().name  # code's tool calls run on the consumer's thread
    assert isinstance(events[-1], FinalAnswerStep) and events[-1].output == "done"
    assert agent.pending_approvals == []


@pytest.mark.parametrize("kind", KINDS)
def test_stream_denial_with_a_reason(kind, delete_file, ran):
    agent = build(kind, [delete_file], script(kind))
    for event in agent.run("Delete a.txt", stream=True):
        if isinstance(event, ApprovalRequest):
            agent.approve(event.id, False, reason="keep it")
    assert_denied(kind, agent, ran, "keep it")


@pytest.mark.parametrize("kind", KINDS)
def test_async_stream_yields_the_request_and_waits_for_approve(kind, delete_file, ran):
    agent = build(kind, [delete_file], script(kind))

    async def consume():
        answers = []
        async for event in agent.arun("Delete a.txt", stream=True):
            if isinstance(event, ApprovalRequest):
                agent.approve(event.id, True)
                answers.append(event.tool_name)
            last = event
        return answers, last

    answers, last = asyncio.run(consume())
    assert answers == ["delete_file"] and last.output == "done"
    assert [entry[:2] for entry in ran] == [("delete_file", "a.txt")]


class _WaitingWatcher(AgentLogger):
    """A logger that says when the run starts waiting for an answer (its notice)."""

    def __init__(self) -> None:
        super().__init__(level=LogLevel.INFO)
        self.waiting = threading.Event()

    def log(self, *args, level=LogLevel.INFO, **kwargs) -> None:
        if any("is waiting for an answer" in str(arg) for arg in args):
            self.waiting.set()


@pytest.mark.parametrize("kind", KINDS)
def test_another_thread_approves_while_the_consumer_waits(kind, delete_file, ran, monkeypatch):
    monkeypatch.setattr(_approval, "APPROVAL_NOTICE_SECONDS", 0.0)  # notice at once that the run waits
    logger = _WaitingWatcher()
    agent = build(kind, [delete_file], script(kind), logger=logger)
    stream = agent.run("Delete a.txt", stream=True)
    request = next(e for e in stream if isinstance(e, ApprovalRequest))

    def approver():
        logger.waiting.wait()  # the consumer is blocked in next(), waiting for the answer
        agent.approve(request.id, True)

    helper = threading.Thread(target=approver)
    helper.start()
    with pytest.warns(RuntimeWarning, match=f"agent.approve\\('{request.id}'"):
        rest = list(stream)  # does not answer: the other thread does
    helper.join()
    assert isinstance(rest[-1], FinalAnswerStep)
    assert [entry[:2] for entry in ran] == [("delete_file", "a.txt")]


def test_an_unanswered_request_is_denied_after_approval_timeout(delete_file, ran):
    agent = build("tool_calling", [delete_file], script("tool_calling"), approval_timeout=0.01)
    events = list(agent.run("Delete a.txt", stream=True))  # never answers
    assert any(isinstance(e, ApprovalRequest) for e in events)
    assert_denied("tool_calling", agent, ran, "no answer within 0.01 seconds (approval_timeout)")


def test_several_calls_of_a_step_are_asked_together_then_run_or_denied(delete_file, read_file, ran):
    three_calls = ScriptedModel.tool_calls(
        [("delete_file", {"path": "a"}), ("read_file", {"path": "b"}), ("delete_file", {"path": "c"})],
        ids=["c1", "c2", "c3"],
    )
    # a timeout, so that a run waiting after the first request would deny instead of hanging
    agent = build(
        "tool_calling",
        [delete_file, read_file],
        [three_calls, call("final_answer", {"answer": "done"})],
        approval_timeout=60,
    )
    requests = []
    for event in agent.run("Tidy up", stream=True):
        if isinstance(event, ApprovalRequest):
            requests.append(event)
            if len(requests) == 2:  # both came before the run waited for any answer
                for request in requests:
                    agent.approve(request.id, request.arguments["path"] == "a", reason="only a")
    assert [r.call_id for r in requests] == ["c1", "c3"]
    assert sorted(entry[:2] for entry in ran) == [("delete_file", "a"), ("read_file", "b")]
    observations = first_action(agent).observations
    assert "Result of delete_file (call c3):\nThe call to 'delete_file' was not run" in observations
    assert "only a" in observations and "deleted a" in observations and "contents of b" in observations


# ---------------------------------------------------------------------------- misuse
def test_unknown_repeated_or_non_bool_answers_are_clear_errors(delete_file, ran):
    agent = build("tool_calling", [delete_file], script("tool_calling"))
    with pytest.raises(
        UserError, match=r"Unknown approval request id 'approval_nope'.*No request is waiting"
    ):
        agent.approve("approval_nope", True)
    for event in agent.run("Delete a.txt", stream=True):
        if isinstance(event, ApprovalRequest):
            with pytest.raises(UserError, match="approved=True or False"):
                agent.approve(event.id, "yes")
            with pytest.raises(UserError, match=f"requests waiting now are \\['{event.id}'\\]"):
                agent.approve("approval_nope", True)
            agent.approve(event.id, True)
            with pytest.raises(UserError, match="already answered"):
                agent.approve(event.id, False)
    assert len(ran) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_closing_the_stream_while_a_request_waits_leaves_nothing_behind(kind, delete_file, ran):
    replies = script(kind)[:1] + script(kind)  # the first run stops in its first step
    agent = build(kind, [delete_file], replies)
    stream = agent.run("Delete a.txt", stream=True)
    request = next(e for e in stream if isinstance(e, ApprovalRequest))
    stream.close()
    assert agent.pending_approvals == [] and ran == []
    with pytest.raises(UserError, match="Unknown approval request"):
        agent.approve(request.id, True)
    # the agent (and a CodeAgent's executor) is free for the next run
    for event in agent.run("Delete a.txt", stream=True):
        if isinstance(event, ApprovalRequest):
            agent.approve(event.id, True)
    assert [entry[:2] for entry in ran] == [("delete_file", "a.txt")]


# ---------------------------------------------------------------------------- process sandbox
@pytest.mark.parametrize("how", ["callback", "stream"])
def test_tools_called_from_the_process_sandbox_ask_too(how, delete_file, ran):
    decisions = iter([True, False])
    options = {"approval_callback": lambda r: next(decisions)} if how == "callback" else {}
    replies = [
        code("x = delete_file('a.txt')\nprint(x)\ny = delete_file('b.txt')"),
        code("final_answer('done')"),
    ]
    with build("code", [delete_file], replies, executor_type="process", **options) as agent:
        for event in agent.run("Delete both", stream=True):
            if isinstance(event, ApprovalRequest):
                agent.approve(event.id, next(decisions))
    assert [entry[:2] for entry in ran] == [("delete_file", "a.txt")]  # the parent ran it
    step = first_action(agent)
    assert "deleted a.txt" in step.observations and "PermissionError" in str(step.error)


@pytest.mark.parametrize("kind", KINDS)
def test_arun_asks_the_callback(kind, delete_file, ran):
    asked: list[ApprovalRequest] = []
    agent = build(kind, [delete_file], script(kind), approval_callback=lambda r: asked.append(r) or True)
    assert asyncio.run(agent.arun("Delete a.txt")) == "done"
    assert [r.tool_name for r in asked] == ["delete_file"] and len(ran) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_another_thread_approves_while_an_async_consumer_waits(kind, delete_file, ran, monkeypatch):
    monkeypatch.setattr(_approval, "APPROVAL_NOTICE_SECONDS", 0.0)
    logger = _WaitingWatcher()
    agent = build(kind, [delete_file], script(kind), logger=logger)

    def approver(request: ApprovalRequest) -> None:
        logger.waiting.wait()  # the run waits for the answer
        agent.approve(request.id, True)

    async def consume():
        events, helpers = [], []
        async for event in agent.arun("Delete a.txt", stream=True):  # never answers itself
            events.append(event)
            if isinstance(event, ApprovalRequest):
                helpers.append(threading.Thread(target=approver, args=(event,)))
                helpers[-1].start()
        for helper in helpers:
            helper.join()
        return events

    with pytest.warns(RuntimeWarning, match="is waiting for an answer"):
        events = asyncio.run(consume())
    assert isinstance(events[-1], FinalAnswerStep) and [entry[:2] for entry in ran] == [
        ("delete_file", "a.txt")
    ]


@tool(requires_approval=True)
def _guarded_delete(path: str) -> str:
    """Delete a file (needs approval).

    Args:
        path: the file.
    """
    return f"deleted {path}"


def test_a_saved_tool_function_keeps_needing_approval(tmp_path):
    from smolagents.tools._source import tool_source

    code = tool_source(_guarded_delete)
    assert code.count("@tool") == 1 and "@tool(requires_approval=True)" in code
    assert Tool.from_code(code).requires_approval is True
    agent = ToolCallingAgent(tools=[_guarded_delete], model=ScriptedModel([], allow_unused_replies=True))
    agent.save(tmp_path / "agent")
    loaded = ToolCallingAgent.from_folder(
        tmp_path / "agent", model=ScriptedModel([], allow_unused_replies=True)
    )
    assert loaded.tools["_guarded_delete"].requires_approval is True
