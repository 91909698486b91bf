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
