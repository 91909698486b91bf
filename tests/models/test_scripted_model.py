"""``ScriptedModel``'s own contract: replies left unused fail the run's test, with an opt-out."""

from __future__ import annotations

import threading
import warnings

import pytest

from smolagents._deprecation import SmolagentsDeprecationWarning, warn_deprecated
from smolagents.agents import ToolCallingAgent
from smolagents.monitoring import LogLevel
from smolagents.testing import ScriptedModel, UnexpectedModelCall, UnusedRepliesError

MESSAGES = [{"role": "user", "content": "hi"}]


def test_a_tracked_block_fails_when_a_script_is_not_used_up() -> None:
    expected = r"'short-run': 1 of 2 replies unused, next 'second'"
    with pytest.raises(UnusedRepliesError, match=expected), ScriptedModel.tracking() as created:
        model = ScriptedModel(["first", "second"], model_id="short-run")
        assert model.generate(MESSAGES).content == "first"
        assert created == [model]
    # reported once: the suite's own tracking block (tests/conftest.py) does not repeat it


def test_a_used_up_script_and_an_opted_out_script_pass() -> None:
    with ScriptedModel.tracking() as created:
        used = ScriptedModel(["only"])
        used.generate(MESSAGES)
        ScriptedModel(["never", "asked"], allow_unused_replies=True)
    assert len(created) == 2 and used.remaining == 0


def test_models_built_in_worker_threads_are_tracked() -> None:
    # batch runs build one agent (and model) per task in worker threads
    with pytest.raises(UnusedRepliesError, match="in-thread"), ScriptedModel.tracking():
        worker = threading.Thread(target=ScriptedModel, args=(["x"],), kwargs={"model_id": "in-thread"})
        worker.start()
        worker.join()


def test_an_error_in_the_block_is_not_replaced_by_the_leftovers() -> None:
    with pytest.raises(ZeroDivisionError), ScriptedModel.tracking() as created:
        ScriptedModel(["unused"])
        raise ZeroDivisionError
    created[0].generate(MESSAGES)  # used up now, for the suite's own tracking block


def test_nested_blocks_each_check_their_own_models() -> None:
    with ScriptedModel.tracking() as outer:
        early = ScriptedModel(["a"], allow_unused_replies=True)
        with ScriptedModel.tracking() as inner:
            late = ScriptedModel(["b"])
            late.generate(MESSAGES)
    assert outer == [early, late] and inner == [late]


def test_assert_all_used_checks_one_model_even_when_opted_out() -> None:
    model = ScriptedModel(["a", "b"], allow_unused_replies=True)
    model.generate(MESSAGES)
    with pytest.raises(UnusedRepliesError, match="1 of 2 replies unused"):
        model.assert_all_used()
    model.generate(MESSAGES)
    model.assert_all_used()
    model.assert_consumed()  # the former name
    with pytest.raises(UnexpectedModelCall):
        model.generate(MESSAGES)


def test_an_agent_that_stops_early_leaves_replies_and_is_caught() -> None:
    # the final answer comes one step earlier than the script expected: the test must notice
    script = [
        ScriptedModel.tool_call("final_answer", {"answer": "done"}),
        ScriptedModel.tool_call("final_answer", {"answer": "late"}),
    ]
    with pytest.raises(UnusedRepliesError, match="1 of 2 replies unused"), ScriptedModel.tracking():
        agent = ToolCallingAgent(tools=[], model=ScriptedModel(script), verbosity_level=LogLevel.OFF)
        assert agent.run("go") == "done"


def _old_thing() -> None:
    """Stands in for a deprecated function of ours."""
    warn_deprecated("old_thing is deprecated; use new_thing")


def test_our_deprecations_are_errors_in_this_test_suite() -> None:
    # pyproject's filterwarnings: a test that reaches a deprecated path fails loudly
    with pytest.raises(SmolagentsDeprecationWarning, match="use new_thing"):
        _old_thing()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _old_thing()
    # attributed to the code calling the deprecated function, where the fix belongs
    assert caught[0].category is SmolagentsDeprecationWarning and caught[0].filename == __file__
    assert issubclass(SmolagentsDeprecationWarning, DeprecationWarning)
