"""Fixtures for model tests: a loopback OpenAI-compatible server and fast-retrying models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from smolagents.testing.openai_server import OpenAICompatibleServer


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as running:
        yield running


@pytest.fixture
def openai_model(server: OpenAICompatibleServer) -> Iterator[Callable[..., Any]]:
    """Build OpenAIModels on the loopback server whose retries wait a few milliseconds."""
    import openai  # noqa: F401  (in the test extra: fail if missing, never skip)

    from smolagents.models import OpenAIModel

    made: list[OpenAIModel] = []

    def make(**kwargs: Any) -> OpenAIModel:
        kwargs.setdefault("retry_base_delay", 0.001)
        made.append(OpenAIModel("test-model", api_base=server.base_url, api_key="sk-test", **kwargs))
        return made[-1]

    yield make
    for model in made:
        model.close()  # SDK clients hold reference cycles: close their sockets deterministically
