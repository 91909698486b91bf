"""ProcessExecutor behaves like the local sandbox, and adds what only a process can do:
a hard kill at the deadline, restart after a crash, memory/CPU caps, network isolation."""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from smolagents import CodeAgent, LogLevel, tool
from smolagents._value_codec import ValueCodecError
from smolagents.agent_types import AgentImage
from smolagents.default_tools import FinalAnswerTool
from smolagents.errors import InterpreterError, SandboxResourceError, SandboxSecurityError, UserError
from smolagents.local_python_executor import LocalPythonExecutor
from smolagents.process_executor import ProcessExecutor
from smolagents.process_executor._executor import _finish
from smolagents.process_executor._protocol import ChannelViolation, ParentChannel
from smolagents.testing import ScriptedModel

pytestmark = pytest.mark.timeout(60)

# two separately built, exponentially shared structures: comparing them is one C call
# that visits 2**40 pairs, which no in-process check can interrupt
SHARED_COMPARE = "t = ()\nu = ()\nfor i in range(40):\n    t = (t, t)\n    u = (u, u)\nt == u"


@pytest.fixture
def executor() -> Iterator[ProcessExecutor]:
    with ProcessExecutor([], timeout_s=10) as process:
        yield process


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is gone too: it runs nothing
        return handle.read().rsplit(")", 1)[1].split()[0] == "Z"


# ------------------------------------------------------------------ the executor contract
def test_state_persists_and_the_last_value_comes_back(executor: ProcessExecutor) -> None:
    assert executor("x = 2**10").output == 1024
    assert executor("def double(v):\n    return 2 * v\ndouble(x)").output == 2048
    result = executor("x += 1\nx")
    assert (result.output, result.logs, result.is_final_answer) == (1025, "", False)


def test_prints_come_back_as_logs(executor: ProcessExecutor) -> None:
    result = executor("print('hello')\nfor i in range(3):\n    print(i, end=' ')\n'done'")
    assert result.logs == "hello\n0 1 2 "
    assert result.output == "done"


def test_print_output_is_bounded_like_the_local_executor() -> None:
    code = "for i in range(1000):\n    print('line', i)"
    with ProcessExecutor([], max_print_outputs_length=100) as process:
        assert process(code).logs == LocalPythonExecutor([], max_print_outputs_length=100)(code).logs


def test_final_answer_direct_and_from_nested_functions(executor: ProcessExecutor) -> None:
    result = executor("final_answer({'a': (1, 2)})")
    assert (result.output, result.is_final_answer) == ({"a": (1, 2)}, True)
    nested = "def inner(v):\n    final_answer(v * 2)\ndef outer():\n    inner(21)\n    return 'not reached'\nouter()"
    result = executor(nested)
    assert (result.output, result.is_final_answer) == (42, True)
    caught = "try:\n    final_answer(7)\nexcept BaseException:\n    pass\n'swallowed'"
    assert executor(caught).output == 7  # the final-answer signal cannot be caught, as locally


def test_a_final_answer_tool_runs_in_the_parent(executor: ProcessExecutor) -> None:
    seen = []

    class Recording(FinalAnswerTool):
        def forward(self, answer: Any) -> Any:
            seen.append(os.getpid())
            return f"answer: {answer}"

    executor.send_tools({"final_answer": Recording()})
    result = executor("final_answer(6 * 7)")
    assert (result.output, result.is_final_answer) == ("answer: 42", True)
    assert seen == [os.getpid()]


ERROR_SNIPPETS = {
    "zero_division": "a = 1\nb = a / 0",
    "name_error": "undefined_name + 1",
    "syntax_error": "def f(:\n    pass",
    "forbidden_import": "import os",
    "dunder_attribute": "().__class__.__bases__",
    "type_error_in_function": "def f(x):\n    return x + 'a'\nf(1)",
    "raise_custom": "class Boom(Exception):\n    pass\nraise Boom('custom message')",
    "resource_limit": "x = [0] * (10**9)",
}


@pytest.mark.parametrize("code", list(ERROR_SNIPPETS.values()), ids=list(ERROR_SNIPPETS))
def test_errors_match_the_local_executor_exactly(executor: ProcessExecutor, code: str) -> None:
    with pytest.raises(InterpreterError) as local:
        LocalPythonExecutor([])(code)
    with pytest.raises(InterpreterError) as remote:
        executor(code)
    assert type(remote.value) is type(local.value)
    assert str(remote.value) == str(local.value)
    assert getattr(remote.value, "limit", None) == getattr(local.value, "limit", None)


def test_errors_carry_the_failing_line_and_the_logs_before_it(executor: ProcessExecutor) -> None:
    with pytest.raises(InterpreterError) as info:
        executor("print('before')\nvalue = {'a': 1}['missing']")
    assert "at line 'value = {'a': 1}['missing']'" in str(info.value)
    assert "KeyError" in str(info.value)
    assert info.value.logs == "before\n"
    assert isinstance(info.value, ValueError)  # InterpreterError is also a ValueError


def test_security_errors_keep_their_class(executor: ProcessExecutor) -> None:
    with pytest.raises(SandboxSecurityError):
        executor("().__class__")


# ------------------------------------------------------------------ tools
def test_tools_run_in_the_parent_with_positional_and_keyword_arguments(executor: ProcessExecutor) -> None:
    calls = []

    def where(a: int, b: int = 0, *, label: str = "") -> dict[str, Any]:
        calls.append((a, b, label))
        return {"pid": os.getpid(), "sum": a + b, "label": label}

    executor.send_tools({"where": where})
    result = executor("r1 = where(1, 2)\nr2 = where(3, b=4, label='kw')\n(r1, r2)")
    r1, r2 = result.output
    assert r1 == {"pid": os.getpid(), "sum": 3, "label": ""}
    assert r2 == {"pid": os.getpid(), "sum": 7, "label": "kw"}
    assert calls == [(1, 2, ""), (3, 4, "kw")]
    assert executor.pid != os.getpid()
    assert executor("where.name").output == "where"


def test_tool_errors_reach_the_code_as_the_same_exception_type(executor: ProcessExecutor) -> None:
    def fails(kind: str) -> None:
        raise {"value": ValueError("bad value"), "key": KeyError("k")}[kind]

    executor.send_tools({"fails": fails})
    caught = "try:\n    fails('value')\nexcept ValueError as e:\n    r = 'caught ' + str(e)\nr"
    assert executor(caught).output == "caught bad value"
    with pytest.raises(InterpreterError) as remote:
        executor("x = fails('key')")
    local = LocalPythonExecutor([])
    local.send_tools({"fails": fails})
    with pytest.raises(InterpreterError) as expected:
        local("x = fails('key')")
    assert str(remote.value) == str(expected.value)


def test_tool_values_of_every_codec_type_cross_both_ways() -> None:
    with ProcessExecutor(["numpy", "pandas"]) as process:
        process.send_tools({"echo": lambda value: value})
        frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
        process.send_variables({"frame": frame, "arr": np.arange(4.0)})
        code = "f = echo(frame)\na = echo(arr)\n(f.shape, float(a.sum()), echo(b'\\x00'), echo({1, 2}))"
        assert process(code).output == ((2, 2), 6.0, b"\x00", {1, 2})


def test_agent_types_cross_as_their_raw_values(executor: ProcessExecutor) -> None:
    picture = Image.new("RGB", (4, 4), (1, 2, 3))
    executor.send_tools({"draw": lambda: AgentImage(picture)})
    executor.send_variables({"given": AgentImage(picture)})
    assert executor("(draw().size, given.getpixel((0, 0)))").output == ((4, 4), (1, 2, 3))


def test_tools_that_return_unsendable_values_fail_clearly(executor: ProcessExecutor) -> None:
    executor.send_tools({"opaque": lambda: object()})
    with pytest.raises(InterpreterError, match="cannot be sent into the process sandbox"):
        executor("opaque()")


def test_additional_functions_also_run_in_the_parent() -> None:
    with ProcessExecutor([], additional_functions={"host_pid": os.getpid}) as process:
        assert process("host_pid()").output == os.getpid()


def test_tool_names_are_validated_and_import_is_accepted(executor: ProcessExecutor) -> None:
    with pytest.raises(UserError, match="not a valid Python identifier"):
        executor.send_tools({"bad name": print})
    executor.send_tools({"__import__": __import__, "ok": lambda: 1})
    assert executor("ok()").output == 1
    with pytest.raises(InterpreterError, match="Import of os is not allowed"):
        executor("import os")


# ------------------------------------------------------------------ variables
VARIABLES: dict[str, Any] = {
    "text": "héllo",
    "big": 2**100,
    "number": 1.5,
    "flag": True,
    "nothing": None,
    "items": [1, (2, 3), {"k": {4, 5}}],
    "mapping": {1: "one", (2, 3): frozenset({"x"})},
    "raw": b"\x00\xff",
    "when": dt.datetime(2024, 5, 6, 7, 8, 9),
    "day": dt.date(2024, 1, 1),
    "span": dt.timedelta(hours=5),
    "price": decimal.Decimal("9.99"),
    "z": complex(1, 2),
    "picture": Image.new("RGB", (3, 2), (10, 20, 30)),
    "matrix": np.arange(6, dtype=np.int32).reshape(2, 3),
    "scalar": np.float32(2.5),
    "table": pd.DataFrame({"a": [1, 2], "b": ["x", None]}),
    "series": pd.Series([1.0, 2.0], name="s"),
}


def test_variables_of_every_codec_type_round_trip(executor: ProcessExecutor) -> None:
    executor.send_variables(VARIABLES)
    back = executor("(" + ", ".join(VARIABLES) + ",)").output
    for (name, sent), got in zip(VARIABLES.items(), back):
        if isinstance(sent, Image.Image):
            assert (got.mode, got.size, got.tobytes()) == (sent.mode, sent.size, sent.tobytes()), name
        elif isinstance(sent, np.ndarray):
            assert got.dtype == sent.dtype and np.array_equal(got, sent), name
        elif isinstance(sent, pd.DataFrame):
            pd.testing.assert_frame_equal(got, sent)
        elif isinstance(sent, pd.Series):
            pd.testing.assert_series_equal(got, sent)
        else:
            assert type(got) is type(sent) and got == sent, name


def test_additional_variables_are_merged_into_the_state(executor: ProcessExecutor) -> None:
    assert executor("a + b", {"a": 1, "b": 2}).output == 3
    assert executor("a * 10").output == 10


def test_unsendable_variables_are_refused_naming_them(executor: ProcessExecutor) -> None:
    with pytest.raises(ValueCodecError, match="Variable 'handle' cannot be sent"):
        executor.send_variables({"handle": object()})


def test_allow_pickle_sends_values_to_the_child_but_never_unpickles_results() -> None:
    value = uuid.UUID(int=7)
    with ProcessExecutor([], allow_pickle=True) as process:
        with pytest.warns(UserWarning, match="Pickling a value of type 'uuid.UUID'"):
            process.send_variables({"u": value})
        process.send_tools({"same": lambda: value})
        assert process("str(u)").output == str(value)
        with pytest.warns(UserWarning, match="Pickling"):  # the tool's result, in the parent
            assert process("str(same())").output == str(value)
        assert process("u").output == repr(value)  # the result travels as text, not as a pickle


def test_oversized_results_and_tool_arguments_are_ordinary_errors() -> None:
    with ProcessExecutor([], max_message_bytes=2**20) as process:
        process.send_tools({"size": len})
        process("kept = 1")
        with pytest.raises(SandboxResourceError, match="max_message_bytes") as info:
            process("'x' * 2_000_000")
        assert info.value.limit == "max_message_bytes"
        with pytest.raises(InterpreterError, match="MessageTooLarge"):
            process("size('y' * 2_000_000)")
        assert process("kept").output == 1 and process.restarts == 0


def test_unsendable_results_come_back_as_their_repr(executor: ProcessExecutor) -> None:
    assert executor("def f():\n    pass\nf").output.startswith("<")


# ------------------------------------------------------------------ imports
def test_authorised_imports_work_and_others_are_refused() -> None:
    with ProcessExecutor(["numpy", "statistics"]) as process:
        result = process(
            "import numpy as np\nimport statistics\n(np.arange(5).sum(), statistics.mean([1, 2, 3]))"
        )
        assert result.output == (np.int64(10), 2)
        with pytest.raises(InterpreterError, match="Import of pandas is not allowed"):
            process("import pandas")


def test_constructor_arguments_are_validated_like_the_local_executor() -> None:
    with pytest.raises(InterpreterError, match="Non-installed authorized modules"):
        ProcessExecutor(["surely_not_a_module_xyz"])
    for bad in (
        {"timeout_s": -1},
        {"memory_limit_mb": 0},
        {"cpu_time_limit_s": "1"},
        {"isolate_network": "yes"},
    ):
        with pytest.raises(UserError):
            ProcessExecutor([], **bad)


# ------------------------------------------------------------------ kill, crash, restart
def test_a_long_c_call_is_killed_at_the_deadline_and_the_executor_restarts() -> None:
    with ProcessExecutor([], timeout_s=2) as process:
        process.send_tools({"host_pid": os.getpid})
        process.send_variables({"sent": "kept"})
        process("mine = 'lost'")
        first_child = process.pid
        with pytest.raises(SandboxResourceError) as info:
            process(SHARED_COMPARE)
        message = str(info.value)
        assert info.value.limit == "timeout_s"
        assert "hard time limit of 2 seconds" in message and "killed" in message
        assert "variables, functions and imports defined by earlier code are lost" in message
        assert process_gone(first_child)
        assert process.restarts == 1
        # a fresh state, with the host's tools and variables restored
        assert process("(sent, host_pid())").output == ("kept", os.getpid())
        with pytest.raises(InterpreterError, match="name 'mine' is not defined"):
            process("mine")
        assert process.pid not in (None, first_child)


def test_ordinary_loops_stop_cooperatively_and_keep_the_state() -> None:
    with ProcessExecutor([], timeout_s=2) as process:
        process("kept = 1")
        with pytest.raises(SandboxResourceError, match="time limit") as info:
            process("while True:\n    pass")
        assert info.value.limit == "timeout_seconds"
        assert process("kept").output == 1 and process.restarts == 0


def test_time_in_tools_does_not_count_towards_the_hard_deadline() -> None:
    # the sandbox's own (cooperative) timeout counts tool time, as locally: set it apart
    with ProcessExecutor([], timeout_s=1, timeout_seconds=10) as process:
        process.send_tools({"slow": lambda: time.sleep(1.5) or "slept"})
        assert process("slow()").output == "slept"


@pytest.mark.parametrize(("sig", "name"), [(signal.SIGSEGV, "SIGSEGV"), (signal.SIGKILL, "SIGKILL")])
def test_a_crashed_child_is_reported_and_replaced(sig: int, name: str) -> None:
    with ProcessExecutor([]) as process:
        process.send_tools({"crash": lambda: os.kill(process.pid, sig)})
        process.send_variables({"sent": 1})
        with pytest.raises(InterpreterError) as info:
            process("crash()\n'never'")
        assert name in str(info.value)
        assert "lost" in str(info.value)
        assert process("sent + 1").output == 2 and process.restarts == 1


def test_a_child_that_died_between_calls_is_reported_once() -> None:
    with ProcessExecutor([]) as process:
        process("x = 1")
        pid = process.pid
        os.kill(pid, signal.SIGKILL)
        while not process_gone(pid):
            time.sleep(0.01)
        with pytest.raises(InterpreterError, match="SIGKILL") as info:
            process("x")
        assert "lost" in str(info.value)
        assert process("'fresh'").output == "fresh"


def test_the_memory_cap_stops_a_single_huge_allocation_and_keeps_the_state() -> None:
    with ProcessExecutor([], memory_limit_mb=256, timeout_s=30) as process:
        process("kept = 'yes'")
        with pytest.raises(InterpreterError, match="MemoryError") as info:
            process("x = list(map(str, range(10**7)))")
        assert "memory cap is 256 MB" in str(info.value)
        assert process("kept").output == "yes"


def test_the_cpu_cap_stops_the_process() -> None:
    with ProcessExecutor([], cpu_time_limit_s=1, timeout_s=30) as process:
        with pytest.raises(SandboxResourceError, match="CPU seconds") as info:
            process(SHARED_COMPARE)
        assert info.value.limit == "cpu_time_limit_s"
        assert process("1 + 1").output == 2


# ------------------------------------------------------------------ isolation
def test_the_child_gets_no_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_PROCESS_SECRET", "hunter2")
    with pytest.warns(UserWarning, match="os"):
        process = ProcessExecutor(["os"])
    with process:
        try:
            result = process("import os\nos.environ.get('SB_PROCESS_SECRET', 'absent')")
        except InterpreterError as error:  # the sandbox may refuse environ outright
            assert "hunter2" not in str(error)
        else:
            assert result.output == "absent"


def test_network_namespace_keeps_the_host_loopback_out_of_reach() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    connect = f"import socket\nc = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n'connected'"
    own_loopback = (
        "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
        "c = socket.create_connection(s.getsockname(), timeout=5)\n'own loopback works'"
    )
    try:
        with pytest.warns(UserWarning, match="socket"):
            isolated = ProcessExecutor(["socket"])
        with isolated:
            isolated("1")
            if not isolated.network_isolated:
                pytest.skip(f"no network namespace here: {isolated.isolation_notes[0]}")
            assert "loopback only" in isolated.isolation_notes[0]
            with pytest.raises(InterpreterError, match=r"ConnectionRefusedError|unreachable"):
                isolated(connect)
            assert isolated(own_loopback).output == "own loopback works"
        with pytest.warns(UserWarning, match="socket"):
            shared = ProcessExecutor(["socket"], isolate_network=False)
        with shared:
            assert shared(connect).output == "connected"
            assert shared.network_isolated is False
    finally:
        server.close()


def test_isolation_is_reported() -> None:
    with ProcessExecutor([]) as process:
        process("1")
        assert isinstance(process.network_isolated, bool)
        assert process.isolation_notes and all(isinstance(note, str) for note in process.isolation_notes)


# ------------------------------------------------------------------ lifecycle
def test_cleanup_twice_and_a_later_call_starts_fresh() -> None:
    process = ProcessExecutor([])
    process("x = 1")
    pid = process.pid
    process.cleanup()
    process.cleanup()
    assert process.pid is None and process_gone(pid)
    with pytest.raises(InterpreterError, match="name 'x' is not defined"):
        process("x")
    process.cleanup()


def test_context_manager_stops_the_child() -> None:
    with ProcessExecutor([]) as process:
        assert process("1 + 1").output == 2
        pid = process.pid
    assert process_gone(pid)


def test_the_child_exits_when_the_parent_dies() -> None:
    program = textwrap.dedent(
        """
        import os
        from smolagents.process_executor import ProcessExecutor
        process = ProcessExecutor([])
        process("1")
        print(process.pid, flush=True)
        os._exit(0)  # no cleanup, no atexit: the lifeline alone must end the child
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    pid = int(done.stdout.split()[0])
    for _ in range(400):  # polls for up to 20 s; the pytest timeout bounds the test anyway
        if process_gone(pid):
            break
        time.sleep(0.05)
    assert process_gone(pid)


def test_copies_get_their_own_child_with_the_same_tools_and_variables(executor: ProcessExecutor) -> None:
    executor.send_tools({"one": lambda: 1})
    executor.send_variables({"v": 2})
    executor("mine = 3")
    clone = copy.copy(executor)
    try:
        assert clone("one() + v").output == 3
        assert clone.pid != executor.pid
        with pytest.raises(InterpreterError, match="'mine' is not defined"):
            clone("mine")
    finally:
        clone.cleanup()


def test_calls_cannot_be_nested(executor: ProcessExecutor) -> None:
    executor.send_tools({"reenter": lambda: executor("1")})
    with pytest.raises(InterpreterError, match="already running code"):
        executor("reenter()")


# ------------------------------------------------------------------ hostile replies
def test_oversized_and_malformed_messages_from_the_child_are_refused() -> None:
    for payload in (
        (10**9).to_bytes(4, "big"),
        (5).to_bytes(4, "big") + b"nope!",
        (2).to_bytes(4, "big") + b"[]",
    ):
        read_fd, write_fd = os.pipe()
        channel = ParentChannel(read_fd, os.dup(write_fd), max_message_bytes=2**20)
        os.write(write_fd, payload)
        with pytest.raises(ChannelViolation):
            channel.recv(deadline=None)
        for fd in (read_fd, write_fd, channel.write_fd):
            os.close(fd)


@pytest.mark.parametrize(
    "reply",
    [
        {"op": "done", "ok": True, "output": {"$t": "pickle", "v": "gASVAAAA"}, "logs": ""},
        {"op": "done", "ok": True, "output": 1, "logs": ["not", "text"]},
        {"op": "done", "ok": False, "kind": "SystemExit", "message": 7},
    ],
)
def test_hostile_results_are_refused_not_executed(reply: dict[str, Any]) -> None:
    with pytest.raises(ValueCodecError):
        _finish(reply)


def test_error_kinds_from_the_child_are_mapped_to_a_fixed_set() -> None:
    with pytest.raises(InterpreterError) as info:
        _finish({"op": "done", "ok": False, "kind": "os.system", "message": "boom", "logs": ""})
    assert type(info.value) is InterpreterError and str(info.value) == "boom"


# ------------------------------------------------------------------ agents
def _agent_run(executor: Any) -> list[dict[str, Any]]:
    @tool
    def add(a: int, b: int) -> int:
        """Adds two numbers.

        Args:
            a: first number
            b: second number
        """
        return a + b

    replies = [
        "Thought: add\n<code>\ntotal = add(2, b=3)\nprint('total is', total)\n</code>",
        "Thought: oops\n<code>\nboom = 1 / 0\n</code>",
        "Thought: done\n<code>\ndef finish():\n    final_answer(total * 10)\nfinish()\n</code>",
    ]
    agent = CodeAgent(
        tools=[add], model=ScriptedModel(replies), executor=executor, verbosity_level=LogLevel.OFF
    )
    with agent:
        assert agent.run("compute") == 50
        steps = [step.dict() for step in agent.memory.steps]
    for step in steps:
        step.pop("timing", None)
    return steps


def test_a_code_agent_gets_the_same_memory_as_with_the_local_executor() -> None:
    local = _agent_run(LocalPythonExecutor(["math"]))
    process = _agent_run(ProcessExecutor(["math"]))
    assert process == local
