"""Models on the ``openai`` SDK: OpenAI, any OpenAI-compatible server, and Azure OpenAI.

The SDK is imported when a client is first needed, never when this module is imported.
Its own retries are switched off (``max_retries=0``) because ``ApiModel`` retries with
``Retry-After`` support and a single, model-naming error at the end.
"""

from __future__ import annotations

from typing import Any

from .._optional import require
from ._chat_completions import ChatCompletionsApiModel, create_call_with_extras
from .api import ApiModel

__all__ = ["AzureOpenAIModel", "AzureOpenAIServerModel", "OpenAIModel", "OpenAIServerModel"]


class OpenAIModel(ChatCompletionsApiModel):
    """A model on an OpenAI-compatible chat completions API (OpenAI, Gemini, OpenRouter, vLLM...).

    ``api_key`` and ``api_base`` default to the ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``
    environment variables (read by the SDK). Extra kwargs such as ``temperature`` are sent
    with every call.
    """

    def __init__(
        self,
        model_id: str,
        api_base: str | None = None,
        api_key: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        client_kwargs: dict[str, Any] | None = None,
        custom_role_conversions: dict[str, str] | None = None,
        flatten_messages_as_text: bool = False,
        **kwargs: Any,
    ) -> None:
        require("openai", "openai", type(self).__name__)
        self.api_base = api_base
        self.api_key = api_key
        self.organization = organization
        self.project = project
        self.client_kwargs: dict[str, Any] = dict(client_kwargs or {})
        super().__init__(
            model_id=model_id,
            custom_role_conversions=custom_role_conversions,
            flatten_messages_as_text=flatten_messages_as_text,
            **kwargs,
        )

    # ----------------------------------------------------------------- clients
    def _connection_arguments(self) -> dict[str, Any]:
        """Where and as whom to connect; None values are left for the SDK's env defaults."""
        return {"api_key": self.api_key, "base_url": self.api_base}

    def _client_arguments(self) -> dict[str, Any]:
        arguments = {
            **self._connection_arguments(),
            "organization": self.organization,
            "project": self.project,
        }
        arguments = {key: value for key, value in arguments.items() if value is not None}
        arguments.update(self.client_kwargs)
        arguments.setdefault("max_retries", 0)  # ApiModel retries; the SDK must not retry as well
        return arguments

    def create_client(self) -> Any:
        """Create the sync ``openai.OpenAI`` client."""
        openai = require("openai", "openai", type(self).__name__)
        return openai.OpenAI(**self._client_arguments())

    def create_async_client(self) -> Any:
        """Create the ``openai.AsyncOpenAI`` client used by ``agenerate`` and ``agenerate_stream``."""
        openai = require("openai", "openai", type(self).__name__)
        arguments = self._client_arguments()
        arguments.pop("http_client", None)  # a sync httpx client cannot serve the async client
        return openai.AsyncOpenAI(**arguments)

    # ----------------------------------------------------------------- requests
    def _sync_call(self) -> Any:
        return create_call_with_extras(self.client.chat.completions.create)

    async def _async_call(self) -> Any:
        client = await self.get_async_client()
        return create_call_with_extras(client.chat.completions.create)

    # ----------------------------------------------------------------- serialisation
    def _config(self) -> dict[str, Any]:
        config = super()._config()
        for name in ("api_base", "organization", "project"):
            if getattr(self, name) is not None:
                config[name] = getattr(self, name)
        if self.client_kwargs:
            config["client_kwargs"] = dict(self.client_kwargs)
        return config


class AzureOpenAIModel(OpenAIModel):
    """A model on an Azure OpenAI deployment (``model_id`` is the deployment name).

    ``azure_endpoint``, ``api_key`` and ``api_version`` default to ``AZURE_OPENAI_ENDPOINT``,
    ``AZURE_OPENAI_API_KEY`` and ``OPENAI_API_VERSION`` (read by the SDK).
    """

    def __init__(
        self,
        model_id: str,
        azure_endpoint: str | None = None,
        api_key: str | None = None,
        api_version: str | None = None,
        client_kwargs: dict[str, Any] | None = None,
        custom_role_conversions: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.azure_endpoint = azure_endpoint
        self.api_version = api_version
        super().__init__(
            model_id=model_id,
            api_key=api_key,
            client_kwargs=client_kwargs,
            custom_role_conversions=custom_role_conversions,
            **kwargs,
        )

    def _connection_arguments(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "azure_endpoint": self.azure_endpoint,
            "api_version": self.api_version,
        }

    def create_client(self) -> Any:
        """Create the sync ``openai.AzureOpenAI`` client."""
        openai = require("openai", "openai", type(self).__name__)
        return openai.AzureOpenAI(**self._client_arguments())

    def create_async_client(self) -> Any:
        """Create the ``openai.AsyncAzureOpenAI`` client."""
        openai = require("openai", "openai", type(self).__name__)
        arguments = self._client_arguments()
        arguments.pop("http_client", None)
        return openai.AsyncAzureOpenAI(**arguments)

    def _config(self) -> dict[str, Any]:
        config = ApiModel._config(self)
        for name in ("azure_endpoint", "api_version", "organization", "project"):
            if getattr(self, name) is not None:
                config[name] = getattr(self, name)
        if self.client_kwargs:
            config["client_kwargs"] = dict(self.client_kwargs)
        return config


OpenAIServerModel = OpenAIModel
"""Former name of ``OpenAIModel``, kept so older code runs unchanged."""

AzureOpenAIServerModel = AzureOpenAIModel
"""Former name of ``AzureOpenAIModel``, kept so older code runs unchanged."""
