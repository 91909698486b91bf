"""The type checker runs with the rest of the suite: mypy, configured by ``[tool.mypy]`` in
pyproject.toml, must report no errors on ``src/smolagents``. CI runs pytest, so this is how CI
type-checks the package."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)  # a cold mypy run over the package takes one to two minutes here
def test_mypy_reports_no_errors(tmp_path_factory: pytest.TempPathFactory) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it is part of the 'test' extra)")
    # a cache shared by the session's runs (warm reruns take seconds), outside the tree
    cache = tmp_path_factory.getbasetemp().parent / "smolagents-mypy-cache"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            "--no-color-output",
            "--no-error-summary",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, (
        f"mypy found type errors (config: [tool.mypy] in pyproject.toml):\n{report}"
    )


def test_package_ships_py_typed_marker() -> None:
    assert (ROOT / "src" / "smolagents" / "py.typed").is_file()
