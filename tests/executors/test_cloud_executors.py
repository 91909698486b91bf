"""E2BExecutor, BlaxelExecutor and ModalExecutor, offline, at the SDK boundary.

No cloud is reachable: ``_cloud_standins`` replaces only each SDK's network objects (see its
docstring). For E2B and Blaxel the SDK's own ``run_code`` runs against a local IPython kernel
that answers in the code-interpreter server's NDJSON; for Modal the sandbox's ``exec`` starts
the same ``python`` command locally and speaks through Modal-shaped streams.
"""

from __future__ import annotations

import datetime
import decimal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from smolagents import tool
from smolagents.errors import InterpreterError, MissingDependencyError, SandboxResourceError
from smolagents.remote_executors import RemoteConnectionError, RemoteExecutorError

from ._cloud_standins import blaxel_executor, e2b_executor, modal_executor


# ---------------------------------------------------------------------------- factories
def _e2b(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Any:
    import e2b_code_interpreter  # noqa: F401  (in the test extra: fail if missing, never skip)

    return e2b_executor(monkeypatch, **options)


def _blaxel(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Any:
    import blaxel.core  # noqa: F401  (in the test extra: fail if missing, never skip)

    return blaxel_executor(monkeypatch, **options)


def _modal(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Any:
    import modal  # noqa: F401  (in the test extra: fail if missing, never skip)

    return modal_executor(monkeypatch, **options)


FACTORIES: dict[str, Callable[..., Any]] = {"e2b": _e2b, "blaxel": _blaxel, "modal": _modal}


@pytest.fixture(scope="module")
def module_monkeypatch() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def cloud(request: pytest.FixtureRequest, module_monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    executor = FACTORIES[request.param](module_monkeypatch)
    executor.kind = request.param
    yield executor
    executor.cleanup()


@pytest.fixture(params=sorted(FACTORIES))
def make_cloud(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(**options: Any) -> Any:
        executor = FACTORIES[request.param](monkeypatch, **options)
        executor.kind = request.param
        made.append(executor)
        return executor

    yield make
    for executor in made:
        executor.cleanup()


def add(a: int, b: int = 10) -> int:
    """Add two numbers."""
    return a + b


@tool
def multiply(a: int, b: int = 2) -> int:
    """Multiply two numbers.

    Args:
        a: the first factor
        b: the second factor
    """
    return a * b


# ---------------------------------------------------------------------------- behaviour
def test_state_prints_and_values(cloud):
    cloud("total = 40")
    out = cloud("total += 2\nprint('total is', total)\ntotal")
    assert out.output == 42
    assert out.logs == "total is 42\n"
    assert out.is_final_answer is False


def test_final_answer_nested(cloud):
    out = cloud(
        "def outer():\n    def inner():\n        final_answer(['done', 1])\n    inner()\ntry:\n    outer()\nexcept Exception:\n    pass"
    )
    assert out.is_final_answer is True
    assert out.output == ["done", 1]


def test_error_with_message_and_line(cloud):
    with pytest.raises(InterpreterError) as caught:
        cloud("x = 1\ny = {}['missing']\n")
    assert "KeyError" in str(caught.value)
    assert "y = {}['missing']" in str(caught.value)


def test_tools_positional_and_keyword(cloud):
    cloud.send_tools({"add": add, "multiply": multiply})
    assert cloud("add(1, 2)").output == 3
    assert cloud("add(1, b=4)").output == 5
    assert cloud("multiply(3)").output == 6
    assert cloud("multiply(a=3, b=5)").output == 15


@pytest.mark.parametrize(
    "value",
    [
        (1, "a", None),
        {"nested": [1.5, {2, 3}]},
        b"\x00bytes",
        datetime.datetime(2025, 1, 2, 3, 4, 5),
        datetime.date(2025, 1, 2),
        decimal.Decimal("1.25"),
    ],
    ids=lambda value: type(value).__name__,
)
def test_codec_values_both_ways(cloud, value):
    cloud.send_variables({"incoming": value})
    assert cloud("incoming").output == value


def test_data_library_values_both_ways(cloud):
    import numpy as np
    import pandas as pd
    from PIL import Image as image_module

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    image = image_module.new("RGB", (2, 2), (255, 0, 0))
    cloud.send_variables({"array": np.arange(6).reshape(2, 3), "frame": frame, "image": image})
    out = cloud("(array * 2, frame.assign(c=frame.a + 1), image.size)")
    array, frame_back, size = out.output
    assert array.tolist() == [[0, 2, 4], [6, 8, 10]]
    assert frame_back["c"].tolist() == [2, 3]
    assert size == (2, 2)


def test_missing_package_is_installed_remotely_or_named(cloud):
    assert cloud.install_packages(["json", "numpy"]) == []  # stdlib, and already there
    with pytest.raises(RemoteExecutorError, match="not_a_real_package_xyz"):
        cloud.install_packages(["not_a_real_package_xyz"])


# ---------------------------------------------------------------------------- lifecycle
def test_timeout_stops_the_call_and_the_next_call_works(make_cloud):
    """E2B and Blaxel can only reset the kernel (state lost); Modal interrupts (state kept)."""
    executor = make_cloud(timeout_seconds=3)
    executor.send_tools({"add": add})
    executor("made_here = 1")
    with pytest.raises(SandboxResourceError) as caught:
        executor("print('looping')\nwhile True:\n    pass")
    assert "time limit of 3 seconds" in str(caught.value)
    if executor.kind == "modal":
        assert "lost" not in str(caught.value)
        assert "looping" in caught.value.logs
        assert executor("made_here").output == 1
    else:
        assert "lost" in str(caught.value)
        assert executor("'made_here' in globals()").output is False
    assert executor("add(5)").output == 15


def test_modal_timeout_that_ignores_the_interrupt_kills_the_process(monkeypatch):
    from smolagents.remote_executors import _modal as modal_module

    monkeypatch.setattr(modal_module, "_KILL_GRACE", 1.0)
    executor = _modal(monkeypatch, timeout_seconds=2)
    try:
        executor("made_here = 1")
        stubborn = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
        with pytest.raises(SandboxResourceError, match="lost"):
            executor(stubborn)
        assert executor("'made_here' in globals()").output is False
        assert len(executor.sandbox.processes) >= 3  # the REPL, kill -INT, kill -KILL, a new REPL
        assert [p.argv[:2] for p in executor.sandbox.processes[1:3]] == [["kill", "-INT"], ["kill", "-KILL"]]
    finally:
        executor.cleanup()


def test_cleanup_releases_the_sandbox_once(make_cloud):
    executor = make_cloud()
    sandbox = executor.sandbox
    assert executor("1 + 1").output == 2
    executor.cleanup()
    executor.cleanup()
    if executor.kind == "e2b":
        assert type(sandbox).killed == 1
    elif executor.kind == "blaxel":
        assert type(sandbox).deleted == 1
    else:
        assert sandbox.terminated == 1
        assert all(process.poll() is not None for process in sandbox.processes)
    with pytest.raises(RemoteExecutorError, match="cleaned up"):
        executor("1")


def test_e2b_kwargs_reach_sandbox_create(monkeypatch):
    executor = _e2b(monkeypatch, template="my-template", timeout=120, api_key="key")
    try:
        assert executor.sandbox.created_with == {"template": "my-template", "timeout": 120, "api_key": "key"}
        paths = [path for _, path, _ in executor.sandbox.server.requests]
        assert "/contexts" in paths and "/execute" in paths
    finally:
        executor.cleanup()


def test_blaxel_settings_reach_the_sdk(monkeypatch):
    executor = _blaxel(monkeypatch, name="my-box", region="us-pdx-1")
    try:
        assert executor.sandbox.created_with == {"name": "my-box", "region": "us-pdx-1"}
        paths = [path for _, path, _ in executor.sandbox.server.requests]
        assert "/port/8888/contexts" in paths and "/port/8888/execute" in paths
    finally:
        executor.cleanup()


def test_modal_app_image_and_command(monkeypatch):
    import modal

    executor = _modal(monkeypatch, app_name="my-app", cpu=2.0, block_network=True)
    try:
        assert executor.looked_up == [("my-app", {"create_if_missing": True})]
        sandbox = executor.sandbox
        assert sandbox.kwargs["app"] == "app:my-app"
        assert sandbox.kwargs["cpu"] == 2.0 and sandbox.kwargs["block_network"] is True
        assert isinstance(sandbox.kwargs["image"], modal.Image)
        argv = sandbox.processes[0].argv
        assert argv[0] == sys.executable and argv[1:3] == ["-u", "-c"]
        assert "smolagents_harness_serve()" in argv[3]
    finally:
        executor.cleanup()


def test_modal_process_dying_is_the_call_error_and_next_call_works(monkeypatch):
    executor = _modal(monkeypatch)
    try:
        executor.send_tools({"add": add})
        with pytest.raises(RemoteExecutorError, match="lost"):
            executor("import os\nos._exit(3)")
        assert executor("add(2 * 21, b=0)").output == 42
        assert len(executor.sandbox.processes) == 2  # a new Python process in the same sandbox
    finally:
        executor.cleanup()


@pytest.mark.parametrize(
    ("kind", "module", "extra"),
    [
        ("e2b", "e2b_code_interpreter", "e2b"),
        ("blaxel", "blaxel.core", "blaxel"),
        ("modal", "modal", "modal"),
    ],
)
def test_missing_sdk_names_the_extra(monkeypatch, kind, module, extra):
    import smolagents.remote_executors as remote

    monkeypatch.setitem(sys.modules, module, None)
    name = {"e2b": "E2BExecutor", "blaxel": "BlaxelExecutor", "modal": "ModalExecutor"}[kind]
    with pytest.raises(MissingDependencyError, match=rf"pip install 'smolagents\[{extra}\]'"):
        getattr(remote, name)([], None)


def test_sandbox_creation_failure_is_a_clear_error(monkeypatch):
    import e2b_code_interpreter as e2b_sdk

    from smolagents.remote_executors import E2BExecutor

    def refuse(**kwargs: Any) -> Any:
        raise RuntimeError("401: invalid API key")

    monkeypatch.setattr(e2b_sdk.Sandbox, "create", staticmethod(refuse))
    with pytest.raises(RemoteConnectionError, match="E2B_API_KEY") as caught:
        E2BExecutor([], None)
    assert "invalid API key" in str(caught.value)
