"""Test doubles that ship with the library, for users' own tests and ours.

- :class:`ScriptedModel` drives agents from a script (sync, streaming and async), and fails
  a test whose run left scripted replies unused (``ScriptedModel.tracking()``);
- ``smolagents.testing.openai_server`` is an OpenAI-compatible HTTP server on 127.0.0.1
  for testing real clients against scripted replies and injected failures.
"""

from __future__ import annotations

from ._scripted import Reply, ScriptedCall, ScriptedModel, UnexpectedModelCall, UnusedRepliesError

__all__ = ["Reply", "ScriptedCall", "ScriptedModel", "UnexpectedModelCall", "UnusedRepliesError"]
