"""Models on LiteLLM: ``LiteLLMModel`` (100+ providers) and ``LiteLLMRouterModel`` (its Router).

LiteLLM is imported when a client is first needed, never when this module is imported.
LiteLLM answers in OpenAI's shapes, so the mapping and the generation methods are the
shared ones (``_chat_completions``). Retries stay with ``ApiModel``: the OpenAI-based
providers' own retries are switched off (``max_retries=0``), and the ``Retry-After`` header
that LiteLLM keeps in ``litellm_response_headers`` is honoured.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from .._optional import require
from ..errors import UserError
from ._chat_completions import ChatCompletionsApiModel
from ._retry import ApiFailure, parse_retry_after

__all__ = ["LiteLLMModel", "LiteLLMRouterModel"]

FLATTEN_PREFIXES = ("ollama", "groq", "cerebras")
"""Providers that want plain-text message content: messages are flattened for them by default."""


def _flatten_by_default(model_ids: list[str]) -> bool:
    return any(model_id.startswith(FLATTEN_PREFIXES) for model_id in model_ids if isinstance(model_id, str))


class LiteLLMModel(ChatCompletionsApiModel):
    """A model reached through ``litellm.completion`` (``"anthropic/claude-..."``, ``"ollama_chat/..."``).

    ``api_base`` and ``api_key`` are passed to every call (LiteLLM otherwise reads each
    provider's usual environment variables). ``flatten_messages_as_text`` defaults to True for
    ids starting with ``ollama``, ``groq`` or ``cerebras``. Other kwargs (``temperature``,
    Ollama's ``num_ctx``...) go to every call; ``stop=REMOVE_PARAMETER`` removes ``stop`` for
    models that reject it (a server that rejects it is also handled without it).
    ``model_name`` is accepted as an alias of ``model_id``.
    """

    _SDK_RETRIES_OFF: ClassVar[bool] = True

    def __init__(
        self,
        model_id: str | None = None,
        api_base: str | None = None,
        api_key: str | None = None,
        custom_role_conversions: dict[str, str] | None = None,
        flatten_messages_as_text: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if model_id is None:
            model_id = kwargs.pop("model_name", None)
        if not model_id:
            raise UserError(
                f"{type(self).__name__} needs a model_id with its provider prefix, e.g. 'openai/gpt-4o' "
                "or 'anthropic/claude-3-5-sonnet-latest'."
            )
        require("litellm", "litellm", type(self).__name__)
        self.api_base = api_base
        self.api_key = api_key
        self._flatten_default = self._default_flatten(model_id)
        super().__init__(
            model_id=model_id,
            custom_role_conversions=custom_role_conversions,
            flatten_messages_as_text=(
                self._flatten_default if flatten_messages_as_text is None else flatten_messages_as_text
            ),
            **kwargs,
        )

    def _default_flatten(self, model_id: str) -> bool:
        return _flatten_by_default([model_id])

    # ----------------------------------------------------------------- clients
    def create_client(self) -> Any:
        """The LiteLLM module itself: ``litellm.completion`` and ``litellm.acompletion`` are the calls."""
        return require("litellm", "litellm", type(self).__name__)

    def _call_arguments(self) -> dict[str, Any]:
        """Connection arguments added to each call, kept out of the request parameters."""
        arguments: dict[str, Any] = {"api_base": self.api_base, "api_key": self.api_key}
        return {key: value for key, value in arguments.items() if value is not None}

    def _bind(self, function: Callable[..., Any]) -> Callable[[dict[str, Any]], Any]:
        extra = self._call_arguments()

        def call(params: dict[str, Any]) -> Any:
            return function(**{**extra, **params})

        return call

    def _sync_call(self) -> Callable[[dict[str, Any]], Any]:
        return self._bind(self.client.completion)

    async def _async_call(self) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        return self._bind(self.client.acompletion)

    def _completion_params(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        params = super()._completion_params(*args, **kwargs)
        if self._SDK_RETRIES_OFF and "max_retries" not in self.kwargs and "max_retries" not in params:
            params["max_retries"] = 0  # ApiModel retries; the provider SDK must not retry as well
        return params

    # ----------------------------------------------------------------- errors
    def _describe_error(self, exc: BaseException) -> ApiFailure | None:
        """LiteLLM rebuilds the response of its exceptions; the real headers are kept aside."""
        failure = super()._describe_error(exc)
        if failure is not None and failure.retry_after is None:
            for name in ("litellm_response_headers", "headers"):
                retry_after = parse_retry_after(getattr(exc, name, None))
                if retry_after is not None:
                    failure.retry_after = retry_after
                    break
        return failure

    # ----------------------------------------------------------------- serialisation
    def _config(self) -> dict[str, Any]:
        config = super()._config()
        if self.api_base is not None:
            config["api_base"] = self.api_base
        config.pop("flatten_messages_as_text", None)
        if self.flatten_messages_as_text != self._flatten_default:
            config["flatten_messages_as_text"] = self.flatten_messages_as_text
        return config


class LiteLLMRouterModel(LiteLLMModel):
    """A model group served by a ``litellm.Router``: load balancing, retries, cooldowns and
    fallbacks between the deployments of ``model_list``.

    ``model_id`` names the group to call; ``client_kwargs`` configure the Router
    (``routing_strategy``, ``fallbacks``, ``num_retries``, ``allowed_fails``...). Messages
    are flattened to text by default when any deployment of the group is an ``ollama``,
    ``groq`` or ``cerebras`` model.
    """

    _SDK_RETRIES_OFF: ClassVar[bool] = False  # the Router owns per-deployment retries and fallbacks

    def __init__(
        self,
        model_id: str,
        model_list: list[dict[str, Any]],
        client_kwargs: dict[str, Any] | None = None,
        custom_role_conversions: dict[str, str] | None = None,
        flatten_messages_as_text: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(model_list, list) or not model_list:
            raise UserError("LiteLLMRouterModel needs a non-empty model_list of LiteLLM deployments.")
        self.model_list = model_list
        self.client_kwargs: dict[str, Any] = dict(client_kwargs or {})
        super().__init__(
            model_id=model_id,
            custom_role_conversions=custom_role_conversions,
            flatten_messages_as_text=flatten_messages_as_text,
            **kwargs,
        )

    def _default_flatten(self, model_id: str) -> bool:
        deployments = [
            (entry.get("litellm_params") or {}).get("model", "")
            for entry in self.model_list
            if isinstance(entry, Mapping) and entry.get("model_name") == model_id
        ]
        return _flatten_by_default([model_id, *deployments])

    def create_client(self) -> Any:
        """Create the ``litellm.Router`` from ``model_list`` and ``client_kwargs``."""
        litellm = require("litellm", "litellm", type(self).__name__)
        # a copy: the Router may annotate its deployments, and to_dict() must stay as given
        return litellm.Router(model_list=copy.deepcopy(self.model_list), **self.client_kwargs)

    def _call_arguments(self) -> dict[str, Any]:
        return {}  # each deployment carries its own api_base and api_key

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        config["model_list"] = self.model_list
        if self.client_kwargs:
            config["client_kwargs"] = dict(self.client_kwargs)
        return config
