"""WasmExecutor against real Deno + Pyodide.

The first run downloads ``npm:pyodide`` through the npm registry into the Deno cache
(``~/.cache/smolagents/deno``, or ``SMOLAGENTS_DENO_DIR``); later runs start from that cache
without touching the network. One executor is shared by the module (a start costs seconds);
tests that kill or break the process make their own.
"""

from __future__ import annotations

import datetime
import decimal
import os
import shutil
import socket
from pathlib import Path

import pytest

from smolagents import Tool, tool
from smolagents.default_tools import FinalAnswerTool
from smolagents.errors import InterpreterError, SandboxResourceError, UserError
from smolagents.remote_executors import RemoteExecutorError
from smolagents.remote_executors._deno import (
    PYODIDE_VERSION,
    DenoProcess,
    DenoProcessDied,
    default_deno_dir,
    find_deno,
    snapshot_path,
)

from ._wasm_fixtures import build_pure_python_wheel

# Deno comes with the test extra (the `deno` package): without it these tests fail, never skip.


@pytest.fixture(scope="module")
def wasm():
    from smolagents.remote_executors import WasmExecutor

    executor = WasmExecutor([], None, timeout=60)
    yield executor
    executor.cleanup()


def add(a: int, b: int = 10) -> int:
    """Add two numbers (a plain function travels as source code)."""
    return a + b


@tool
def scale(value: float, factor: float = 2.0, note: str | None = None) -> str:
    """Scale a value.

    Args:
        value: the number.
        factor: the multiplier.
        note: an optional note.
    """
    return f"{value * factor}{'' if note is None else ' ' + note}"


class Shout(Tool):
    name = "shout"
    description = "Upper-case a text."
    inputs = {"text": {"type": "string", "description": "what to shout"}}
    output_type = "string"

    def setup(self) -> None:
        self.suffix = "!"
        self.is_initialized = True

    def forward(self, text: str) -> str:
        return text.upper() + self.suffix


# ---------------------------------------------------------------------------- basics
def test_state_persists_across_calls(wasm):
    wasm("counter = 40")
    wasm("counter += 1")
    out = wasm("counter + 1")
    assert out.output == 42
    assert out.is_final_answer is False


def test_runs_in_pyodide_not_on_the_host(wasm):
    assert wasm("import sys\nsys.platform").output == "emscripten"


def test_prints_come_back_as_logs(wasm):
    out = wasm("print('hello from wasm')\nprint(1, 2, sep='-')\n'done'")
    assert out.logs == "hello from wasm\n1-2\n"
    assert out.output == "done"


def test_final_answer_direct_and_nested(wasm):
    direct = wasm("final_answer('direct')")
    assert direct.is_final_answer is True
    assert direct.output == "direct"

    nested = wasm(
        "def outer(x):\n"
        "    def inner(y):\n"
        "        final_answer({'answer': y * 2})\n"
        "    inner(x + 1)\n"
        "    return 'not reached'\n"
        "try:\n"
        "    outer(20)\n"
        "except Exception:\n"
        "    pass\n"
    )
    assert nested.is_final_answer is True
    assert nested.output == {"answer": 42}


def test_error_reports_message_and_failing_line(wasm):
    with pytest.raises(InterpreterError) as caught:
        wasm("a = 1\nb = a / 0\nc = 3")
    message = str(caught.value)
    assert "ZeroDivisionError" in message
    assert "division by zero" in message
    assert "b = a / 0" in message


def test_error_keeps_prints_made_before_it(wasm):
    with pytest.raises(InterpreterError) as caught:
        wasm("print('before')\nraise ValueError('bad value')")
    assert "ValueError: bad value" in str(caught.value)
    assert "before" in caught.value.logs


def test_syntax_error_names_the_line(wasm):
    with pytest.raises(InterpreterError) as caught:
        wasm("x = 1\nif x\n    pass")
    assert "SyntaxError" in str(caught.value)
    assert "if x" in str(caught.value)


def test_tools_with_positional_and_keyword_arguments(wasm):
    wasm.send_tools({"add": add})
    assert wasm("add(1, 2)").output == 3
    assert wasm("add(1, b=5)").output == 6
    assert wasm("add(a=7)").output == 17


def test_tool_instances_run_in_pyodide(wasm):
    """Tool instances travel as source; Pyodide gets a small smolagents.tools stand-in."""
    wasm.send_tools({"scale": scale, "shout": Shout(), "final_answer": FinalAnswerTool()})
    assert wasm("scale(2.0)").output == "4.0"
    assert wasm("scale(2.0, 3.0)").output == "6.0"
    assert wasm("scale(value=1.0, factor=5.0, note='ok')").output == "5.0 ok"
    assert wasm("scale({'value': 3.0})").output == "6.0"
    assert wasm("shout(text='hi')").output == "HI!"
    done = wasm("final_answer(shout('done'))")
    assert (done.output, done.is_final_answer) == ("DONE!", True)


@pytest.mark.parametrize(
    "value",
    [
        "text é",
        123456789012345678901234567890,
        -2.5,
        True,
        None,
        [1, [2, 3]],
        (1, "two", 3.0),
        {"k": {"nested": [1, 2]}, "n": None},
        {1, 2, 3},
        frozenset({"a"}),
        b"\x00\xffbytes",
        datetime.datetime(2024, 5, 6, 7, 8, 9, 123),
        datetime.date(2024, 2, 29),
        decimal.Decimal("3.14159265358979323846"),
    ],
    ids=lambda value: type(value).__name__,
)
def test_codec_values_round_trip_both_ways(wasm, value):
    wasm.send_variables({"incoming": value})
    out = wasm("incoming")
    assert out.output == value
    assert type(out.output) is type(value)
    # made remotely, decoded here
    assert wasm(f"type(incoming).__name__ == {type(value).__name__!r}").output is True


def test_large_variable_transfer(wasm):
    blob = "x" * 100_000
    wasm.send_variables({"blob": blob})
    assert wasm("len(blob)").output == 100_000
    assert wasm("blob[::-1]").output == blob


def test_additional_variables_in_call(wasm):
    out = wasm("greeting + ' ' + name", additional_variables={"greeting": "hi", "name": "wasm"})
    assert out.output == "hi wasm"


def test_numpy_value_cannot_be_decoded_remotely_is_a_clear_error(wasm):
    import numpy as np

    with pytest.raises(RemoteExecutorError) as caught:
        wasm.send_variables({"array": np.arange(3)})
    assert "numpy" in str(caught.value)
    assert wasm("1 + 1").output == 2


# ---------------------------------------------------------------------------- isolation
@pytest.mark.parametrize(
    ("code", "needed"),
    [
        ("import js\njs.Deno.readTextFileSync('/etc/hostname')", "read"),
        ("import js\njs.Deno.writeTextFileSync('/tmp/smolagents-wasm-probe', 'x')", "write"),
        ("import js\njs.Deno.env.get('HOME')", "env"),
        ("import js\njs.Deno.Command.new('true').outputSync()", "run"),
    ],
)
def test_default_permissions_deny_host_access(wasm, code, needed):
    with pytest.raises(InterpreterError) as caught:
        wasm(code)
    assert f"Requires {needed} access" in str(caught.value)
    assert not Path("/tmp/smolagents-wasm-probe").exists()


def test_default_permissions_grant_no_network(wasm):
    code = 'import js\njs.Deno.permissions.querySync(js.JSON.parse(\'{"name": "net"}\')).state'
    assert wasm(code).output != "granted"


def test_python_open_sees_pyodide_filesystem_not_the_host(wasm):
    with pytest.raises(InterpreterError) as caught:
        wasm("open('/etc/hostname').read()")
    assert "FileNotFoundError" in str(caught.value)


# ---------------------------------------------------------------------------- failures
def test_timeout_interrupts_the_run_and_keeps_state():
    from smolagents.remote_executors import WasmExecutor

    with WasmExecutor([], None, timeout=3) as executor:
        executor("kept = 1")
        with pytest.raises(SandboxResourceError) as caught:
            executor("print('started')\ncount = 0\nwhile True:\n    count += 1")
        message = str(caught.value)
        assert "time limit of 3 seconds" in message
        assert "at line 'while True:'" in message or "at line 'count += 1'" in message  # where it stopped
        assert "lost" not in message
        assert "started" in caught.value.logs
        # same interpreter: earlier state and the interrupted loop's progress are still there
        assert executor("kept").output == 1
        assert executor("count > 0").output is True
        assert executor.starts == 1


def test_timeout_that_ignores_the_interrupt_kills_the_process_and_recovers(monkeypatch):
    from smolagents.remote_executors import WasmExecutor, _wasm

    monkeypatch.setattr(_wasm, "_KILL_GRACE", 2.0)
    with WasmExecutor([], None, timeout=2) as executor:
        executor.send_tools({"add": add})
        executor.send_variables({"sent": 5})
        executor("kept = 1")
        stubborn = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
        with pytest.raises(SandboxResourceError) as caught:
            executor(stubborn)
        message = str(caught.value)
        assert "time limit of 2 seconds" in message
        assert "lost" in message
        assert executor.starts == 1
        # next call: a fresh Deno process, the code-made state gone, tools and sent values back
        assert executor("'kept' in globals()").output is False
        assert executor("add(sent)").output == 15
        assert executor.starts == 2


def test_remote_process_dying_mid_call_is_the_call_error_and_next_call_works():
    from smolagents.remote_executors import WasmExecutor

    with WasmExecutor([], None, timeout=30) as executor:
        with pytest.raises(RemoteExecutorError) as caught:
            executor("import js\njs.Deno.exit(7)")
        assert "lost" in str(caught.value)
        assert executor("6 * 7").output == 42


def test_missing_package_error_names_the_package(wasm):
    with pytest.raises(RemoteExecutorError) as caught:
        wasm.install_packages(["numpy", "json"])
    message = str(caught.value)
    assert "'numpy'" in message
    assert "wheel_dir" in message
    assert "'json'" not in message  # standard library: nothing to install


def test_missing_package_at_construction():
    from smolagents.remote_executors import WasmExecutor

    with pytest.raises(RemoteExecutorError, match="not_a_real_package_xyz"):
        WasmExecutor(["not_a_real_package_xyz"], None)


def test_stdlib_imports_need_no_install(wasm):
    assert wasm.install_packages(["math", "json.*", "collections.abc"]) == []


def test_wheel_dir_installs_a_pure_python_wheel(tmp_path):
    from smolagents.remote_executors import WasmExecutor

    build_pure_python_wheel(tmp_path, "tinywheel", "1.2.3", "def triple(x):\n    return 3 * x\n")
    with WasmExecutor(["tinywheel"], None, wheel_dir=tmp_path) as executor:
        assert executor.installed_packages == ["tinywheel"]
        assert executor("import tinywheel\ntinywheel.triple(14)").output == 42
        assert (
            executor("import importlib.metadata\nimportlib.metadata.version('tinywheel')").output == "1.2.3"
        )


def test_deno_not_found_says_how_to_install():
    from smolagents.remote_executors import WasmExecutor

    for missing in ("/nonexistent/bin/deno", "deno-not-installed-anywhere"):
        with pytest.raises(UserError) as caught:
            WasmExecutor([], None, deno_path=missing)
        message = str(caught.value)
        assert "pip install 'smolagents[wasm]'" in message
        assert "deno.land" in message


def test_bad_permission_flags_are_refused():
    from smolagents.remote_executors import WasmExecutor

    with pytest.raises(UserError, match="--allow-all"):
        WasmExecutor([], None, deno_permissions=["-A"])
    with pytest.raises(UserError, match="not a Deno permission flag"):
        WasmExecutor([], None, deno_permissions=["--unstable"])


def test_explicit_permissions_replace_the_defaults():
    from smolagents.remote_executors import WasmExecutor

    read = f"allow-read={default_deno_dir() / 'npm'}"
    with WasmExecutor([], None, deno_permissions=[read, "allow-env=SMOLAGENTS_WASM_PROBE"]) as executor:
        assert executor.deno_permissions == [f"--{read}", "--allow-env=SMOLAGENTS_WASM_PROBE"]
        assert executor._process.from_snapshot is False  # its read is not granted: a cold start
        query = 'js.JSON.parse(\'{"name": "env", "variable": "SMOLAGENTS_WASM_PROBE"}\')'
        assert executor(f"import js\njs.Deno.permissions.querySync({query}).state").output == "granted"
        assert (
            executor(
                f"import js\njs.Deno.permissions.querySync({query.replace('PROBE', 'OTHER')}).state"
            ).output
            != "granted"
        )


def test_cleanup_twice_and_use_after_cleanup():
    from smolagents.remote_executors import WasmExecutor

    executor = WasmExecutor([], None)
    process = executor._process
    assert process is not None and process.alive
    executor.cleanup()
    executor.cleanup()
    assert not process.alive
    with pytest.raises(RemoteExecutorError, match="cleaned up"):
        executor("1")
    executor.delete()


# ---------------------------------------------------------------------------- the cache
def _dead_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_later_starts_use_the_memory_snapshot(wasm):
    assert snapshot_path(wasm.deno_dir).is_file()
    assert wasm._process.from_snapshot is True
    # the snapshot holds a fresh interpreter only: nothing from this module's calls
    with _fresh_executor() as executor:
        assert executor._process.from_snapshot is True
        assert executor("'counter' in globals()").output is False


def _fresh_executor():
    from smolagents.remote_executors import WasmExecutor

    return WasmExecutor([], None)


def test_cached_pyodide_starts_without_network(monkeypatch, wasm):
    """With the cache warm (the module fixture made sure), start-up never touches the network:
    every request would go to a dead loopback proxy."""
    dead = f"http://127.0.0.1:{_dead_loopback_port()}"
    monkeypatch.setenv("HTTPS_PROXY", dead)
    monkeypatch.setenv("HTTP_PROXY", dead)
    deno_dir = default_deno_dir()
    read = f"--allow-read={deno_dir / 'npm'},{snapshot_path(deno_dir)}"
    process = DenoProcess(find_deno(), [read], deno_dir, use_snapshot=True)
    try:
        process.start()
        assert process.downloaded is False
        assert process.from_snapshot is True
        assert process.python_version and process.python_version.startswith("3.")
    finally:
        process.kill()


def test_empty_cache_without_network_is_a_clear_error(monkeypatch, tmp_path):
    """The control for the test above: the dead proxy does stop a download, and says why."""
    dead = f"http://127.0.0.1:{_dead_loopback_port()}"
    monkeypatch.setenv("HTTPS_PROXY", dead)
    monkeypatch.setenv("HTTP_PROXY", dead)
    process = DenoProcess(find_deno(), [f"--allow-read={tmp_path / 'npm'}"], tmp_path)
    with pytest.raises(DenoProcessDied) as caught:
        process.start()
    message = str(caught.value)
    assert f"npm:pyodide@{PYODIDE_VERSION}" in message
    assert "registry" in message
    assert not process.alive


@pytest.mark.skipif(
    os.environ.get("SMOLAGENTS_TEST_FRESH_PYODIDE") != "1",
    reason="downloads Pyodide into an empty cache; set SMOLAGENTS_TEST_FRESH_PYODIDE=1",
)
def test_first_start_downloads_pyodide_into_an_empty_cache(tmp_path):
    from smolagents.remote_executors import WasmExecutor

    with WasmExecutor([], None, deno_dir=tmp_path / "deno") as executor:
        assert executor._process.downloaded is True
        assert executor._process.from_snapshot is True  # made right after the download
        assert executor("1 + 1").output == 2
    assert list((tmp_path / "deno" / "npm").rglob("pyodide.asm.wasm"))
    shutil.rmtree(tmp_path / "deno", ignore_errors=True)
