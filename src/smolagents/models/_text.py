"""Text post-processing shared by every adapter: stop sequences and ``<think>`` reasoning.

Some servers reject the ``stop`` parameter and some models write their reasoning inline in
``<think>`` tags. Both are handled here once, for whole answers and for streams, so that
every adapter cuts and splits text the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "StopSequenceCutter",
    "ThinkSplitter",
    "remove_content_after_stop_sequences",
    "split_reasoning",
]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def remove_content_after_stop_sequences(
    content: str | None, stop_sequences: Sequence[str] | None
) -> str | None:
    """Cut ``content`` at the earliest stop sequence, as the server would have done.

    Used when the server ignored or rejected ``stop``; the stop sequence itself is removed too.
    """
    if content is None or not stop_sequences:
        return content
    cut = len(content)
    for stop in stop_sequences:
        if stop:
            position = content.find(stop)
            if position != -1:
                cut = min(cut, position)
    return content[:cut]


def split_reasoning(content: str | None) -> tuple[str | None, str | None]:
    """Split ``<think>...</think>`` blocks out of ``content``: returns ``(content, reasoning)``.

    Also handles the common case where the chat template opened the block in the prompt, so
    the answer holds only the closing ``</think>``. An unclosed ``<think>`` is left in the
    content: cutting the whole answer away would hide what the model wrote.
    """
    if not content or (THINK_OPEN not in content and THINK_CLOSE not in content):
        return content, None
    reasoning: list[str] = []
    rest = content
    # A leading reasoning block whose opening tag was in the prompt.
    close_at = rest.find(THINK_CLOSE)
    open_at = rest.find(THINK_OPEN)
    if close_at != -1 and (open_at == -1 or close_at < open_at):
        reasoning.append(rest[:close_at])
        rest = rest[close_at + len(THINK_CLOSE) :]
    kept: list[str] = []
    while True:
        open_at = rest.find(THINK_OPEN)
        if open_at == -1:
            kept.append(rest)
            break
        close_at = rest.find(THINK_CLOSE, open_at + len(THINK_OPEN))
        if close_at == -1:
            kept.append(rest)
            break
        kept.append(rest[:open_at])
        reasoning.append(rest[open_at + len(THINK_OPEN) : close_at])
        rest = rest[close_at + len(THINK_CLOSE) :]
    text = "".join(kept).strip()
    thought = "\n".join(part.strip() for part in reasoning if part.strip())
    return text, thought or None


def _partial_suffix(text: str, markers: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could be the start of a marker."""
    longest = 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if marker.startswith(text[-size:]):
                longest = size
                break
    return longest


class ThinkSplitter:
    """Incremental ``split_reasoning`` for streams: feed text pieces, get (content, reasoning).

    Text that might be the start of a tag is held back until the next piece decides it.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._inside = False
        self._after_block = False  # drop whitespace right after </think>, as split_reasoning does

    def _emit(self, text: str, content: list[str], reasoning: list[str]) -> None:
        if self._inside:
            reasoning.append(text)
            return
        if self._after_block:
            text = text.lstrip()
            self._after_block = not text
        content.append(text)

    def feed(self, piece: str) -> tuple[str, str]:
        self._buffer += piece
        content: list[str] = []
        reasoning: list[str] = []
        while self._buffer:
            tag = THINK_CLOSE if self._inside else THINK_OPEN
            at = self._buffer.find(tag)
            if at == -1:
                keep = _partial_suffix(self._buffer, [tag])
                split = len(self._buffer) - keep
                ready, self._buffer = self._buffer[:split], self._buffer[split:]
                self._emit(ready, content, reasoning)
                break
            self._emit(self._buffer[:at], content, reasoning)
            self._buffer = self._buffer[at + len(tag) :]
            self._inside = not self._inside
            self._after_block = not self._inside
        return "".join(content), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        rest, self._buffer = self._buffer, ""
        if self._inside:
            return "", rest
        return (rest.lstrip() if self._after_block else rest), ""


class StopSequenceCutter:
    """Incremental ``remove_content_after_stop_sequences`` for streams.

    ``feed`` returns the text that is safe to show; once a stop sequence is seen, ``done``
    is True and everything after it is dropped.
    """

    def __init__(self, stop_sequences: Sequence[str] | None) -> None:
        self._stops = [s for s in stop_sequences or [] if s]
        self._buffer = ""
        self.done = False

    def feed(self, piece: str) -> str:
        if self.done:
            return ""
        if not self._stops:
            return piece
        self._buffer += piece
        cut = remove_content_after_stop_sequences(self._buffer, self._stops) or ""
        if len(cut) < len(self._buffer):
            self.done = True
            self._buffer = ""
            return cut
        keep = _partial_suffix(self._buffer, self._stops)
        ready, self._buffer = (
            self._buffer[: len(self._buffer) - keep],
            self._buffer[len(self._buffer) - keep :],
        )
        return ready

    def flush(self) -> str:
        rest, self._buffer = ("" if self.done else self._buffer), ""
        return rest
