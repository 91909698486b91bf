"""``AmazonBedrockModel``: any Bedrock model through boto3's ``bedrock-runtime`` Converse API.

Messages and answers are translated in ``_converse``. Models differ in what they accept
(system prompts, ``stopSequences``, ``toolChoice``, tool use at all): rather than keeping
lists of model names, a request is adapted when Bedrock rejects a field with a
``ValidationException``, and the model remembers it.

boto3 is imported when a client is created, never when this module is imported. botocore's
own retries are switched off because ``ApiModel`` retries (honouring ``Retry-After``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from .._optional import require
from ..errors import AgentGenerationError
from ..messages import ChatMessage, ChatMessageStreamDelta
from ._converse import ConverseStreamMapper, converse_request, message_from_converse
from ._retry import RETRYABLE_STATUS, ApiFailure, parse_retry_after
from .api import ApiModel
from .base import REMOVE_PARAMETER, ModelRequest

__all__ = ["AmazonBedrockModel"]

logger = logging.getLogger(__name__)

CREDENTIALS_HELP = (
    "Set AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for "
    "temporary credentials) with AWS_REGION; or a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK "
    "(boto3 >= 1.39); or a profile via AWS_PROFILE / ~/.aws/config; or pass client_kwargs="
    "{'region_name': ..., 'aws_access_key_id': ..., 'aws_secret_access_key': ...}, or a ready boto3 client."
)

# Error codes of event-stream exceptions (raised mid-stream, without an HTTP status) and the
# status they stand for, so that retrying reads them like HTTP errors.
_ERROR_STATUS = {
    "throttlingexception": 429, "modelnotreadyexception": 429, "servicequotaexceededexception": 429,
    "validationexception": 400, "accessdeniedexception": 403, "resourcenotfoundexception": 404,
    "modeltimeoutexception": 408, "modelerrorexception": 424, "modelstreamerrorexception": 424,
    "internalserverexception": 500, "serviceunavailableexception": 503,
}  # fmt: skip

# What a ValidationException says when a model does not accept a field (matched in order).
_NOT_SUPPORTED = (
    r"(support|allow)\w*\W+(\w+\W+){{0,3}}{0}s?\b|\b{0}s?\W+(\w+\W+){{0,3}}not (supported|allowed)"
)
_REJECTIONS = (
    ("stop", re.compile(r"stop[ _]?sequences?|\bstop\b", re.IGNORECASE)),
    ("tool_choice", re.compile(r"tool_?choice", re.IGNORECASE)),
    ("tools", re.compile(_NOT_SUPPORTED.format("tool"), re.IGNORECASE)),
    ("system", re.compile(_NOT_SUPPORTED.format("system"), re.IGNORECASE)),
)


# --------------------------------------------------------------------------- the model
def _native_bearer_support(botocore: Any) -> bool:
    """botocore >= 1.39 reads ``AWS_BEARER_TOKEN_BEDROCK`` itself."""
    try:
        major, minor = (int(part) for part in botocore.__version__.split(".")[:2])
    except ValueError:
        return True
    return (major, minor) >= (1, 39)


class AmazonBedrockModel(ApiModel):
    """A model on Amazon Bedrock, through boto3's ``bedrock-runtime`` Converse API.

    Authentication follows boto3 (environment, profile, IAM role), plus Bedrock API keys in
    ``AWS_BEARER_TOKEN_BEDROCK``. ``client`` is a ready boto3 client used as is (retries and
    all); otherwise ``client_kwargs`` (``region_name``, ``endpoint_url``, ``config``, and
    ``profile_name`` for the session) build one, in a boto3 session of the model's own.
    Extra kwargs are sent with every call: Converse fields such as ``inferenceConfig`` and
    ``guardrailConfig`` as given, ``max_tokens`` / ``temperature`` / ``top_p`` inside
    ``inferenceConfig``, anything else in ``additionalModelRequestFields``.

    By default system prompts go to Converse's ``system`` field, agent tool calls become
    ``assistant`` turns and observations ``user`` turns. When a model rejects system prompts,
    ``stopSequences``, ``toolChoice`` or tool use, the call is retried without them (system
    text moves into the first user turn, stop sequences are applied client-side, tool calls
    are read from the text) and later calls skip them.
    """

    def __init__(
        self,
        model_id: str,
        client: Any | None = None,
        client_kwargs: dict[str, Any] | None = None,
        custom_role_conversions: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if client is None:
            require("boto3", "bedrock", type(self).__name__)
        self.client_kwargs: dict[str, Any] = dict(client_kwargs or {})
        super().__init__(
            model_id=model_id, custom_role_conversions=custom_role_conversions, client=client, **kwargs
        )

    def _setup_runtime(self) -> None:
        super()._setup_runtime()
        self._rejected: set[str] = set()  # fields this model rejected: "system", "tools", "tool_choice"

    # ----------------------------------------------------------------- client
    def create_client(self) -> Any:
        """Create the boto3 ``bedrock-runtime`` client, with botocore's retries off."""
        boto3 = require("boto3", "bedrock", type(self).__name__)
        import botocore
        from botocore.config import Config
        from botocore.exceptions import NoRegionError

        arguments = dict(self.client_kwargs)
        # A session of its own: boto3's shared default session is not thread-safe and caches
        # credentials; this one reads the environment (or the named profile) now.
        session = boto3.session.Session(profile_name=arguments.pop("profile_name", None))
        config = arguments.get("config")
        single_attempt = Config(retries={"mode": "standard", "total_max_attempts": 1})
        if config is None:
            arguments["config"] = single_attempt
        elif config.retries is None:  # a caller who set retries keeps them
            arguments["config"] = config.merge(single_attempt)
        if not arguments.get("region_name") and not session.region_name and os.environ.get("AWS_REGION"):
            arguments["region_name"] = os.environ["AWS_REGION"]  # botocore itself reads AWS_DEFAULT_REGION
        try:
            client = session.client("bedrock-runtime", **arguments)
        except NoRegionError as exc:
            raise AgentGenerationError(
                f"AmazonBedrockModel {self.model_id!r}: no AWS region is configured. Set AWS_REGION "
                "(or AWS_DEFAULT_REGION), or pass client_kwargs={'region_name': 'us-east-1'}."
            ) from exc
        if not _native_bearer_support(botocore):
            _install_bearer_hook(client)
        return client

    # ----------------------------------------------------------------- requests
    def _params(self, request: ModelRequest) -> tuple[dict[str, Any], list[str]]:
        """Prepared parameters, and the stop sequences to apply client-side."""
        params = self._completion_kwargs(request)
        for name in self._rejected & {"tools", "tool_choice"}:
            params.pop(name, None)
        if "tools" not in params:
            params.pop("tool_choice", None)
        explicit = (params.get("inferenceConfig") or {}).get("stopSequences") or []
        stop_sequences = list(request.stop_sequences or [])
        return params, stop_sequences + [s for s in explicit if s not in stop_sequences]

    def _merge_kwargs(self, call_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """As the base, and ``inferenceConfig`` given on both sides is merged key by key (the
        side ``kwargs_priority`` names wins a key), so a call adding ``maxTokens`` keeps the
        constructor's ``temperature``."""
        merged = super()._merge_kwargs(call_kwargs)
        base_inference, call_inference = (
            self.kwargs.get("inferenceConfig"),
            call_kwargs.get("inferenceConfig"),
        )
        if isinstance(base_inference, Mapping) and isinstance(call_inference, Mapping):
            low, high = (
                (base_inference, call_inference)
                if self.kwargs_priority == "call"
                else (call_inference, base_inference)
            )
            combined = {**low, **high}
            merged["inferenceConfig"] = {k: v for k, v in combined.items() if v is not REMOVE_PARAMETER}
        return merged

    def _invoke(self, operation: str) -> Any:
        """A call for ``_call_api``: prepared parameters in, Converse response out."""
        client = self.client

        def call(params: dict[str, Any]) -> Any:
            request = converse_request(
                params, self.model_id or "", "system" in self._rejected, self._stop_unsupported
            )
            try:
                return getattr(client, operation)(**request)
            except Exception as exc:
                if type(exc).__name__ in (
                    "NoCredentialsError",
                    "PartialCredentialsError",
                    "NoAuthTokenError",
                ):
                    raise AgentGenerationError(
                        f"AmazonBedrockModel {self.model_id!r} found no usable AWS credentials ({exc}). "
                        + CREDENTIALS_HELP
                    ) from exc
                raise

        return call

    def _describe_error(self, exc: BaseException) -> ApiFailure | None:
        """Read botocore's ``ClientError`` (status in ``response['ResponseMetadata']``)."""
        response = getattr(exc, "response", None)
        if not (isinstance(response, Mapping) and isinstance(response.get("Error"), Mapping)):
            return super()._describe_error(exc)
        error = response["Error"]
        meta = response.get("ResponseMetadata") or {}
        code = str(error.get("Code") or type(exc).__name__)
        status = meta.get("HTTPStatusCode")
        if not isinstance(status, int):
            status = _ERROR_STATUS.get(code.lower(), 500)
        message = str(error.get("Message") or error.get("message") or exc)
        return ApiFailure(
            status_code=status,
            message=f"{code}: {message}",
            body=dict(error),
            retry_after=parse_retry_after(meta.get("HTTPHeaders")),
            retryable=status in RETRYABLE_STATUS or status >= 500,
        )

    def _adapt_request(self, params: dict[str, Any], failure: ApiFailure) -> dict[str, Any] | None:
        """Drop what a ValidationException says the model does not accept, and remember it."""
        if failure.status_code != 400:
            return None
        inference = params.get("inferenceConfig") or {}
        present = {
            "stop": "stop" in params or "stopSequences" in inference,
            "tool_choice": "tool_choice" in params,
            "tools": "tools" in params,
            "system": "system" not in self._rejected
            and any(m.get("role") == "system" for m in params["messages"]),
        }
        for name, pattern in _REJECTIONS:
            if not pattern.search(failure.message):
                continue
            if not present[name]:
                return None
            logger.info("%s rejected %r; retrying without it.", self.model_id, name)
            adapted = dict(params)
            if name == "stop":
                self._stop_unsupported = True
                adapted.pop("stop", None)
            elif name == "system":
                self._rejected.add("system")
            else:
                self._rejected.add(name)
                adapted.pop(name, None)
                if name == "tools":
                    adapted.pop("tool_choice", None)
            return adapted
        return None

    # ----------------------------------------------------------------- generation
    def _generate(self, request: ModelRequest) -> ChatMessage:
        params, cut_at = self._params(request)
        response, _ = self._call_api(self._invoke("converse"), params)
        return message_from_converse(response, cut_at, self.model_id)

    def _generate_stream(self, request: ModelRequest) -> Iterator[ChatMessageStreamDelta]:
        params, cut_at = self._params(request)
        response, _ = self._call_api(self._invoke("converse_stream"), params)
        yield from self._map_stream(response["stream"], ConverseStreamMapper(cut_at))

    # agenerate / agenerate_stream: boto3 has no async client, so Model's defaults run these
    # in a worker thread, delta by delta, without blocking the event loop.

    # ----------------------------------------------------------------- serialisation
    def _config(self) -> dict[str, Any]:
        config = super()._config()
        kept = {
            key: value
            for key, value in self.client_kwargs.items()
            if not key.startswith("aws_") and _is_plain(value)  # credentials and Config objects stay out
        }
        if kept:
            config["client_kwargs"] = kept
        return config


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(key, str) and _is_plain(item) for key, item in value.items())
    return False


def _install_bearer_hook(client: Any) -> None:
    """For botocore < 1.39: send ``AWS_BEARER_TOKEN_BEDROCK`` as ``Authorization: Bearer``.

    The token replaces the SigV4 signature, so the request needs no AWS credentials. As
    botocore does, it is only ever sent over HTTPS.
    """

    def add_bearer(request: Any, **_: Any) -> None:
        token = os.environ.get("AWS_BEARER_TOKEN_BEDROCK")
        if not token:
            return
        if not str(request.url).startswith("https://"):
            raise AgentGenerationError(
                "Bedrock API keys (AWS_BEARER_TOKEN_BEDROCK) are only sent over HTTPS."
            )
        request.headers["Authorization"] = f"Bearer {token}"

    def skip_signing(**_: Any) -> Any:
        if os.environ.get("AWS_BEARER_TOKEN_BEDROCK"):
            from botocore import UNSIGNED

            return UNSIGNED  # no SigV4: the bearer token authenticates
        return None

    events = client.meta.events
    events.register_first("choose-signer.bedrock-runtime", skip_signing)  # before botocore's choice
    events.register("before-send.bedrock-runtime", add_bearer)
