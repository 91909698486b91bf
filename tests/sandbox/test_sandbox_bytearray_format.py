"""``bytearray % args`` in the sandbox: formats like the host does, and the padding-bomb check
still applies (the check's cache key used to be the unhashable bytearray itself: TypeError)."""

from __future__ import annotations

import pytest

from smolagents.errors import SandboxResourceError
from smolagents.local_python_executor import LocalPythonExecutor


@pytest.mark.parametrize(
    "code",
    [
        'bytearray(b"%d-%s") % (5, b"x")',
        'x = bytearray(b"%d-%s")\nx %= (5, b"x")\nx',
    ],
)
def test_bytearray_percent_format_works(code: str) -> None:
    assert LocalPythonExecutor([])(code).output == bytearray(b"5-x")


def test_bytearray_percent_format_padding_bomb_is_refused() -> None:
    with pytest.raises(SandboxResourceError, match="max_sequence_length"):
        LocalPythonExecutor([])('bytearray(b"%999999999d") % 5')
