"""The kernel-gateway client and executor against a real ``jupyter kernelgateway`` process
started on 127.0.0.1 by the ``kernel_gateway`` fixture (conftest.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from smolagents import tool
from smolagents.errors import InterpreterError, SandboxResourceError
from smolagents.remote_executors import (
    KernelGatewayClient,
    KernelGatewayExecutor,
    RemoteConnectionError,
    RemoteExecutorError,
    RemotePayloadError,
    RemoteSessionLostError,
)

from .conftest import free_port, start_kernel_gateway, stop_process_group


@tool
def greet(name: str, punctuation: str = ".") -> str:
    """Greet someone.

    Args:
        name: who to greet.
        punctuation: how to end the greeting.
    """
    return f"Hello {name}{punctuation}"


def _kernel_exists(gateway, kernel_id: str) -> bool:
    """The gateway does not list kernels by default; ask for this one."""
    url = f"http://{gateway.host}:{gateway.port}/api/kernels/{kernel_id}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())["id"] == kernel_id
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise


@pytest.fixture
def executor(kernel_gateway):
    made = KernelGatewayExecutor(
        [], None, host=kernel_gateway.host, port=kernel_gateway.port, timeout_seconds=3
    )
    yield made
    made.cleanup()


# ---------------------------------------------------------------- the client on its own
def test_client_executes_and_collects_every_reply_kind(kernel_gateway):
    client = KernelGatewayClient(kernel_gateway.host, kernel_gateway.port)
    kernel_id = client.start_kernel()
    try:
        assert _kernel_exists(kernel_gateway, kernel_id)
        result = client.execute("import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7")
        assert (result.stdout, result.stderr, result.status) == ("out\n", "err\n", "ok")
        assert result.results == [{"text/plain": "42"}]
        assert result.error is None
        shown = client.execute("from IPython.display import display\ndisplay({'a': 1})")
        assert shown.results and shown.results[0]["text/plain"] == "{'a': 1}"
        failed = client.execute("raise KeyError('missing')")
        assert failed.status == "error"
        assert failed.error is not None and failed.error["ename"] == "KeyError"
        assert "missing" in failed.error["evalue"]
        assert client.execute("state = 1").stdout == ""
        assert client.execute("print(state + 1)").stdout == "2\n"
    finally:
        client.shutdown()
    assert not _kernel_exists(kernel_gateway, kernel_id)
    client.shutdown()  # twice is fine


def test_unreachable_gateway_names_host_port_and_cause():
    port = free_port()  # nothing listens there
    with pytest.raises(RemoteConnectionError) as caught:
        KernelGatewayExecutor([], None, host="127.0.0.1", port=port)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "refused" in str(caught.value).lower()


def test_unknown_kernel_spec_is_a_clear_error(kernel_gateway):
    client = KernelGatewayClient(kernel_gateway.host, kernel_gateway.port, kernel_name="no-such-kernel")
    with pytest.raises(RemoteExecutorError, match="POST /api/kernels"):
        client.start_kernel()


# ---------------------------------------------------------------- the executor
def test_executor_runs_tools_remotely_with_both_argument_styles(executor):
    executor.send_tools({"greet": greet})
    assert executor("greet('Ada')").output == "Hello Ada."
    assert executor("greet(name='Bob', punctuation='!')").output == "Hello Bob!"
    # the tool runs in the kernel process, not in this one
    assert executor("import os\nos.getpid()").output != __import__("os").getpid()


def test_kernel_dying_mid_call_is_the_steps_error_and_next_call_works(executor, kernel_gateway):
    executor.send_tools({"greet": greet})
    executor.send_variables({"sent": [1, 2]})
    executor("made_by_code = 1")
    first_kernel = executor.client.kernel_id
    with pytest.raises(RemoteSessionLostError, match="lost") as caught:
        executor("print('going down')\nimport os\nos._exit(1)")
    assert "kernel" in str(caught.value)
    result = executor("greet('again'), sent")
    assert result.output == ("Hello again.", [1, 2])
    with pytest.raises(InterpreterError, match="NameError"):
        executor("made_by_code")
    kernel_now = executor.client.kernel_id
    executor.cleanup()
    assert not _kernel_exists(kernel_gateway, first_kernel) and not _kernel_exists(kernel_gateway, kernel_now)


def test_code_ignoring_the_interrupt_gets_its_kernel_replaced(executor):
    executor.client.interrupt_grace = 1.0
    executor("before = 1")
    stubborn = "while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass"
    with pytest.raises(SandboxResourceError) as caught:
        executor(stubborn)
    assert "time limit" in str(caught.value) and "restarted" in str(caught.value)
    assert executor("2 + 2").output == 4


def test_remote_pickle_result_is_refused(executor, tmp_path):
    marker = tmp_path / "pwned"
    executor.send_variables({"path": str(marker)})
    code = (
        "import sys\nsys.modules['__smolagents_remote__']._config['allow_pickle'] = True\n"
        "class Evil:\n    def __reduce__(self):\n        return (open, (path, 'w'))\n"
        "Evil()"
    )
    with pytest.raises(RemotePayloadError, match="pickle"):
        executor(code)
    assert not marker.exists()


def test_additional_imports_already_installed_need_no_pip(executor):
    assert executor.install_packages(["numpy", "PIL", "json"]) == []


def test_failed_remote_install_names_the_package(executor):
    with pytest.raises(RemoteExecutorError, match="no_such_package_for_smolagents_tests"):
        executor.install_packages(["no_such_package_for_smolagents_tests"])


def test_gateway_going_away_is_the_steps_error_and_then_names_host_port(tmp_path):
    port = free_port()
    process = start_kernel_gateway(port, tmp_path)
    try:
        KernelGatewayClient("127.0.0.1", port).wait_ready(timeout=60)
        executor = KernelGatewayExecutor([], None, port=port, timeout_seconds=5)
        assert executor("1").output == 1
    finally:
        stop_process_group(process)
    with pytest.raises(RemoteExecutorError) as caught:
        executor("1")  # the connection breaks mid-call
    assert isinstance(caught.value, (RemoteSessionLostError, RemoteConnectionError))
    with pytest.raises(RemoteConnectionError, match=f"127.0.0.1:{port}.*refused"):
        executor("1")  # the next call cannot reach the gateway at all
    executor.cleanup()
    with pytest.raises(RemoteExecutorError, match="cleaned up"):
        executor("1")


def test_a_forgotten_executor_deletes_its_kernel_when_collected(kernel_gateway):
    import gc

    executor = KernelGatewayExecutor([], None, host=kernel_gateway.host, port=kernel_gateway.port)
    kernel_id = executor.client.kernel_id
    assert kernel_id is not None and _kernel_exists(kernel_gateway, kernel_id)
    del executor
    gc.collect()
    assert not _kernel_exists(kernel_gateway, kernel_id)
