"""The part every scripted loopback server shares: a threaded HTTP server on 127.0.0.1 with
a queue of scripted replies and a record of every request."""

from __future__ import annotations

import itertools
import ssl
import threading
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

__all__ = ["ScriptedHTTPServer"]

R = TypeVar("R")  # the recorded-request type of a server


class ScriptedHTTPServer(Generic[R]):
    """Start/stop, scripted replies and recorded requests; subclasses answer the protocol.

    Subclasses set ``handler_class`` (a ``BaseHTTPRequestHandler`` reading ``self.app``) and
    ``thread_name``.
    """

    handler_class: type[BaseHTTPRequestHandler]
    thread_name = "scripted-test-server"

    def __init__(
        self,
        replies: Iterable[Any] | None = None,
        *,
        default: Any = None,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.default = default
        self.ssl_context = ssl_context
        self._replies: deque[Any] = deque(replies or [])
        self._requests: list[R] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._host, self._port = host, port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Any:
        if self._httpd is None:
            handler = type("_Handler", (self.handler_class,), {"app": self})
            self._httpd = ThreadingHTTPServer((self._host, self._port), handler)
            self._httpd.daemon_threads = True
            if self.ssl_context is not None:
                self._httpd.socket = self.ssl_context.wrap_socket(self._httpd.socket, server_side=True)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = self._thread = None

    stop = close

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("The server is not running: call start() or use it as a context manager.")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Root URL of the server."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    # ----------------------------------------------------------------- scripting
    def enqueue(self, *replies: Any) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._replies)

    @property
    def requests(self) -> list[R]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def _record(self, request: R) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_reply(self) -> Any:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        return self.default
