"""Retry decisions and rate limiting, without any I/O."""

from __future__ import annotations

import pickle
import time
from email.utils import formatdate

import pytest

from smolagents.errors import AgentGenerationError, ModelHTTPError
from smolagents.models._retry import (
    ApiFailure,
    RateLimiter,
    RetryState,
    describe_api_error,
    parse_retry_after,
)


class FakeResponse:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}


class FakeStatusError(Exception):
    def __init__(self, status: int, body: object = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"Error code: {status}")
        self.response = FakeResponse(status, headers)
        self.body = body


def state(max_attempts: int = 4, adapt=lambda params, failure: None) -> RetryState:
    return RetryState(
        "m", {"stop": ["x"]}, max_attempts=max_attempts, base_delay=1.0, max_delay=30.0, adapt=adapt
    )


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    date = parse_retry_after({"retry-after": formatdate(time.time() + 20, usegmt=True)})
    assert date is not None and 15 < date <= 20


def test_describe_errors() -> None:
    failure = describe_api_error(FakeStatusError(503, {"message": "overloaded"}))
    assert (failure.status_code, failure.message, failure.retryable) == (503, "overloaded", True)
    assert not describe_api_error(FakeStatusError(400)).retryable
    assert describe_api_error(ConnectionRefusedError("refused")).retryable
    assert describe_api_error(KeyError("bug")) is None  # bugs are not API failures


def test_backoff_grows_with_jitter_and_gives_up() -> None:
    retry = state(max_attempts=3)
    first = retry.after_failure(FakeStatusError(500))
    second = retry.after_failure(FakeStatusError(500))
    assert 1.0 <= first <= 1.25 and 2.0 <= second <= 2.5
    with pytest.raises(ModelHTTPError, match="after 3 attempts") as caught:
        retry.after_failure(FakeStatusError(500, {"error": {"message": "boom"}}))
    assert caught.value.status_code == 500 and "boom" in str(caught.value)


def test_non_api_errors_are_left_to_the_driver() -> None:
    assert state().after_failure(ValueError("bug")) is None


def test_adapt_retries_at_once_without_counting() -> None:
    def drop_stop(params, failure: ApiFailure):
        return {k: v for k, v in params.items() if k != "stop"} if "stop" in params else None

    retry = state(max_attempts=1, adapt=drop_stop)
    assert retry.after_failure(FakeStatusError(400)) == 0.0
    assert retry.params == {}
    with pytest.raises(AgentGenerationError):
        retry.after_failure(FakeStatusError(400))


def test_rate_limiter_books_spaced_slots_and_pickles() -> None:
    limiter = RateLimiter(requests_per_minute=120)
    assert limiter.reserve() == 0.0
    assert 0.25 < limiter.reserve() <= 0.5
    assert 0.75 < limiter.reserve() <= 1.0
    assert RateLimiter().reserve() == 0.0
    assert pickle.loads(pickle.dumps(limiter)).interval == 0.5
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)
