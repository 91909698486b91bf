"""AgentText, AgentImage, AgentAudio and the input/output converters."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smolagents.agent_types import (
    AgentAudio,
    AgentImage,
    AgentText,
    AgentType,
    handle_agent_input_types,
    handle_agent_output_types,
)
from smolagents.errors import MissingDependencyError


def test_agent_text_is_a_string() -> None:
    text = AgentText("hello")
    assert isinstance(text, str) and isinstance(text, AgentType)
    assert text == "hello"
    assert text.upper() == "HELLO"
    assert text.to_raw() == "hello" and type(text.to_raw()) is str
    assert str(text) == "hello"


def test_agent_image_from_pil_path_bytes_and_array(tmp_path: Path) -> None:
    pil = Image.new("RGB", (4, 3), color="red")
    image = AgentImage(pil)
    assert image.to_raw() is pil
    assert image.size == (4, 3)  # attribute access falls through to PIL
    path = image.to_string()
    assert path.endswith(".png") and Path(path).exists()
    assert str(image) == path

    from_path = AgentImage(path)
    assert from_path.to_string() == path
    assert from_path.to_raw().size == (4, 3)

    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    assert AgentImage(buffer.getvalue()).to_raw().size == (4, 3)

    array = AgentImage(np.ones((2, 5, 3), dtype=np.float32)).to_raw()
    assert array.size == (5, 2)
    assert array.getpixel((0, 0)) == (255, 255, 255)
    assert AgentImage(image).to_raw() is pil
    assert image._repr_png_().startswith(b"\x89PNG")


def test_agent_image_rejects_unknown_values() -> None:
    with pytest.raises(TypeError, match="AgentImage needs"):
        AgentImage(3.5)


def test_agent_audio_from_array_and_missing_soundfile(monkeypatch: pytest.MonkeyPatch) -> None:
    audio = AgentAudio(np.zeros(8), samplerate=8000)
    assert audio.samplerate == 8000
    assert audio.to_raw().shape == (8,)
    assert AgentAudio((22050, [0.0, 0.1])).samplerate == 22050
    monkeypatch.setitem(sys.modules, "soundfile", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[audio\]'"):
        audio.to_string()
    assert AgentAudio("clip.wav").to_string() == "clip.wav"


def test_handle_agent_types() -> None:
    pil = Image.new("RGB", (1, 1))
    args, kwargs = handle_agent_input_types(AgentText("a"), 1, image=AgentImage(pil), n=2)
    assert args == ["a", 1] and type(args[0]) is str
    assert kwargs == {"image": pil, "n": 2}

    assert isinstance(handle_agent_output_types("x", "string"), AgentText)
    assert isinstance(handle_agent_output_types("x"), AgentText)
    assert isinstance(handle_agent_output_types(pil, "image"), AgentImage)
    assert isinstance(handle_agent_output_types(pil, "any"), AgentImage)
    assert isinstance(handle_agent_output_types(np.zeros(4), "audio"), AgentAudio)
    assert handle_agent_output_types(5, "integer") == 5
    assert handle_agent_output_types(None, "string") is None


def test_importing_tools_stays_light() -> None:
    code = (
        "import sys, smolagents.tools, smolagents.default_tools, smolagents.agent_types;"
        "heavy = [m for m in ('PIL', 'numpy', 'requests', 'huggingface_hub', 'torch', 'mcp', 'ddgs', "
        "'transformers', 'gradio_client') if m in sys.modules];"
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
