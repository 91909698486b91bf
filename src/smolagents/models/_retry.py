"""Retry decisions and rate limiting for API models, free of any I/O.

The decisions (is this error retryable, how long to wait, when to give up, how to adapt the
request) live in ``RetryState``; ``ApiModel`` has one small sync and one small async driver
that only add the calls and the sleeping. Errors from any SDK are read by duck typing
(``status_code``, ``response.headers``, ``body``), so every adapter shares this logic.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import AgentGenerationError, ModelHTTPError

__all__ = ["ApiFailure", "RateLimiter", "RetryState", "describe_api_error", "parse_retry_after"]

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
"""Statuses worth retrying besides every 5xx: timeouts, conflicts and rate limits."""

_HINTS = {
    401: "check the API key",
    403: "check that the API key may use this model",
    404: "check the model id and the API base URL",
}


@dataclass
class ApiFailure:
    """What went wrong in one API call, as far as retrying is concerned."""

    status_code: int | None
    message: str
    body: Any = None
    retry_after: float | None = None
    retryable: bool = False


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date)."""
    if headers is None or not hasattr(headers, "get"):
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        value = headers.get("Retry-After")
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # deferred: only needed for this rare form

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _server_message(body: Any, fallback: str) -> str:
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        if body.get("message"):
            return str(body["message"])
        if body.get("detail"):
            return str(body["detail"])
    if isinstance(body, str) and body.strip():
        return body.strip()
    return fallback


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return any("Connect" in cls.__name__ or "Timeout" in cls.__name__ for cls in type(exc).__mro__)


def describe_api_error(exc: BaseException) -> ApiFailure | None:
    """Read an SDK exception; None when it is not an API failure (a bug should propagate)."""
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(response, "status_code", None)
    body = getattr(exc, "body", None)
    fallback = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    if isinstance(status, int):
        return ApiFailure(
            status_code=status,
            message=_server_message(body, fallback),
            body=body,
            retry_after=parse_retry_after(getattr(response, "headers", None)),
            retryable=status in RETRYABLE_STATUS or status >= 500,
        )
    if _is_connection_error(exc):
        return ApiFailure(status_code=None, message=fallback, retryable=True)
    return None


def generation_error(
    model_id: str | None, failure: ApiFailure, attempts: int, note: str = ""
) -> AgentGenerationError:
    """The error an agent sees: names the model, the HTTP status and the server's message."""
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    if failure.status_code is None:
        message = f"Model {model_id!r} could not be reached{tried}: {failure.message}"
        return AgentGenerationError(message + note)
    hint = _HINTS.get(failure.status_code)
    message = f"Model {model_id!r} failed with HTTP {failure.status_code}{tried}: {failure.message}"
    if hint:
        message += f" ({hint})"
    return ModelHTTPError(message + note, status_code=failure.status_code, body=failure.body)


_STOP_MENTION = re.compile(r"\bstop\b", re.IGNORECASE)


def rejects_stop(failure: ApiFailure) -> bool:
    """Whether a failure says the server does not accept the ``stop`` parameter."""
    if failure.status_code not in (400, 422):
        return False
    text = failure.message
    if isinstance(failure.body, Mapping):
        error = failure.body.get("error", failure.body)
        if isinstance(error, Mapping) and error.get("param") == "stop":
            return True
    return bool(_STOP_MENTION.search(text))


class RetryState:
    """Decisions for one logical call: how long to wait after each failure, or when to stop.

    ``adapt`` may rewrite the request after a failure (e.g. drop a rejected parameter); the
    drivers send ``params`` as it stands on each attempt.
    """

    def __init__(
        self,
        model_id: str | None,
        params: dict[str, Any],
        max_attempts: int,
        base_delay: float,
        max_delay: float,
        adapt: Callable[[dict[str, Any], ApiFailure], dict[str, Any] | None],
        describe: Callable[[BaseException], ApiFailure | None] = describe_api_error,
    ) -> None:
        self.model_id = model_id
        self.params = params
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.failures = 0
        self._adapt = adapt
        self._describe = describe

    def after_failure(self, exc: BaseException) -> float | None:
        """Seconds to wait before the next attempt; None when ``exc`` is not an API failure
        (the driver re-raises it). Raises the final ``AgentGenerationError`` when giving up."""
        failure = self._describe(exc)
        if failure is None:
            return None
        adapted = self._adapt(self.params, failure)
        if adapted is not None:
            self.params = adapted
            return 0.0
        self.failures += 1
        if not failure.retryable or self.failures >= self.max_attempts:
            raise generation_error(self.model_id, failure, self.failures) from exc
        if failure.retry_after is not None:
            if failure.retry_after > self.max_delay:
                note = (
                    f" (the server asked to retry after {failure.retry_after:.0f}s, "
                    f"more than retry_max_delay={self.max_delay:g}s)"
                )
                raise generation_error(self.model_id, failure, self.failures, note) from exc
            return float(failure.retry_after)
        import random

        delay = min(self.max_delay, self.base_delay * 2 ** (self.failures - 1))
        return float(min(self.max_delay, delay + random.uniform(0, delay / 4)))  # jitter spreads out clients


class RateLimiter:
    """Spaces calls ``60 / requests_per_minute`` seconds apart, across threads and tasks.

    ``reserve`` books the next free slot and says how long to wait for it; the caller sleeps
    (``time.sleep`` or ``asyncio.sleep``) outside the lock.
    """

    def __init__(self, requests_per_minute: float | None = None) -> None:
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ValueError(f"requests_per_minute must be positive, got {requests_per_minute}.")
        self.requests_per_minute = requests_per_minute
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        if not self.interval:
            return 0.0
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
            return slot - now

    def __getstate__(self) -> dict[str, Any]:
        return {"requests_per_minute": self.requests_per_minute}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["requests_per_minute"])  # type: ignore[misc]
