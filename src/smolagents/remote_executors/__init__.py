"""Executors that run model-written code in another Python: a kernel, a container, Wasm, a cloud.

All of them subclass :class:`RemotePythonExecutor` (``_base``), which holds the shared logic;
each module below only adds a transport. Classes are loaded on first use, so importing this
package never imports an SDK (docker, e2b, modal, blaxel) or starts anything.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._base import (
    RemoteConnectionError,
    RemoteExecutorError,
    RemotePayloadError,
    RemotePythonExecutor,
    RemoteSessionLostError,
    RemoteTimeoutError,
)

if TYPE_CHECKING:
    from ._blaxel import BlaxelExecutor
    from ._docker import DockerExecutor
    from ._e2b import E2BExecutor
    from ._kernel_gateway import KernelGatewayClient, KernelGatewayExecutor
    from ._modal import ModalExecutor
    from ._wasm import WasmExecutor

__all__ = [
    "BlaxelExecutor",
    "DockerExecutor",
    "E2BExecutor",
    "KernelGatewayClient",
    "KernelGatewayExecutor",
    "ModalExecutor",
    "RemoteConnectionError",
    "RemoteExecutorError",
    "RemotePayloadError",
    "RemotePythonExecutor",
    "RemoteSessionLostError",
    "RemoteTimeoutError",
    "WasmExecutor",
]

_LAZY = {
    "DockerExecutor": "._docker",
    "KernelGatewayClient": "._kernel_gateway",
    "KernelGatewayExecutor": "._kernel_gateway",
    "WasmExecutor": "._wasm",
    "E2BExecutor": "._e2b",
    "ModalExecutor": "._modal",
    "BlaxelExecutor": "._blaxel",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
