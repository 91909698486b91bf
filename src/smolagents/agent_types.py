"""Rich values that tools and agents pass around: text, images and audio.

Each wrapper keeps the original value and converts on demand: ``to_raw()`` gives the
library object (``str``, ``PIL.Image.Image``, ``numpy`` array) and ``to_string()`` gives a
text form a model or a log can show (for media, the path of a file holding it). PIL, numpy
and soundfile are imported only when a conversion needs them.
"""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path
from typing import Any

from ._optional import require

__all__ = [
    "AgentAudio",
    "AgentImage",
    "AgentText",
    "AgentType",
    "handle_agent_input_types",
    "handle_agent_output_types",
]


def _temp_path(suffix: str) -> str:
    import tempfile
    import uuid

    directory = Path(tempfile.gettempdir()) / "smolagents"
    directory.mkdir(exist_ok=True)
    return str(directory / f"{uuid.uuid4().hex}{suffix}")


def _is_pil_image(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save") and hasattr(value, "size")


def _is_array(value: Any) -> bool:
    """numpy arrays and torch tensors, recognised without importing either."""
    return type(value).__module__.split(".")[0] in ("numpy", "torch") and hasattr(value, "shape")


def _to_numpy(value: Any) -> Any:
    if type(value).__module__.split(".")[0] == "torch":
        return value.detach().cpu().numpy()
    return value


class AgentType:
    """Base class: keeps ``_value`` and shows itself through ``to_string()``."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def __str__(self) -> str:
        return self.to_string()

    def to_raw(self) -> Any:
        return self._value

    def to_string(self) -> str:
        return str(self._value)


class AgentText(AgentType, str):
    """Text returned by a tool; a real ``str`` so string code keeps working."""

    def __new__(cls, value: Any) -> AgentText:
        return str.__new__(cls, value)

    def __init__(self, value: Any) -> None:
        AgentType.__init__(self, value)

    def to_raw(self) -> str:
        return str.__str__(self)

    def to_string(self) -> str:
        return str.__str__(self)


class AgentImage(AgentType):
    """An image from a PIL image, a path, raw bytes, or a numpy array / torch tensor.

    Attribute access falls through to the PIL image (``.size``, ``.save(...)``), so code
    written for PIL images mostly works unchanged.
    """

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self._raw: Any = None
        self._path: str | None = None
        self._bytes: bytes | None = None
        self._array: Any = None
        if isinstance(value, AgentImage):
            self._raw, self._path, self._bytes, self._array = (
                value._raw,
                value._path,
                value._bytes,
                value._array,
            )
        elif _is_pil_image(value):
            self._raw = value
        elif isinstance(value, (str, os.PathLike)):
            self._path = os.fspath(value)
        elif isinstance(value, (bytes, bytearray)):
            self._bytes = bytes(value)
        elif _is_array(value):
            self._array = value
        else:
            raise TypeError(
                f"AgentImage needs a PIL image, a path, bytes or an array, got {type(value).__name__}"
            )

    def to_raw(self) -> Any:
        """The image as a ``PIL.Image.Image`` (loaded on first use)."""
        if self._raw is None:
            image_module = require("PIL.Image", "vision", "AgentImage")
            if self._path is not None:
                self._raw = image_module.open(self._path)
            elif self._bytes is not None:
                self._raw = image_module.open(BytesIO(self._bytes))
            else:
                numpy = require("numpy", "vision", "AgentImage")
                array = numpy.asarray(_to_numpy(self._array))
                if array.dtype.kind == "f":
                    array = (array.clip(0, 1) * 255).round()
                self._raw = image_module.fromarray(array.astype("uint8"))
        return self._raw

    def to_string(self) -> str:
        """A path to a file holding the image (written to a temp PNG if needed)."""
        if self._path is None:
            path = _temp_path(".png")
            self.to_raw().save(path, format="PNG")
            self._path = path
        return self._path

    def _repr_png_(self) -> bytes:
        buffer = BytesIO()
        self.to_raw().save(buffer, format="PNG")
        return buffer.getvalue()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.to_raw(), name)


class AgentAudio(AgentType):
    """Audio from a path, a (samplerate, samples) tuple, or a numpy array / torch tensor."""

    def __init__(self, value: Any, samplerate: int = 16_000) -> None:
        super().__init__(value)
        self.samplerate = samplerate
        self._path: str | None = None
        self._samples: Any = None
        if isinstance(value, AgentAudio):
            self._path, self._samples, self.samplerate = value._path, value._samples, value.samplerate
        elif isinstance(value, (str, os.PathLike)):
            self._path = os.fspath(value)
        elif isinstance(value, tuple) and len(value) == 2:
            self.samplerate, self._samples = value
        elif _is_array(value) or isinstance(value, list):
            self._samples = value
        else:
            raise TypeError(
                f"AgentAudio needs a path, a (samplerate, samples) tuple or an array, got {type(value).__name__}"
            )

    def to_raw(self) -> Any:
        """The samples as a numpy array (read from the file on first use)."""
        if self._samples is None:
            soundfile = require("soundfile", "audio", "AgentAudio")
            self._samples, self.samplerate = soundfile.read(self._path)
        numpy = require("numpy", "audio", "AgentAudio")
        return numpy.asarray(_to_numpy(self._samples))

    def to_string(self) -> str:
        """A path to a file holding the audio (written to a temp WAV if needed)."""
        if self._path is None:
            soundfile = require("soundfile", "audio", "AgentAudio")
            path = _temp_path(".wav")
            soundfile.write(path, self.to_raw(), self.samplerate)
            self._path = path
        return self._path


def handle_agent_input_types(*args: Any, **kwargs: Any) -> tuple[list[Any], dict[str, Any]]:
    """Unwrap agent types into raw values before they reach a tool's ``forward``."""
    unwrap = lambda value: value.to_raw() if isinstance(value, AgentType) else value  # noqa: E731
    return [unwrap(arg) for arg in args], {key: unwrap(value) for key, value in kwargs.items()}


def handle_agent_output_types(output: Any, output_type: str | None = None) -> Any:
    """Wrap a tool's raw output in the agent type matching ``output_type`` (or its own type)."""
    if isinstance(output, AgentType):
        return output
    if output_type == "string" or (output_type in (None, "any") and isinstance(output, str)):
        return AgentText(output) if isinstance(output, str) else output
    try:
        if output_type == "image" or (output_type in (None, "any") and _is_pil_image(output)):
            return AgentImage(output)
        if output_type == "audio":
            return AgentAudio(output)
    except TypeError:
        pass
    return output
