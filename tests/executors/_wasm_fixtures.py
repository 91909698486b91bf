"""Helpers for the WasmExecutor tests: whether Deno is here, and a tiny wheel built on the spot."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

__all__ = ["build_pure_python_wheel", "deno_available"]


def deno_available() -> bool:
    """True when a Deno binary can be found the way WasmExecutor finds it."""
    from smolagents.errors import UserError
    from smolagents.remote_executors._deno import find_deno

    try:
        find_deno("deno")
    except UserError:
        return False
    return True


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_pure_python_wheel(folder: Path, name: str, version: str, module_source: str) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` holding one module ``<name>.py``.

    A real wheel (METADATA, WHEEL, RECORD), so the test exercises what a user's wheel folder
    holds, without any package index.
    """
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": module_source.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: smolagents-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)
    return path
