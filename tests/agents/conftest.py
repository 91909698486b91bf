from __future__ import annotations

import io

import pytest
from rich.console import Console

from smolagents import tool
from smolagents.monitoring import AgentLogger, LogLevel


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first number.
        b: second number.
    """
    return a + b


@tool
def lookup_capital(country: str) -> str:
    """Return the capital of a country.

    Args:
        country: the country's English name.
    """
    capitals = {"france": "Paris", "japan": "Tokyo", "peru": "Lima"}
    if country.lower() not in capitals:
        raise ValueError(f"unknown country {country!r}")
    return capitals[country.lower()]


@tool
def shout(text: str) -> str:
    """Upper-case some text.

    Args:
        text: the text to shout.
    """
    return text.upper() + "!"


@pytest.fixture
def tools():
    return [add, lookup_capital, shout]


@pytest.fixture
def quiet_logger():
    """A logger writing into a buffer: tests can read what a run printed."""
    buffer = io.StringIO()
    logger = AgentLogger(level=LogLevel.INFO, console=Console(file=buffer, width=120, color_system=None))
    logger.buffer = buffer  # type: ignore[attr-defined]
    return logger
