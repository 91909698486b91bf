"""Framing of the messages between the parent and the child process.

Why a protocol of our own: the child runs untrusted code, so nothing it sends may be
unpickled or trusted in size. Each message is a JSON object (values inside it are
``_value_codec`` trees) behind a 4-byte big-endian length. The parent side reads with a
deadline and a size bound, and turns anything unexpected into a ``ChannelError``; the
child side is plain blocking I/O (its parent is trusted).
"""

from __future__ import annotations

import json
import os
import select
import time
from typing import Any

__all__ = [
    "ChannelClosed",
    "ChannelError",
    "ChannelTimeout",
    "ChannelViolation",
    "ChildChannel",
    "MessageTooLarge",
    "ParentChannel",
    "encode_frame",
]

_HEADER = 4
_READ_CHUNK = 1 << 20


class ChannelError(Exception):
    """The channel to the child cannot be used any more."""


class ChannelClosed(ChannelError):
    """The other side closed the pipe (the child exited or was killed)."""


class ChannelTimeout(ChannelError):
    """The deadline passed before a whole message arrived."""


class ChannelViolation(ChannelError):
    """The child sent something that is not a valid message (too large, not JSON...)."""


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("ascii")
    return len(body).to_bytes(_HEADER, "big") + body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"bare {name} is not valid in a message")


def _parse(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise ChannelViolation(
            f"the child sent a message that is not valid JSON ({str(error)[:100]})"
        ) from None
    if type(message) is not dict or type(message.get("op")) is not str:
        raise ChannelViolation("the child sent a message without a string 'op' field")
    return message


class ParentChannel:
    """The parent's end: non-blocking writes and reads, each bounded by a deadline."""

    def __init__(self, read_fd: int, write_fd: int, max_message_bytes: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._reader = select.poll()
        self._reader.register(read_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._writer = select.poll()
        self._writer.register(write_fd, select.POLLOUT | select.POLLHUP | select.POLLERR)

    @staticmethod
    def _wait(poller: select.poll, deadline: float | None) -> None:
        if deadline is None:
            poller.poll()
            return
        remaining = deadline - time.monotonic()
        ready = remaining > 0 and poller.poll(max(1, int(remaining * 1000 + 0.999)))
        if not ready and time.monotonic() >= deadline:
            raise ChannelTimeout("deadline passed")

    def send(self, message: dict[str, Any], deadline: float | None = None) -> None:
        view = memoryview(encode_frame(message))
        while view:
            try:
                written = os.write(self.write_fd, view)
            except BlockingIOError:
                self._wait(self._writer, deadline)
                continue
            except (BrokenPipeError, ConnectionResetError, OSError) as error:
                raise ChannelClosed(f"cannot write to the child: {error}") from None
            view = view[written:]

    def recv(self, deadline: float | None = None) -> dict[str, Any]:
        buffer = self._buffer
        while True:
            if len(buffer) >= _HEADER:
                size = int.from_bytes(buffer[:_HEADER], "big")
                if size > self.max_message_bytes:
                    raise ChannelViolation(
                        f"the child sent a message of {size} bytes, over the limit of "
                        f"{self.max_message_bytes} (ProcessExecutor max_message_bytes)"
                    )
                end = _HEADER + size
                if len(buffer) >= end:
                    body = bytes(buffer[_HEADER:end])
                    del buffer[:end]
                    return _parse(body)
                wanted = end - len(buffer)
            else:
                wanted = _HEADER - len(buffer)
            try:
                chunk = os.read(self.read_fd, min(max(wanted, 65536), _READ_CHUNK))
            except BlockingIOError:
                self._wait(self._reader, deadline)
                continue
            except OSError as error:
                raise ChannelClosed(f"cannot read from the child: {error}") from None
            if not chunk:
                raise ChannelClosed("the child closed its end of the pipe")
            buffer += chunk


class MessageTooLarge(ValueError):
    """A message is larger than the parent accepts (``ProcessExecutor max_message_bytes``)."""


class ChildChannel:
    """The child's end: blocking reads and writes on two file descriptors. It refuses to
    send what the parent would refuse, so an oversized value is an ordinary error in the
    child instead of a protocol violation that costs the state."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.max_message_bytes: int | None = None

    def send(self, message: dict[str, Any]) -> None:
        frame = encode_frame(message)
        limit = self.max_message_bytes
        if limit is not None and len(frame) - _HEADER > limit:
            raise MessageTooLarge(
                f"the value is {len(frame) - _HEADER} bytes once encoded, over the limit of {limit} bytes "
                "(ProcessExecutor max_message_bytes): send or return a smaller value (a summary or a slice)"
            )
        view = memoryview(frame)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def _read_exactly(self, size: int) -> bytes:
        parts = []
        while size:
            chunk = os.read(self.read_fd, min(size, _READ_CHUNK))
            if not chunk:
                raise ChannelClosed("the parent closed the pipe")
            parts.append(chunk)
            size -= len(chunk)
        return b"".join(parts)

    def recv(self) -> dict[str, Any]:
        size = int.from_bytes(self._read_exactly(_HEADER), "big")
        return _parse(self._read_exactly(size))
