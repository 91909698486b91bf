"""The public surface: explicit, complete, light to import, and its errors pickle."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import types

import pytest

import smolagents
from smolagents import errors

HEAVY_MODULES = [
    "openai",
    "torch",
    "transformers",
    "litellm",
    "gradio",
    "huggingface_hub",
    "boto3",
    "mcp",
    "PIL",
]


def test_all_names_exist_and_no_module_or_foreign_class_leaks():
    for name in smolagents.__all__:
        value = getattr(smolagents, name)
        assert not isinstance(value, types.ModuleType), name
        module = getattr(value, "__module__", "smolagents") or "smolagents"
        if name != "__version__":
            assert module.startswith("smolagents"), (name, module)


def test_every_public_top_level_name_is_in_all():
    public = {n for n in dir(smolagents) if not n.startswith("_")}
    submodules = {n for n in public if isinstance(getattr(smolagents, n), types.ModuleType)}
    assert public - submodules <= set(smolagents.__all__)


def test_every_error_is_exported_and_pickles():
    for name, value in vars(errors).items():
        if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == errors.__name__:
            assert name in smolagents.__all__, name
            instance = value("something failed")
            restored = pickle.loads(pickle.dumps(instance))
            assert type(restored) is value and str(restored) == "something failed"
    http = pickle.loads(pickle.dumps(errors.ModelHTTPError("boom", status_code=503, body={"x": 1})))
    assert http.status_code == 503 and http.body == {"x": 1}


@pytest.mark.parametrize(
    "path", ["agents", "memory", "models", "tools", "default_tools", "monitoring", "agent_types", "cli"]
)
def test_documented_module_paths_import(path):
    __import__(f"smolagents.{path}")


def test_import_smolagents_pulls_no_optional_dependency():
    code = f"import sys, smolagents; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_version():
    assert isinstance(smolagents.__version__, str) and smolagents.__version__.count(".") == 2


MESSAGE_NAMES = [
    "ChatMessage",
    "ChatMessageStreamDelta",
    "ChatMessageToolCall",
    "ChatMessageToolCallFunction",
    "ChatMessageToolCallStreamDelta",
    "MessageRole",
    "agglomerate_stream_deltas",
    "content_to_text",
]


def test_messages_have_a_public_home_below_models_and_every_old_path_still_works():
    import smolagents.messages as messages
    import smolagents.models as models
    import smolagents.models._messages as compat

    assert sorted(messages.__all__) == sorted(MESSAGE_NAMES)
    for name in MESSAGE_NAMES:
        value = getattr(messages, name)
        assert value.__module__ == "smolagents.messages", name  # defined there, not re-exported
        assert getattr(models, name) is value and getattr(compat, name) is value, name
        if name in smolagents.__all__:
            assert getattr(smolagents, name) is value, name


def test_messages_module_imports_nothing_above_the_foundation():
    # memory, agents and testing import messages: messages must not import them, nor models
    import ast
    from pathlib import Path

    import smolagents.messages as messages

    tree = ast.parse(Path(messages.__file__).read_text())
    relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert relative <= {"_monitoring_types"}, relative


def test_old_pickles_naming_the_private_messages_path_still_load():
    from smolagents.messages import ChatMessage

    message = ChatMessage(role="user", content="hi")
    old = pickle.dumps(message, protocol=0).replace(  # text protocol: names are plain lines
        b"smolagents.messages", b"smolagents.models._messages"
    )
    assert b"smolagents.models._messages" in old
    assert pickle.loads(old) == message
