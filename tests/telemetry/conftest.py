"""Tracing on into an in-memory exporter for a test (``traced``), and always off after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from span_helpers import Traced

from smolagents import _telemetry_hooks, telemetry


@pytest.fixture
def traced() -> Iterator[Traced]:
    """Our tracing on, into an in-memory exporter, for the test; off afterwards."""
    captured = Traced()
    telemetry.instrument(captured.provider)
    yield captured
    telemetry.uninstrument()


@pytest.fixture(autouse=True)
def _tracing_left_off() -> Iterator[None]:
    """No test leaks its tracing into the next one."""
    yield
    telemetry.uninstrument()
    assert _telemetry_hooks.hooks is None
