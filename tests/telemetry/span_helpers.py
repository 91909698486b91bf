"""Shared by the tracing tests: tools, and spans captured with the OpenTelemetry SDK's
in-memory exporter with helpers to read them."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from smolagents import tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first number.
        b: second number.
    """
    return a + b


@tool
def lookup(country: str) -> str:
    """The capital of a country.

    Args:
        country: the country's English name.
    """
    capitals = {"france": "Paris"}
    if country.lower() not in capitals:
        raise ValueError(f"no capital known for {country!r}")
    return capitals[country.lower()]


class Traced:
    """An exporter and its provider; ``spans()`` are the finished spans, oldest first."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self) -> list[ReadableSpan]:
        return sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith(prefix)]

    def one(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, (name, [s.name for s in self.spans()])
        return found[0]

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.parent is not None and s.parent.span_id == span.context.span_id]

    def tree(self) -> list[Any]:
        """The span names as nested ``(name, [children])`` pairs, roots first."""
        spans = self.spans()
        ids = {s.context.span_id for s in spans}

        def node(span: ReadableSpan) -> tuple[str, list[Any]]:
            return span.name, [node(child) for child in self.children(span)]

        return [node(s) for s in spans if s.parent is None or s.parent.span_id not in ids]

    def attribute_values(self) -> str:
        """Every attribute value of every span, as one text (to search for leaked content)."""
        return "\n".join(str(v) for s in self.spans() for v in (s.attributes or {}).values())
