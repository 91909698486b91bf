"""Request/answer over line-delimited JSON, with a reader thread so every wait can time out.

Why: the Deno runner and a plain remote Python process (a Modal sandbox) speak the same
protocol over a pair of pipes. Reading a pipe blocks, so a thread reads it and a queue hands
messages to the caller, who can give up after a deadline and kill the peer.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import AgentExecutionError

__all__ = ["ChannelClosed", "ChannelTimeout", "LineChannel"]


class ChannelTimeout(AgentExecutionError):
    """The peer did not answer before the deadline."""


class ChannelClosed(AgentExecutionError):
    """The peer's output ended (it exited or was killed)."""


class LineChannel:
    """JSON lines out through ``write``, JSON objects in from ``lines``; one request at a time.

    Lines that are not JSON objects go to ``on_noise`` (kept for error messages), never to
    the caller: a stray print on the peer's stdout cannot be taken for an answer.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        lines: Iterable[str | bytes],
        on_noise: Callable[[str], None] | None = None,
    ) -> None:
        self._write = write
        self._on_noise = on_noise or (lambda _line: None)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        self._lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()

    def _pump(self, lines: Iterable[str | bytes]) -> None:
        """Reassemble lines from whatever chunks the stream yields (SDK streams split freely)."""
        pending = ""
        try:
            for raw in lines:
                pending += raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                *complete, pending = pending.split("\n")
                for line in complete:
                    self._deliver(line)
            if pending:
                self._deliver(pending)
        except Exception as exc:  # a closed pipe ends the stream like EOF does
            self._on_noise(f"[reader stopped: {type(exc).__name__}: {exc}]")
        finally:
            self._queue.put(None)

    def _deliver(self, line: str) -> None:
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict):
            self._queue.put(message)
        else:
            self._on_noise(line.rstrip())

    def receive(self, timeout: float | None) -> dict[str, Any]:
        """The next message; ``ChannelTimeout`` past ``timeout`` s, ``ChannelClosed`` at EOF."""
        if self.closed:
            raise ChannelClosed("the channel is closed")
        try:
            message = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise ChannelTimeout(f"no answer within {timeout} s") from None
        if message is None:
            self.closed = True
            raise ChannelClosed("the peer closed its output")
        return message

    def request(self, payload: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        """Send ``payload`` with a fresh id and return the answer carrying that id."""
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            try:
                self._write(json.dumps({**payload, "id": request_id}) + "\n")
            except (OSError, ValueError) as exc:
                raise ChannelClosed(f"the peer stopped reading: {exc}") from exc
            while True:
                message = self.receive(timeout)
                if message.get("id") == request_id:
                    return message
