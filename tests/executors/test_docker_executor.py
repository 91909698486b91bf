"""DockerExecutor with the real ``docker`` SDK against a stand-in Docker Engine.

No Docker engine can run here, so the SDK talks (``DOCKER_HOST=tcp://127.0.0.1:PORT``) to
``FakeDockerEngine`` below: a loopback stand-in of the Engine API that we wrote for these
tests. It records every request, answers build / create / start / inspect / stop / remove
like the engine would, and on container start launches the real Jupyter Kernel Gateway as a
local process on the published host port, so everything after the container start (gateway,
kernel, code) is real.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from smolagents.errors import MissingDependencyError
from smolagents.remote_executors import (
    DockerExecutor,
    KernelGatewayClient,
    RemoteConnectionError,
    RemoteExecutorError,
)
from smolagents.remote_executors._docker import DEFAULT_DOCKERFILE

from .conftest import free_port, start_kernel_gateway, stop_process_group

_IMAGE_ID = "sha256:" + "ab" * 32


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes


@dataclass
class FakeDockerEngine:
    """A stand-in of the Docker Engine API on 127.0.0.1 (see the module docstring)."""

    workdir: Path
    requests: list[Request] = field(default_factory=list)
    dockerfiles: list[str] = field(default_factory=list)
    images: set[str] = field(default_factory=set)
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_build: str | None = None
    exit_on_start: bool = False
    fail_create: str | None = None

    def start(self) -> None:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Transfer-Encoding") == "chunked":
                    body = self._read_chunked()
                url = urllib.parse.urlsplit(self.path)
                path = re.sub(r"^/v[0-9.]+", "", url.path)
                request = Request(self.command, path, urllib.parse.parse_qs(url.query), body)
                engine.requests.append(request)
                status, payload = engine.answer(request)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                kind = "text/plain" if path == "/_ping" else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _read_chunked(self) -> bytes:
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()

            do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for container in self.containers.values():
            if container.get("process") is not None:
                stop_process_group(container["process"])
        self.server.shutdown()
        self.server.server_close()

    # -------------------------------------------------------------- the API
    def answer(self, request: Request) -> tuple[int, Any]:
        method, path = request.method, request.path
        if path == "/_ping":
            return 200, b"OK"
        if path == "/version":
            return 200, {"ApiVersion": "1.45", "Version": "27.0.0-standin", "MinAPIVersion": "1.24"}
        if method == "POST" and path == "/build":
            return self._build(request)
        match = re.fullmatch(r"/images/(.+)/json", path)
        if method == "GET" and match:
            name = match.group(1)
            if name in self.images or name == _IMAGE_ID or _IMAGE_ID.endswith(name):
                return 200, {"Id": _IMAGE_ID, "RepoTags": sorted(self.images)}
            return 404, {"message": f"No such image: {name}"}
        if method == "POST" and path == "/containers/create":
            return self._create(request)
        match = re.fullmatch(r"/containers/(\w+)(/\w+)?", path)
        if match and match.group(1) in self.containers:
            return self._container(method, match.group(1), match.group(2) or "", request)
        return 404, {"message": f"stand-in engine: no route for {method} {path}"}

    def _build(self, request: Request) -> tuple[int, Any]:
        with tarfile.open(fileobj=io.BytesIO(request.body)) as context:
            member = context.extractfile("Dockerfile")
            assert member is not None
            self.dockerfiles.append(member.read().decode())
        if self.fail_build:
            return 200, json.dumps(
                {"error": self.fail_build, "errorDetail": {"message": self.fail_build}}
            ).encode()
        self.images.update(request.query.get("t", []))
        lines = [
            {"stream": "Step 1/1 : FROM python\n"},
            {"aux": {"ID": _IMAGE_ID}},
            {"stream": f"Successfully built {_IMAGE_ID[7:19]}\n"},
        ]
        return 200, "\r\n".join(json.dumps(line) for line in lines).encode()

    def _create(self, request: Request) -> tuple[int, Any]:
        config = json.loads(request.body)
        if self.fail_create:
            return 500, {"message": self.fail_create}
        if config["Image"] not in self.images:
            return 404, {"message": f"No such image: {config['Image']}"}
        container_id = f"{len(self.containers) + 1:064x}"
        self.containers[container_id] = {"config": config, "status": "created", "process": None}
        return 201, {"Id": container_id, "Warnings": []}

    def _container(self, method: str, container_id: str, action: str, request: Request) -> tuple[int, Any]:
        container = self.containers[container_id]
        if method == "GET" and action == "/json":
            status = container["status"]
            return 200, {
                "Id": container_id,
                "Name": "/stand-in",
                "Image": _IMAGE_ID,
                "State": {"Status": status, "Running": status == "running"},
                "Config": {
                    "Image": container["config"]["Image"],
                    "Labels": container["config"].get("Labels") or {},
                    "Tty": False,
                },
            }
        if method == "POST" and action == "/start":
            container["status"] = "running"
            if self.exit_on_start:
                container["status"] = "exited"
                return 204, b""
            binding = container["config"]["HostConfig"]["PortBindings"]["8888/tcp"][0]
            env = dict(item.split("=", 1) for item in container["config"].get("Env") or [])
            container["process"] = start_kernel_gateway(
                int(binding["HostPort"]), self.workdir / container_id[-6:], env
            )
            return 204, b""
        if method == "POST" and action == "/stop":
            if container["process"] is not None:
                stop_process_group(container["process"])
            container["status"] = "exited"
            return 204, b""
        if method == "DELETE" and action == "":
            if container["status"] == "running" and request.query.get("force") != ["true"]:
                return 409, {"message": "container is running"}
            del self.containers[container_id]
            return 204, b""
        if method == "GET" and action == "/logs":
            return 200, b"stand-in: the gateway exited at start\n"
        return 404, {"message": f"stand-in engine: no route for {method} container{action}"}

    def calls(self, method: str, path_pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path_pattern, r.path)]


@pytest.fixture
def engine(tmp_path, monkeypatch):
    fake = FakeDockerEngine(tmp_path)
    fake.start()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{fake.port}")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    yield fake
    fake.stop()


DOCKERFILE = "FROM python:3.12-slim\nRUN pip install jupyter_kernel_gateway ipykernel numpy\n"


def test_docker_executor_builds_runs_executes_and_cleans_up(engine):
    port = free_port()
    executor = DockerExecutor(
        [],
        None,
        port=port,
        image_name="smolagents-test-kernel",
        container_run_kwargs={
            "labels": {"suite": "smolagents"},
            "mem_limit": "512m",
            "environment": {"FOO": "bar"},
        },
        dockerfile_content=DOCKERFILE,
    )
    try:
        # the image was built from dockerfile_content, tagged image_name
        assert engine.dockerfiles == [DOCKERFILE]
        (build,) = engine.calls("POST", "/build")
        assert build.query["t"] == ["smolagents-test-kernel"]
        # the container: image, port mapping, container_run_kwargs, the gateway token
        (create,) = engine.calls("POST", "/containers/create")
        config = json.loads(create.body)
        assert config["Image"] == "smolagents-test-kernel"
        assert config["HostConfig"]["PortBindings"] == {
            "8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        }
        assert config["Labels"] == {"suite": "smolagents"}
        assert config["HostConfig"]["Memory"] == 512 * 2**20
        env = dict(item.split("=", 1) for item in config["Env"])
        assert env["FOO"] == "bar" and len(env["KG_AUTH_TOKEN"]) == 32
        assert len(engine.calls("POST", r"/containers/\w+/start")) == 1
        # code runs in the gateway behind the published port
        executor("x = 20")
        result = executor("print('in the container')\nx * 2 + 2")
        assert (result.output, result.logs) == (42, "in the container\n")
        # the published port answers only with the container's token
        with pytest.raises(RemoteExecutorError, match="401"):
            KernelGatewayClient("127.0.0.1", port).start_kernel()
    finally:
        executor.cleanup()
        executor.cleanup()
    assert len(engine.calls("POST", r"/containers/\w+/stop")) == 1
    assert len(engine.calls("DELETE", r"/containers/\w+")) == 1
    assert engine.containers == {}
    with pytest.raises(RemoteExecutorError, match="cleaned up"):
        executor("1")


def test_default_dockerfile_and_reusing_an_existing_image(engine):
    with DockerExecutor([], None, port=free_port()) as executor:
        assert executor("1 + 1").output == 2
    assert engine.dockerfiles == [DEFAULT_DOCKERFILE]
    assert "jupyter_kernel_gateway" in DEFAULT_DOCKERFILE and "8888" in DEFAULT_DOCKERFILE
    engine.exit_on_start = True  # no second gateway needed to see which image ran
    with pytest.raises(RemoteExecutorError, match="stopped before"):
        DockerExecutor([], None, port=free_port(), build_new_image=False)
    assert len(engine.dockerfiles) == 1  # the existing image was used, not rebuilt
    assert [json.loads(r.body)["Image"] for r in engine.calls("POST", "/containers/create")] == [
        "jupyter-kernel"
    ] * 2


def test_failed_build_is_a_clear_error_and_nothing_runs(engine):
    engine.fail_build = "pip: no matching distribution"
    with pytest.raises(RemoteExecutorError, match="no matching distribution"):
        DockerExecutor([], None, port=free_port(), image_name="broken")
    assert engine.calls("POST", "/containers/create") == []


def test_container_that_cannot_start_is_a_clear_error(engine):
    engine.fail_create = "Bind for 127.0.0.1:8888 failed: port is already allocated"
    with pytest.raises(RemoteExecutorError, match="port is already allocated") as caught:
        DockerExecutor([], None, port=8888)
    assert "'jupyter-kernel'" in str(caught.value)


def test_container_exiting_at_start_is_reported_and_removed(engine):
    engine.exit_on_start = True
    with pytest.raises(RemoteExecutorError, match="stopped before its gateway answered") as caught:
        DockerExecutor([], None, port=free_port(), startup_timeout=30)
    assert "the gateway exited at start" in str(caught.value)
    assert engine.containers == {}


def test_unreachable_engine_names_where(monkeypatch):
    port = free_port()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    with pytest.raises(RemoteConnectionError, match=f"tcp://127.0.0.1:{port}"):
        DockerExecutor([], None)


def test_missing_docker_sdk_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "docker", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[docker\]'"):
        DockerExecutor([], None)
