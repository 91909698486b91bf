"""A bare `pip install .` in a fresh venv imports without any optional dependency."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = [
    "openai",
    "torch",
    "transformers",
    "litellm",
    "gradio",
    "huggingface_hub",
    "boto3",
    "mcp",
    "numpy",
]


@pytest.mark.timeout(300)
def test_bare_install_imports_light(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
    )
    if install.returncode != 0 and "No matching distribution" in install.stderr + install.stdout:
        pytest.skip(f"package index unreachable: {install.stderr[-300:]}")
    assert install.returncode == 0, install.stderr[-2000:]
    code = (
        "import sys, smolagents; "
        f"print(','.join(m for m in {OPTIONAL!r} if m in sys.modules)); "
        "print(smolagents.__version__)"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.split(
        "\n"
    )
    assert out[0] == ""  # no optional dependency was imported
    assert out[1] == __import__("smolagents").__version__
    # a missing extra names the pip install to run
    err = subprocess.run(
        [str(python), "-c", "from smolagents import OpenAIModel; OpenAIModel('m')"],
        capture_output=True,
        text=True,
    ).stderr
    assert "pip install 'smolagents[openai]'" in err
