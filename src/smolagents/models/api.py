"""``ApiModel``: what every model behind a remote API shares.

A lazily created client (sync, and one async client per event loop), rate limiting,
retries with exponential backoff and jitter that honour ``Retry-After``, errors that name
the model, the HTTP status and the server's message, and the ``stop`` fallback: when a
server rejects ``stop``, the call is retried without it and the text is cut client-side.
"""

from __future__ import annotations

import inspect
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar

from ._retry import ApiFailure, RateLimiter, RetryState, describe_api_error, rejects_stop
from .base import Model

__all__ = ["ApiModel"]

T = TypeVar("T")


#: Model families whose APIs reject ``stop`` (reasoning models, Grok): never sent to them.
_NO_STOP_PREFIXES = ("o3", "o4", "gpt-5", "grok-")


def _never_takes_stop(model_id: str | None) -> bool:
    """True for model ids (``o3-mini``, ``openai/gpt-5``, ``xai/grok-4``...) known to reject ``stop``;
    other models still learn it from the server's first refusal."""
    name = (model_id or "").rsplit("/", 1)[-1].lower()
    return name.startswith(_NO_STOP_PREFIXES)


class ApiModel(Model):
    """Base class for models reached through an API client.

    ``retry_max_attempts``, ``retry_base_delay`` and ``retry_max_delay`` (seconds) tune the
    retries and are never sent to the API; ``retry=False`` makes a single attempt.
    Subclasses implement ``create_client`` (and ``create_async_client`` for native async).
    """

    RETRY_MAX_ATTEMPTS: ClassVar[int] = 4
    RETRY_BASE_DELAY: ClassVar[float] = 2.0
    RETRY_MAX_DELAY: ClassVar[float] = 60.0

    def __init__(
        self,
        model_id: str,
        custom_role_conversions: dict[str, str] | None = None,
        client: Any | None = None,
        requests_per_minute: float | None = None,
        retry: bool = True,
        retry_max_attempts: int | None = None,
        retry_base_delay: float | None = None,
        retry_max_delay: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model_id=model_id, **kwargs)
        self.custom_role_conversions = custom_role_conversions
        self.requests_per_minute = requests_per_minute
        self.retry = retry
        self.retry_max_attempts = (
            self.RETRY_MAX_ATTEMPTS if retry_max_attempts is None else retry_max_attempts
        )
        self.retry_base_delay = self.RETRY_BASE_DELAY if retry_base_delay is None else retry_base_delay
        self.retry_max_delay = self.RETRY_MAX_DELAY if retry_max_delay is None else retry_max_delay
        if self.retry_max_attempts < 1:
            raise ValueError(f"retry_max_attempts must be at least 1, got {self.retry_max_attempts}.")
        self.rate_limiter = RateLimiter(requests_per_minute)
        self._client = client
        self._client_given = client is not None
        self._setup_runtime()

    def _setup_runtime(self) -> None:
        """State that is rebuilt rather than copied or pickled: locks, async clients, sleepers."""
        self._client_lock = threading.Lock()
        self._async_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._stop_unsupported = False  # learned from the server: it rejected `stop` once
        # Tests replace these to observe waits without waiting.
        self._sleep: Callable[[float], Any] = time.sleep
        self._async_sleep: Callable[[float], Awaitable[Any]] | None = None

    # ----------------------------------------------------------------- clients
    def create_client(self) -> Any:
        """Create the API client for the specific service."""
        raise NotImplementedError(f"{type(self).__name__} must implement create_client().")

    def create_async_client(self) -> Any:
        """Create an async API client; adapters without one run ``generate`` in a thread."""
        raise NotImplementedError(f"{type(self).__name__} has no async client.")

    @property
    def client(self) -> Any:
        """The API client, created on first use so that constructing a model does no I/O."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self.create_client()
        return self._client

    @client.setter
    def client(self, value: Any) -> None:
        self._client = value
        self._client_given = value is not None

    async def get_async_client(self) -> Any:
        """The async client for the running event loop (async clients are bound to one loop).

        The client is closed when the loop shuts down (``asyncio.run`` closes pending async
        generators, and a small one here owns the client), so no connection outlives its loop.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        with self._client_lock:
            entry = self._async_clients.get(loop)
            fresh = entry is None
            if entry is None:
                client = self.create_async_client()
                entry = self._async_clients[loop] = (client, _close_at_loop_shutdown(client))
        if fresh:
            await entry[1].__anext__()  # the first step registers the generator with the loop
        return entry[0]

    def close(self) -> None:
        """Close the sync client this model created (a client passed in is the caller's to close).

        Async clients close themselves when their event loop shuts down.
        """
        client, created = self._client, not self._client_given
        if client is not None and created:
            self._client = None
            close = getattr(client, "close", None)
            if close is not None:
                close()

    # ----------------------------------------------------------------- request building
    def _prepare_completion_kwargs(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("custom_role_conversions", self.custom_role_conversions)
        params = super()._prepare_completion_kwargs(*args, **kwargs)
        if self._stop_unsupported or _never_takes_stop(self.model_id):
            params.pop("stop", None)  # the text is cut client-side instead
        return params

    # ----------------------------------------------------------------- retries
    def _describe_error(self, exc: BaseException) -> ApiFailure | None:
        """How an SDK error reads for retrying; adapters with unusual errors override this."""
        return describe_api_error(exc)

    def _adapt_request(self, params: dict[str, Any], failure: ApiFailure) -> dict[str, Any] | None:
        """A rewritten request to try at once after ``failure``, or None to retry as usual.

        Drops ``stop`` when the server rejects it and remembers that for later calls.
        """
        if "stop" in params and rejects_stop(failure):
            if not self._stop_unsupported:
                import logging

                logging.getLogger(__name__).info(
                    "%s rejected the `stop` parameter; cutting text client-side.", self.model_id
                )
            self._stop_unsupported = True
            return {key: value for key, value in params.items() if key != "stop"}
        return None

    def _retry_state(self, params: dict[str, Any]) -> RetryState:
        return RetryState(
            self.model_id,
            params,
            max_attempts=self.retry_max_attempts if self.retry else 1,
            base_delay=self.retry_base_delay,
            max_delay=self.retry_max_delay,
            adapt=self._adapt_request,
            describe=self._describe_error,
        )

    def _call_api(
        self, call: Callable[[dict[str, Any]], T], params: dict[str, Any]
    ) -> tuple[T, dict[str, Any]]:
        """Run ``call(params)`` with rate limiting and retries; returns the result and the
        parameters finally sent (``stop`` may have been dropped)."""
        state = self._retry_state(params)
        while True:
            wait = self.rate_limiter.reserve()
            if wait > 0:
                self._sleep(wait)
            try:
                return call(state.params), state.params
            except Exception as exc:
                delay = state.after_failure(exc)
                if delay is None:
                    raise
            if delay > 0:
                self._sleep(delay)

    async def _acall_api(
        self, call: Callable[[dict[str, Any]], Awaitable[T]], params: dict[str, Any]
    ) -> tuple[T, dict[str, Any]]:
        """Async driver of the same retry decisions as ``_call_api``."""
        import asyncio

        sleep = self._async_sleep or asyncio.sleep
        state = self._retry_state(params)
        while True:
            wait = self.rate_limiter.reserve()
            if wait > 0:
                await sleep(wait)
            try:
                return await call(state.params), state.params
            except Exception as exc:
                delay = state.after_failure(exc)
                if delay is None:
                    raise
            if delay > 0:
                await sleep(delay)

    def _stream_error(self, exc: Exception) -> Exception:
        """The error to raise when a stream breaks midway (not retried: deltas were sent)."""
        failure = self._describe_error(exc)
        if failure is None:
            return exc
        from ._retry import generation_error

        error = generation_error(self.model_id, failure, 1, " (while streaming)")
        error.__cause__ = exc
        return error

    def _map_stream(self, stream: Any, mapper: Any) -> Iterator[Any]:
        """Feed a provider stream through ``mapper`` (``feed(chunk)`` / ``finish()``): a break
        midway is translated like a call error, and the stream is closed however it ends."""
        try:
            for chunk in stream:
                yield from mapper.feed(chunk)
        except Exception as exc:
            error = self._stream_error(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        yield from mapper.finish()

    async def _amap_stream(self, stream: Any, mapper: Any) -> AsyncIterator[Any]:
        """Async :meth:`_map_stream`, closing with ``aclose`` or ``close`` as the SDK spells it."""
        try:
            async for chunk in stream:
                for delta in mapper.feed(chunk):
                    yield delta
        except Exception as exc:
            error = self._stream_error(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
            if close is not None:
                result = close()
                if inspect.isawaitable(result):
                    await result
        for delta in mapper.finish():
            yield delta

    # ----------------------------------------------------------------- serialisation and copies
    def _config(self) -> dict[str, Any]:
        config = super()._config()
        if self.custom_role_conversions:
            config["custom_role_conversions"] = dict(self.custom_role_conversions)
        if self.requests_per_minute is not None:
            config["requests_per_minute"] = self.requests_per_minute
        if not self.retry:
            config["retry"] = False
        for name, default in (
            ("retry_max_attempts", self.RETRY_MAX_ATTEMPTS),
            ("retry_base_delay", self.RETRY_BASE_DELAY),
            ("retry_max_delay", self.RETRY_MAX_DELAY),
        ):
            if getattr(self, name) != default:
                config[name] = getattr(self, name)
        return config

    def __getstate__(self) -> dict[str, Any]:
        state = {
            key: value
            for key, value in self.__dict__.items()
            if key not in ("_client_lock", "_async_clients", "_sleep", "_async_sleep", "_stop_unsupported")
        }
        if not self._client_given:
            state["_client"] = None  # a client we created is recreated on demand
        return state

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup_runtime()


async def _close_at_loop_shutdown(client: Any) -> AsyncIterator[None]:
    """Parks until the event loop shuts its async generators down, then closes ``client``."""
    try:
        yield
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            await close()
