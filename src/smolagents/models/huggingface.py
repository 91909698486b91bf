"""``InferenceClientModel``: Hugging Face Inference Providers through ``huggingface_hub``.

The SDK is imported when a client is first needed, never when this module is imported.
``huggingface_hub`` raises ``HfHubHTTPError`` carrying the HTTP response; it is read here so
that ``ApiModel`` retries 429 and 5xx answers (honouring ``Retry-After``) and reports the
server's own message.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from .._optional import require
from ..errors import UserError
from ._chat_completions import ChatCompletionsApiModel, create_call_with_extras
from ._retry import ApiFailure, _server_message, describe_api_error
from .base import ModelRequest

__all__ = ["DEFAULT_INFERENCE_MODEL_ID", "InferenceClientModel"]

DEFAULT_INFERENCE_MODEL_ID = "Qwen/Qwen3-Next-80B-A3B-Thinking"
"""The documented default model; it may change in future releases."""

_DEFAULT_TIMEOUT = 120


class InferenceClientModel(ChatCompletionsApiModel):
    """A model served by Hugging Face Inference Providers, an Inference Endpoint or any TGI /
    OpenAI-compatible server (``base_url``), through ``huggingface_hub.InferenceClient``.

    ``token`` and ``api_key`` are aliases (give one); without either, ``HF_TOKEN`` is used,
    then the token saved by ``hf auth login``. Extra kwargs (``temperature``, ``max_tokens``,
    ``top_p``...) are sent with every call; ones ``chat_completion`` does not name travel in
    its ``extra_body``.

    ``response_format`` (structured outputs) is forwarded when ``base_url`` is set (the
    server decides) or when ``provider`` is in ``STRUCTURED_OUTPUT_PROVIDERS``. Any other
    provider, including the default automatic routing whose provider is unknown until the
    request is made, gets a ``UserError`` before any request: set a supporting provider.
    """

    STRUCTURED_OUTPUT_PROVIDERS: ClassVar[frozenset[str]] = frozenset(
        {"cerebras", "cohere", "fireworks-ai", "groq", "hf-inference", "openai", "together"}
    )
    """Providers known to honour ``response_format`` with a JSON schema."""

    def __init__(
        self,
        model_id: str = DEFAULT_INFERENCE_MODEL_ID,
        provider: str | None = None,
        token: str | None = None,
        timeout: int = _DEFAULT_TIMEOUT,
        client_kwargs: dict[str, Any] | None = None,
        custom_role_conversions: dict[str, str] | None = None,
        api_key: str | None = None,
        bill_to: str | None = None,
        base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        if token is not None and api_key is not None:
            raise UserError(
                "InferenceClientModel received both `token` and `api_key`; they are aliases, give only one."
            )
        if not model_id:
            raise UserError("InferenceClientModel needs a model_id (a Hub model id or an endpoint URL).")
        require("huggingface_hub", "hub", type(self).__name__)
        self.provider = provider
        self.token = token if token is not None else api_key
        self.timeout = timeout
        self.client_kwargs: dict[str, Any] = dict(client_kwargs or {})
        self.bill_to = bill_to
        self.base_url = base_url
        super().__init__(model_id=model_id, custom_role_conversions=custom_role_conversions, **kwargs)

    # ----------------------------------------------------------------- clients
    def _client_arguments(self) -> dict[str, Any]:
        token = self.token if self.token is not None else os.environ.get("HF_TOKEN") or None
        arguments: dict[str, Any] = {
            "token": token,  # None: huggingface_hub falls back to the saved login
            "timeout": self.timeout,
            "bill_to": self.bill_to,
            "base_url": self.base_url,
            # with base_url the provider is not used; InferenceClient would only be confused by it
            "provider": None if self.base_url else self.provider,
        }
        arguments = {key: value for key, value in arguments.items() if value is not None}
        arguments.update(self.client_kwargs)
        return arguments

    def create_client(self) -> Any:
        """Create the Hugging Face ``InferenceClient``."""
        hub = require("huggingface_hub", "hub", type(self).__name__)
        return hub.InferenceClient(**self._client_arguments())

    def create_async_client(self) -> Any:
        """Create the ``AsyncInferenceClient`` used by ``agenerate`` and ``agenerate_stream``."""
        hub = require("huggingface_hub", "hub", type(self).__name__)
        return hub.AsyncInferenceClient(**self._client_arguments())

    def _sync_call(self) -> Callable[[dict[str, Any]], Any]:
        return create_call_with_extras(self.client.chat_completion)

    async def _async_call(self) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        return create_call_with_extras((await self.get_async_client()).chat_completion)

    # ----------------------------------------------------------------- requests
    @property
    def supports_structured_outputs(self) -> bool:
        """Whether ``response_format`` is forwarded (see the class docstring for the rule)."""
        return bool(self.base_url) or self.provider in self.STRUCTURED_OUTPUT_PROVIDERS

    def _completion_params(self, request: ModelRequest, stream: bool = False) -> dict[str, Any]:
        params = super()._completion_params(request, stream)
        if params.get("response_format") is not None and not self.supports_structured_outputs:
            provider = self.provider or "auto"
            raise UserError(
                f"InferenceClientModel cannot send response_format with provider={provider!r}: "
                f"structured outputs are only forwarded to providers known to support them "
                f"({', '.join(sorted(self.STRUCTURED_OUTPUT_PROVIDERS))}) or to a base_url server. "
                "Pick one of those providers (e.g. provider='cerebras'), or do not ask for "
                "structured outputs (CodeAgent: use_structured_outputs_internally=False)."
            )
        return params

    # ----------------------------------------------------------------- errors
    def _describe_error(self, exc: BaseException) -> ApiFailure | None:
        """``HfHubHTTPError`` keeps the response: read the server's JSON error and message."""
        failure = describe_api_error(exc)
        response = getattr(exc, "response", None)
        if failure is None or failure.status_code is None or response is None:
            return failure
        if failure.body is None:
            try:
                failure.body = response.json()
            except Exception:  # not JSON, or a stream that was not read: keep the text we have
                pass
        server_message = getattr(exc, "server_message", None)
        failure.message = _server_message(failure.body, server_message or failure.message)
        return failure

    # ----------------------------------------------------------------- serialisation
    def _config(self) -> dict[str, Any]:
        config = super()._config()
        for name in ("provider", "bill_to", "base_url"):
            if getattr(self, name) is not None:
                config[name] = getattr(self, name)
        if self.timeout != _DEFAULT_TIMEOUT:
            config["timeout"] = self.timeout
        if self.client_kwargs:
            config["client_kwargs"] = dict(self.client_kwargs)
        return config
