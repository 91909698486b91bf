"""Suite-wide checks: every scripted model's replies are used up by the end of its test.

``ScriptedModel.tracking()`` collects each ``ScriptedModel`` a test creates (worker threads
included) and fails the test when one ends with replies unused, because such a test passes
although the run stopped earlier than it expected. A test whose run is meant to stop early
builds its model with ``allow_unused_replies=True``. A test that already failed is not
reported a second time for its leftovers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smolagents.testing import ScriptedModel


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def scripted_models_used_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a passing test that left scripted replies unused (see the module docstring)."""
    with ScriptedModel.tracking() as created:
        yield
        if request.node.stash.get(_CALL_FAILED, False):
            created.clear()  # the test's own failure says more than its leftovers
