"""Plain records shared by every layer: log levels, token counts and timings.

They live apart from the rich-based logger so that models, tools and the sandbox can use
them without importing any console code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = ["LogLevel", "Timing", "TokenUsage"]


class LogLevel(IntEnum):
    """How much an agent prints: ``OFF`` prints nothing, ``DEBUG`` prints everything."""

    OFF = -1
    ERROR = 0
    INFO = 1
    DEBUG = 2


@dataclass
class TokenUsage:
    """Tokens spent by one model call, one step or a whole run."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = field(init=False)

    def __post_init__(self) -> None:
        self.total_tokens = self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage | None) -> TokenUsage:
        if other is None:
            return TokenUsage(self.input_tokens, self.output_tokens)
        return TokenUsage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)

    __radd__ = __add__

    def dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass
class Timing:
    """Wall-clock start and end of a step or run, in seconds since the epoch."""

    start_time: float = field(default_factory=time.time)
    end_time: float | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end_time is None else self.end_time - self.start_time

    def stop(self) -> Timing:
        self.end_time = time.time()
        return self

    def dict(self) -> dict[str, float | None]:
        return {"start_time": self.start_time, "end_time": self.end_time, "duration": self.duration}

    def __repr__(self) -> str:
        return f"Timing(start_time={self.start_time}, end_time={self.end_time}, duration={self.duration})"
