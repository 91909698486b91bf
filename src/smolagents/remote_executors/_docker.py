"""``DockerExecutor``: a Jupyter Kernel Gateway in a container, driven by the docker SDK.

Why it is small: the container only provides isolation and a gateway; running code is the
kernel-gateway transport (``_kernel_gateway``) and everything else is the shared remote base.
The gateway gets a random auth token per container (``KG_AUTH_TOKEN``), so another local
process cannot use the published port to run code in it.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import time
import weakref
from typing import Any

from .._optional import require
from ._base import RemoteConnectionError, RemoteExecutorError, RemotePythonExecutor
from ._kernel_gateway import KernelGatewayClient, KernelGatewayExecutor

__all__ = ["DEFAULT_DOCKERFILE", "DockerExecutor"]

#: the image built when no ``dockerfile_content`` is given
DEFAULT_DOCKERFILE = """\
FROM python:3.12-slim
RUN pip install --no-cache-dir jupyter_kernel_gateway ipykernel
EXPOSE 8888
CMD ["jupyter", "kernelgateway", "--KernelGatewayApp.ip=0.0.0.0", "--KernelGatewayApp.port=8888"]
"""
_CONTAINER_PORT = "8888/tcp"


def _release(client: KernelGatewayClient | None, container: Any) -> None:
    """Delete the kernel, then stop and remove the container; errors are not fatal here."""
    if client is not None:
        with contextlib.suppress(Exception):
            client.shutdown()
    if container is not None:
        with contextlib.suppress(Exception):
            container.stop(timeout=5)
        with contextlib.suppress(Exception):
            container.remove(force=True)


class DockerExecutor(KernelGatewayExecutor):
    """Runs code with a Jupyter Kernel Gateway inside a Docker container.

    Builds ``image_name`` (from ``dockerfile_content``, or a default image with
    ``jupyter_kernel_gateway``), runs it with the gateway's port published on
    ``host:port``, waits for the gateway and starts a kernel. :meth:`cleanup` stops and
    removes the container. The Docker engine is found like the ``docker`` CLI does
    (``DOCKER_HOST`` or the local socket).

    Args:
        additional_imports: packages the code needs (pip-installed in the container).
        logger: an ``AgentLogger`` or ``None``.
        host, port: where the container's port 8888 is published on this machine.
        image_name: the image to run (and the tag of the one built).
        build_new_image: build the image even if it exists already.
        container_run_kwargs: extra arguments for ``docker.containers.run`` (they win).
        dockerfile_content: the Dockerfile to build instead of the default one.
        startup_timeout: seconds to wait for the gateway in the container.
        **kwargs: ``allow_pickle``, ``timeout_seconds``, ``max_print_outputs_length``.
    """

    def __init__(
        self,
        additional_imports: list[str],
        logger: Any,
        host: str = "127.0.0.1",
        port: int = 8888,
        image_name: str = "jupyter-kernel",
        build_new_image: bool = True,
        container_run_kwargs: dict[str, Any] | None = None,
        dockerfile_content: str | None = None,
        *,
        startup_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        RemotePythonExecutor.__init__(self, additional_imports, logger, **kwargs)
        docker = require("docker", "docker", "DockerExecutor")
        self.host, self.port, self.image_name = host, int(port), image_name
        self.container: Any = None
        self._token = secrets.token_hex(16)
        try:
            self.docker_client = docker.from_env()
            self.docker_client.ping()
        except docker.errors.DockerException as error:
            where = os.environ.get("DOCKER_HOST") or "the local Docker socket"
            raise RemoteConnectionError(
                f"Cannot reach the Docker engine at {where}: {error}. Start Docker, or set DOCKER_HOST."
            ) from None
        try:
            self._prepare_image(docker, build_new_image, dockerfile_content)
            try:
                self.container = self.docker_client.containers.run(
                    image_name, **self._run_kwargs(container_run_kwargs or {})
                )
            except docker.errors.DockerException as error:
                raise RemoteExecutorError(
                    f"Starting a container from {image_name!r} (port {host}:{self.port}) failed: {error}"
                ) from None
            self.client = KernelGatewayClient(host, self.port, token=self._token)
            # a forgotten executor still stops its container when collected or at exit
            self._finalizer = weakref.finalize(self, _release, self.client, self.container)
            self._wait_for_gateway(startup_timeout)
            self._start_session()
        except BaseException:
            self._closed = True
            finalizer = getattr(self, "_finalizer", None)
            if finalizer is not None:
                finalizer()
            else:
                _release(None, self.container)
            raise

    def _prepare_image(self, docker: Any, build_new_image: bool, dockerfile_content: str | None) -> None:
        if not build_new_image:
            try:
                self.docker_client.images.get(self.image_name)
                return
            except docker.errors.ImageNotFound:
                pass
        self._log(f"Building Docker image {self.image_name!r}")
        dockerfile = dockerfile_content if dockerfile_content is not None else DEFAULT_DOCKERFILE
        try:
            self.docker_client.images.build(
                fileobj=io.BytesIO(dockerfile.encode("utf-8")), tag=self.image_name, rm=True, forcerm=True
            )
        except docker.errors.BuildError as error:
            raise RemoteExecutorError(
                f"Building the Docker image {self.image_name!r} failed: {error.msg}"
            ) from None
        except docker.errors.APIError as error:
            raise RemoteExecutorError(
                f"Building the Docker image {self.image_name!r} failed: {error}"
            ) from None

    def _run_kwargs(self, extra: dict[str, Any]) -> dict[str, Any]:
        """Detached, the gateway port published, the token in the environment; the
        user's ``container_run_kwargs`` win (environments are merged)."""
        options: dict[str, Any] = {"detach": True, "ports": {_CONTAINER_PORT: (self.host, self.port)}}
        options.update({key: value for key, value in extra.items() if key != "environment"})
        environment = extra.get("environment") or {}
        if isinstance(environment, dict):
            options["environment"] = {**environment, "KG_AUTH_TOKEN": self._token}
        else:
            options["environment"] = [*environment, f"KG_AUTH_TOKEN={self._token}"]
        return options

    def _wait_for_gateway(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client.wait_ready(timeout=1.0)
                return
            except RemoteConnectionError as error:
                self.container.reload()
                if self.container.status in ("exited", "dead"):
                    logs = self.container.logs(tail=40).decode("utf-8", "replace")
                    raise RemoteExecutorError(
                        f"The container {self.container.short_id} stopped before its gateway answered:\n{logs}"
                    ) from None
                if time.monotonic() >= deadline:
                    raise RemoteConnectionError(
                        f"{error.message} (container started {timeout:g} s ago)"
                    ) from None

    def _close_transport(self) -> None:
        self._finalizer()

    def cleanup(self) -> None:
        """Stop and remove the container (and its kernel); calling it again does nothing."""
        super().cleanup()
