"""Attacks that only a process boundary can stop, now stopped by ProcessExecutor; and the
local sandbox's attack classes re-run through it (same refusals, nothing escapes).

Each test asserts: the step got a clear error, no sentinel file was created, no secret came
back, the host (this test process) is alive, and the executor works afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from smolagents.errors import InterpreterError, SandboxResourceError
from smolagents.local_python_executor import LocalPythonExecutor
from smolagents.process_executor import ProcessExecutor

pytestmark = pytest.mark.timeout(120)

_SANDBOX_TESTS = Path(__file__).resolve().parent.parent / "sandbox"


def _payloads(module_name: str, *names: str) -> dict[str, str]:
    """Attack payload tables of the local sandbox's suite, loaded by path (they are data)."""
    path = _SANDBOX_TESTS / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"_process_attacks_{module_name}", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(_SANDBOX_TESTS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(_SANDBOX_TESTS))
    table: dict[str, str] = {}
    for name in names:
        table.update({f"{name.lower()}-{key}": code for key, code in getattr(module, name).items()})
    return table


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    return tmp_path / "pwned.txt"


@pytest.fixture(scope="module")
def shared() -> Iterator[ProcessExecutor]:
    with ProcessExecutor([], timeout_s=5) as process:
        yield process


def usable(process: ProcessExecutor) -> None:
    assert process("1 + 1").output == 2


# ------------------------------------------------------------------ single long C calls
# Each is one C-level call that never returns to Python code, so the in-process sandbox
# cannot preempt it: only killing the process stops it.
_SHARED = "t = {e}\nu = {e}\nfor i in range(40):\n    t = {t}\n    u = {u}\n"
UNINTERRUPTIBLE = {
    "shared_tuple_equality": _SHARED.format(e="()", t="(t, t)", u="(u, u)") + "t == u",
    "shared_tuple_ordering": _SHARED.format(e="()", t="(t, t)", u="(u, u)") + "t < u",
    "shared_list_equality": _SHARED.format(e="[]", t="[t, t]", u="[u, u]") + "t == u",
    "shared_dict_equality": _SHARED.format(e="{}", t="{1: t, 2: t}", u="{1: u, 2: u}") + "t == u",
    "shared_tuple_membership": _SHARED.format(e="()", t="(t, t)", u="(u, u)") + "t in [u]",
}


@pytest.mark.parametrize("code", list(UNINTERRUPTIBLE.values()), ids=list(UNINTERRUPTIBLE))
def test_uninterruptible_c_calls_are_killed_at_the_hard_deadline(code: str) -> None:
    with ProcessExecutor([], timeout_s=2) as process:
        process.send_variables({"sent": "restored"})
        with pytest.raises(SandboxResourceError) as info:
            process(code)
        assert info.value.limit == "timeout_s"
        assert "killed" in str(info.value) and "lost" in str(info.value)
        assert process("sent").output == "restored"
        usable(process)


# Long single calls of the kinds the issue names: the sandbox's pre-checks refuse some
# before they start; whichever layer stops them, the step fails clearly and nothing hangs.
LONG_CALLS = {
    "huge_sort": "sorted(list(range(10**8)))",
    "huge_sort_of_strings": "x = list(map(str, range(10**7)))\nsorted(x, reverse=True)[0]",
    "bignum_pow": "pow(7, 10**12)",
    "bignum_three_arg_pow": "pow(7, 10**100000, 10**50000 + 1)",
    "exponential_tuple_hash": "t = ()\nfor i in range(60):\n    t = (t, t)\nhash(t)",
    "exponential_tuple_set": "t = ()\nfor i in range(60):\n    t = (t, t)\n{t}",
    "huge_repr": "x = [[1] * 1000] * 10000\nlen(str(x) * 100)",
}


#: sorting str(range(10**7)) meets long ordered runs and can finish in ~3 s on a quiet machine
_SHORT_LIMIT = {"huge_sort_of_strings"}


@pytest.mark.parametrize(("name", "code"), list(LONG_CALLS.items()), ids=list(LONG_CALLS))
def test_long_single_calls_end_in_a_clear_error(name: str, code: str) -> None:
    timeout = 1 if name in _SHORT_LIMIT else 3
    with ProcessExecutor([], timeout_s=timeout, memory_limit_mb=1024) as process:
        with pytest.raises(InterpreterError) as info:
            process(code)
        assert str(info.value).startswith("Code execution failed")
        usable(process)


# ------------------------------------------------------------------ crashes
DEEP = {
    "deep_tuple_hash_set": "t = ()\nfor _ in range(300000):\n    t = (t,)\n{t}",
    "deep_tuple_hash_big": "t = ()\nfor _ in range(3000000):\n    t = (t,)\nhash(t)",
    **_payloads("test_sandbox_sec_resources_round2", "CRASHERS"),
}


@pytest.mark.parametrize("code", list(DEEP.values()), ids=list(DEEP))
def test_deep_nesting_never_takes_the_host_down(code: str) -> None:
    host = os.getpid()
    with ProcessExecutor([], timeout_s=20) as process:
        try:
            result = process(code)
        except InterpreterError as error:
            assert str(error).startswith("Code execution failed")
        else:  # survived inside the child: the value came back as data or as its repr
            assert result.output is not None
        assert os.getpid() == host
        usable(process)


# ------------------------------------------------------------------ sandbox attack classes
REFUSED = {
    **_payloads("test_sandbox_sec_introspection", "CLASS_GRAPH", "FUNCTIONS_AND_CODE", "FRAMES"),
    **_payloads("test_sandbox_sec_indirect", "FORMAT_STRINGS", "INDIRECT_GETATTR"),
    **_payloads("test_sandbox_sec_modules_state", "DANGEROUS_IMPORTS", "MODULE_LEAKS"),
}


def _local_outcome(code: str) -> tuple[str, str] | None:
    try:
        LocalPythonExecutor([], timeout_seconds=5)(code)
    except InterpreterError as error:
        return type(error).__name__, str(error)
    return None


@pytest.mark.parametrize("code", list(REFUSED.values()), ids=list(REFUSED))
def test_sandbox_attacks_are_refused_exactly_as_in_process(
    shared: ProcessExecutor, sentinel: Path, code: str
) -> None:
    code = code.replace("SENTINEL", str(sentinel))
    expected = _local_outcome(code)
    if expected is None:
        pytest.skip("the local sandbox allows this payload's harmless form")
    with pytest.raises(InterpreterError) as info:
        shared(code)
    assert (type(info.value).__name__, str(info.value)) == expected
    assert not sentinel.exists()
    usable(shared)


def test_payload_tables_were_found() -> None:
    # the tables above come from the sandbox suite; an empty one would test nothing
    assert len(REFUSED) > 50 and len(DEEP) > 5


SECRET_READS = {
    "environ": "import os\nos.environ['SB_PROCESS_SECRET']",
    "getenv": "import os\nos.getenv('SB_PROCESS_SECRET')",
    "environb": "import os\nos.environb[b'SB_PROCESS_SECRET']",
    "proc_environ": "open('/proc/self/environ').read()",
    "parent_proc_environ": "import os\nopen(f'/proc/{os.getppid()}/environ').read()",
}


@pytest.mark.parametrize("code", list(SECRET_READS.values()), ids=list(SECRET_READS))
def test_host_secrets_are_not_in_the_child(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setenv("SB_PROCESS_SECRET", "hunter2")
    with pytest.warns(UserWarning, match="os"):
        process = ProcessExecutor(["os"], allow_data_io=True)
    with process:
        try:
            result = process(code)
        except InterpreterError as error:
            assert "hunter2" not in str(error) and "hunter2" not in getattr(error, "logs", "")
        else:
            assert "hunter2" not in repr(result.output) and "hunter2" not in result.logs
        usable(process)


# ------------------------------------------------------------------ a compromised child
_HOSTILE_CHILD = """
import json, os, sys
read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
steps = json.loads(sys.stdin.read())
def send_raw(data):
    os.write(write_fd, data)
def send(message):
    body = json.dumps(message).encode()
    send_raw(len(body).to_bytes(4, "big") + body)
def recv():
    size = int.from_bytes(os.read(read_fd, 4), "big")
    data = b""
    while len(data) < size:
        data += os.read(read_fd, size - len(data))
    return json.loads(data)
send({"op": "ready", "pid": os.getpid()})
recv()
send({"op": "started", "report": {"network": False, "network_note": "hostile", "problems": []}})
recv()
for step in steps:
    if isinstance(step, str):
        send_raw(bytes.fromhex(step))
    else:
        send(step)
        if step.get("op") == "tool":
            print(json.dumps(recv()), file=sys.stderr, flush=True)
os.read(read_fd, 1)
"""

HOSTILE_REPLIES: dict[str, list[Any]] = {
    "oversized_frame": [(2**31).to_bytes(4, "big").hex()],
    "not_json": [(5).to_bytes(4, "big").hex() + b"{oops".hex()],
    "pickled_result": [{"op": "done", "ok": True, "output": {"$t": "pickle", "v": "gASVAAAA"}, "logs": ""}],
    "object_array_result": [
        {
            "op": "done",
            "ok": True,
            "output": {"$t": "ndarray", "dtype": "|O", "shape": [1], "v": "AAAAAAAAAAA="},
        }
    ],
    "unknown_message": [{"op": "exec", "code": "import os"}],
    "deep_json": [(400_003).to_bytes(4, "big").hex() + (b"[" * 200_001 + b"]" * 200_001 + b"0").hex()],
}


def _hostile_take_child(steps: list[Any]) -> Any:
    from smolagents.process_executor import _executor, _spawn
    from smolagents.process_executor._protocol import ParentChannel

    real = _spawn.take_child
    used: list[bool] = []

    def take(max_message_bytes: int, **options: Any) -> Any:
        if used:
            return real(max_message_bytes, **options)
        used.append(True)
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        life_r, life_w = os.pipe()
        popen = subprocess.Popen(
            [sys.executable, "-c", _HOSTILE_CHILD, str(to_r), str(from_w)],
            pass_fds=(to_r, from_w, life_r),
            stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert popen.stdin is not None
        popen.stdin.write(json.dumps(steps).encode())
        popen.stdin.close()
        for fd in (to_r, from_w, life_r):
            os.close(fd)
        return _spawn.Child(popen, ParentChannel(from_r, to_w, max_message_bytes), life_w, life_r)

    return _executor, take


@pytest.mark.parametrize("steps", list(HOSTILE_REPLIES.values()), ids=list(HOSTILE_REPLIES))
def test_a_compromised_child_cannot_make_the_parent_run_anything(
    monkeypatch: pytest.MonkeyPatch, sentinel: Path, steps: list[Any]
) -> None:
    executor_module, take = _hostile_take_child(steps)
    monkeypatch.setattr(executor_module, "take_child", take)
    with ProcessExecutor([], timeout_s=10) as process:
        with pytest.raises(InterpreterError, match="invalid reply") as info:
            process("1")
        assert "lost" in str(info.value)
        assert process.restarts == 1
        usable(process)  # the replacement is a real child


def test_a_compromised_child_can_only_call_the_tools_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    steps = [
        {"op": "tool", "name": "cleanup", "args": [], "kwargs": {}},
        {"op": "tool", "name": "_call_tool", "args": [], "kwargs": {}},
        {"op": "tool", "name": "ok", "args": [{"$t": "pickle", "v": "gASVAAAA"}], "kwargs": {}},
        {"op": "tool", "name": "ok", "args": [], "kwargs": {"$t": "dict", "v": [[1, 2]]}},
        {"op": "tool", "name": "ok", "args": [1], "kwargs": {}},
        {"op": "done", "ok": True, "output": "finished", "logs": ""},
    ]
    executor_module, take = _hostile_take_child(steps)
    monkeypatch.setattr(executor_module, "take_child", take)
    with ProcessExecutor([], timeout_s=10) as process:
        process.send_tools({"ok": lambda *args: calls.append(args) or "ok"})
        assert process("anything").output == "finished"
        assert calls == [(1,)]  # only the well-formed call to a real tool ran
