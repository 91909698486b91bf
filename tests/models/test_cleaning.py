"""Message cleaning and text post-processing: what every adapter sends and returns."""

from __future__ import annotations

import base64

import pytest

from smolagents.models import ChatMessage, MessageRole, get_clean_message_list
from smolagents.models._cleaning import TOOL_ROLE_CONVERSIONS, make_image_url
from smolagents.models._text import (
    StopSequenceCutter,
    ThinkSplitter,
    remove_content_after_stop_sequences,
    split_reasoning,
)


def _text(t: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": t}]


def test_role_conversion_and_merge_of_consecutive_roles() -> None:
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content=_text("sys")),
        ChatMessage(role=MessageRole.USER, content=_text("task")),
        ChatMessage(role=MessageRole.TOOL_CALL, content=_text("Calling tools: x")),
        ChatMessage(role=MessageRole.TOOL_RESPONSE, content=_text("Observation: 1")),
        {"role": "user", "content": "and more"},
    ]
    cleaned = get_clean_message_list(messages, role_conversions=TOOL_ROLE_CONVERSIONS)
    assert [m["role"] for m in cleaned] == ["system", "user", "assistant", "user"]
    assert cleaned[3]["content"] == _text("Observation: 1\nand more")


def test_without_conversions_roles_pass_through() -> None:
    cleaned = get_clean_message_list([ChatMessage(role=MessageRole.TOOL_CALL, content="x")])
    assert cleaned == [{"role": "tool-call", "content": _text("x")}]


def test_custom_conversion_turns_system_into_user_and_merges() -> None:
    messages = [{"role": "system", "content": "rules"}, {"role": "user", "content": "hi"}]
    cleaned = get_clean_message_list(messages, role_conversions={"system": "user"})
    assert cleaned == [{"role": "user", "content": _text("rules\nhi")}]


def test_flatten_messages_as_text() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c"},
    ]
    cleaned = get_clean_message_list(messages, flatten_messages_as_text=True)
    assert cleaned == [{"role": "user", "content": "a\nb"}, {"role": "assistant", "content": "c"}]


def test_native_tool_call_messages_are_not_merged() -> None:
    messages = [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
        {"role": "assistant", "content": "next"},
    ]
    cleaned = get_clean_message_list(messages)
    assert cleaned[0] == {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}
    assert len(cleaned) == 2


def test_bad_message_types_are_named() -> None:
    with pytest.raises(TypeError, match="ChatMessage objects or dicts"):
        get_clean_message_list(["hello"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="'role'"):
        get_clean_message_list([{"content": "x"}])


def test_pil_image_becomes_png_data_url() -> None:
    from PIL import Image as image_module

    image = image_module.new("RGB", (2, 2), color=(255, 0, 0))
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image", "image": image}]}
    ]
    cleaned = get_clean_message_list(messages, convert_images_to_image_urls=True)
    part = cleaned[0]["content"][1]
    assert part["type"] == "image_url"
    url = part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]).startswith(b"\x89PNG")


def test_image_bytes_path_and_url(tmp_path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
    path = tmp_path / "pic.png"
    path.write_bytes(png)
    assert make_image_url(png).startswith("data:image/png;base64,")
    assert make_image_url(str(path)) == make_image_url(png)
    assert make_image_url("https://example.com/a.png") == "https://example.com/a.png"
    with pytest.raises(ValueError, match="not a URL, an existing file"):
        make_image_url("no-such-file.png")


def test_images_kept_when_not_converting() -> None:
    messages = [{"role": "user", "content": [{"type": "image", "image": b"raw"}]}]
    assert get_clean_message_list(messages)[0]["content"] == [{"type": "image", "image": b"raw"}]


def test_flatten_drops_images() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "image", "image": b"x"}]}
    ]
    assert get_clean_message_list(messages, flatten_messages_as_text=True)[0]["content"] == "t"


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("Thought: x\nObservation: y", ["Observation:"], "Thought: x\n"),
        ("a END b STOP c", ["STOP", "END"], "a "),
        ("no stop here", ["<end>"], "no stop here"),
        ("anything", None, "anything"),
    ],
)
def test_remove_content_after_stop_sequences(text: str, stops: list[str] | None, expected: str) -> None:
    assert remove_content_after_stop_sequences(text, stops) == expected


def test_split_reasoning_variants() -> None:
    assert split_reasoning("<think>plan</think>\n\nanswer") == ("answer", "plan")
    assert split_reasoning("implicit plan</think>answer") == ("answer", "implicit plan")
    assert split_reasoning("plain") == ("plain", None)
    assert split_reasoning("<think>unclosed") == ("<think>unclosed", None)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_streaming_splitters_match_whole_text_functions(size: int) -> None:
    text = "<think>step one</think>\n\nThought: go<end_code>Observation: leak"
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    think, cutter = ThinkSplitter(), StopSequenceCutter(["<end_code>"])
    content, reasoning = [], []
    for piece in pieces:
        c, r = think.feed(piece)
        content.append(cutter.feed(c))
        reasoning.append(r)
    c, r = think.flush()
    content.append(cutter.feed(c))
    content.append(cutter.flush())
    reasoning.append(r)
    expected_content, expected_reasoning = split_reasoning(text)
    assert "".join(content) == remove_content_after_stop_sequences(expected_content, ["<end_code>"])
    assert "".join(reasoning) == expected_reasoning
    assert cutter.done
