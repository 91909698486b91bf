"""AmazonBedrockModel through real boto3 against the loopback Converse server.

Requests are really signed (SigV4 with fake credentials, verified by the server; bearer API
keys over a loopback TLS server) and streamed answers use AWS event-stream framing that
botocore's own parser decodes.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import io
import json
import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from PIL import Image

from smolagents.errors import AgentGenerationError, MissingDependencyError, ModelHTTPError
from smolagents.models import REMOVE_PARAMETER, ChatMessage, MessageRole, Model, agglomerate_stream_deltas
from smolagents.models import bedrock as bedrock_module
from smolagents.models.bedrock import AmazonBedrockModel
from smolagents.testing.bedrock_server import (
    BedrockConverseServer,
    ConverseFailure,
    ConverseReply,
    encode_event,
)

MODEL_ID = "us.amazon.nova-pro-v1:0"
ACCESS_KEY, SECRET_KEY = "AKIDTEST", "test-secret-key"

MESSAGES = [
    ChatMessage(role=MessageRole.SYSTEM, content=[{"type": "text", "text": "You are a helpful agent."}]),
    ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": "What is the weather in Paris?"}]),
]


class WeatherTool:
    def to_json_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }


_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN", "AWS_AUTH_SCHEME_PREFERENCE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
)  # fmt: skip


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Fake credentials in the environment, and nothing from this machine's AWS setup."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return monkeypatch


@pytest.fixture
def server() -> Iterator[BedrockConverseServer]:
    with BedrockConverseServer(credentials={ACCESS_KEY: SECRET_KEY}) as running:
        yield running


@pytest.fixture
def bedrock_model(server: BedrockConverseServer, aws_env: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Build models on the loopback server whose retries wait a few milliseconds."""
    made: list[AmazonBedrockModel] = []

    def make(model_id: str = MODEL_ID, **kwargs: Any) -> AmazonBedrockModel:
        kwargs.setdefault("client_kwargs", {"endpoint_url": server.url})
        kwargs.setdefault("retry_base_delay", 0.001)
        made.append(AmazonBedrockModel(model_id, **kwargs))
        return made[-1]

    yield make
    for model in made:
        model.close()


def _make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cryptography, else the openssl tool)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither cryptography nor openssl is available to make a TLS certificate")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[BedrockConverseServer, Path]]:
    cert, key = _make_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with BedrockConverseServer(api_keys={"bedrock-api-key-123"}, ssl_context=context) as running:
        yield running, cert


# --------------------------------------------------------------------------- generate
def test_generate_sends_a_signed_converse_request(server, bedrock_model) -> None:
    server.enqueue("It is sunny.", "Still sunny.")
    model = bedrock_model(temperature=0.3, max_tokens=50, top_p=0.9)
    answer = model.generate(MESSAGES)
    assert answer.role == MessageRole.ASSISTANT and answer.content == "It is sunny."
    assert (answer.token_usage.input_tokens, answer.token_usage.output_tokens) == (11, 3)
    model(MESSAGES, temperature=0.9)
    first, second = server.requests
    assert first.path == f"/model/{MODEL_ID}/converse" and first.model_id == MODEL_ID
    assert first.authorization.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-east-1/bedrock/aws4_request" in first.authorization
    assert first.signature_valid is True and second.signature_valid is True
    assert first.json == {
        "messages": [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}],
        "system": [{"text": "You are a helpful agent."}],
        "inferenceConfig": {"temperature": 0.3, "maxTokens": 50, "topP": 0.9},
    }
    # the constructor's settings win over a call's (issue 8); kwargs_priority="call" flips it
    assert second.json["inferenceConfig"] == {"temperature": 0.3, "maxTokens": 50, "topP": 0.9}
    server.enqueue("Sunny again.")
    model.kwargs_priority = "call"
    model(MESSAGES, temperature=0.9)
    assert server.requests[2].json["inferenceConfig"] == {"temperature": 0.9, "maxTokens": 50, "topP": 0.9}


def test_a_wrong_signature_is_refused_by_the_server(server, bedrock_model, aws_env) -> None:
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(ModelHTTPError, match="HTTP 403: InvalidSignatureException") as caught:
        bedrock_model().generate(MESSAGES)
    assert caught.value.status_code == 403
    assert server.requests[0].signature_valid is False


def test_converse_fields_pass_through(server, bedrock_model) -> None:
    server.enqueue("ok", "ok")
    additional_api_config = {
        "inferenceConfig": {"maxTokens": 3000},
        "guardrailConfig": {"guardrailIdentifier": "identify1", "guardrailVersion": "v1"},
    }
    model = bedrock_model(top_k=40, requestMetadata={"team": "agents"}, **additional_api_config)
    model.generate(MESSAGES, stop_sequences=["Observation:"], temperature=0.2)
    model.generate(MESSAGES, inferenceConfig={"temperature": 0.0}, additionalModelRequestFields={"x": 1})
    first, second = (request.json for request in server.requests)
    assert first["guardrailConfig"] == {"guardrailIdentifier": "identify1", "guardrailVersion": "v1"}
    assert first["inferenceConfig"] == {
        "maxTokens": 3000,
        "temperature": 0.2,
        "stopSequences": ["Observation:"],
    }
    assert first["additionalModelRequestFields"] == {"top_k": 40}  # model-specific, not a Converse field
    assert first["requestMetadata"] == {"team": "agents"}
    assert second["inferenceConfig"] == {"maxTokens": 3000, "temperature": 0.0}  # merged key by key
    assert second["additionalModelRequestFields"] == {"top_k": 40, "x": 1}


def test_agent_roles_become_alternating_user_and_assistant_turns(server, bedrock_model) -> None:
    server.enqueue("done")
    memory = [
        *MESSAGES,
        ChatMessage(role=MessageRole.ASSISTANT, content=[{"type": "text", "text": "Thought: look it up"}]),
        ChatMessage(role=MessageRole.TOOL_CALL, content=[{"type": "text", "text": "Calling tools: weather"}]),
        ChatMessage(role=MessageRole.TOOL_RESPONSE, content=[{"type": "text", "text": "Observation: sunny"}]),
        ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": "Now answer."}]),
    ]
    assert bedrock_model().generate(memory).content == "done"  # the server checks alternation
    assert server.requests[0].json["messages"] == [
        {"role": "user", "content": [{"text": "What is the weather in Paris?"}]},
        {"role": "assistant", "content": [{"text": "Thought: look it up\nCalling tools: weather"}]},
        {"role": "user", "content": [{"text": "Observation: sunny\nNow answer."}]},
    ]


def test_custom_role_conversions_and_flattening(server, bedrock_model) -> None:
    server.enqueue("ok")
    model = bedrock_model(custom_role_conversions={"system": "user"}, flatten_messages_as_text=True)
    model.generate(MESSAGES)
    body = server.requests[0].json
    assert "system" not in body
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "You are a helpful agent.\nWhat is the weather in Paris?"}]}
    ]


def test_images_are_sent_as_bytes(server, bedrock_model) -> None:
    image = Image.new("RGB", (2, 2), "red")
    server.enqueue("a red square")
    message = {
        "role": "user",
        "content": [{"type": "text", "text": "What is it?"}, {"type": "image", "image": image}],
    }
    assert bedrock_model().generate([message]).content == "a red square"
    block = server.requests[0].json["messages"][0]["content"][1]["image"]
    assert block["format"] == "png"
    data = base64.b64decode(block["source"]["bytes"])  # boto3 sends blobs base64-encoded
    assert data.startswith(b"\x89PNG") and Image.open(io.BytesIO(data)).size == (
        2,
        2,
    )


# --------------------------------------------------------------------------- tools
def test_tool_use_round_trip(server, bedrock_model) -> None:
    server.enqueue(
        ConverseReply(
            content="Checking.",
            tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}, "id": "tu-1"}],
        ),
        "It is sunny in Paris.",
    )
    model = bedrock_model()
    message = model.generate(MESSAGES, tools_to_call_from=[WeatherTool()])
    assert message.content == "Checking."
    (call,) = message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        "tu-1",
        "get_weather",
        {"city": "Paris"},
    )
    tool_config = server.requests[0].json["toolConfig"]
    assert tool_config == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city.",
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        }
                    },
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    # Native tool-call messages go back as toolUse / toolResult blocks.
    follow_up = [
        *MESSAGES,
        {"role": "assistant", "content": "Checking.", "tool_calls": [call.dict()]},
        {"role": "tool", "tool_call_id": "tu-1", "content": "sunny, 24C"},
    ]
    answer = model.generate(follow_up, tools_to_call_from=[WeatherTool()], tool_choice="auto")
    assert answer.content == "It is sunny in Paris." and answer.tool_calls is None
    body = server.requests[1].json
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"text": "Checking."},
                {"toolUse": {"toolUseId": "tu-1", "name": "get_weather", "input": {"city": "Paris"}}},
            ],
        },
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "tu-1", "content": [{"text": "sunny, 24C"}]}}],
        },
    ]
    assert body["toolConfig"]["toolChoice"] == {"auto": {}}


def test_stream_text_reasoning_tool_fragments_and_usage_once(server, bedrock_model) -> None:
    reply = ConverseReply(
        content="Let me check the weather for you.",
        reasoning_content="The user wants weather.",
        tool_calls=[
            {"name": "get_weather", "input": {"city": "Paris"}},
            {"name": "get_weather", "input": {"city": "Lyon"}},
        ],
    )
    server.enqueue(reply, reply)
    model = bedrock_model()
    deltas = list(model.generate_stream(MESSAGES, tools_to_call_from=[WeatherTool()]))
    assert server.requests[0].path == f"/model/{MODEL_ID}/converse-stream"
    assert server.requests[0].signature_valid is True
    assert sum(1 for d in deltas if d.content) > 3  # really streamed in pieces
    assert sum(1 for d in deltas if d.tool_calls) == 8  # per call: a start and three input fragments
    assert sum(1 for d in deltas if d.token_usage is not None) == 1
    streamed = agglomerate_stream_deltas(deltas)
    assert streamed.content == "Let me check the weather for you."
    assert streamed.reasoning_content == "The user wants weather."
    assert [(c.function.name, c.function.arguments) for c in streamed.tool_calls] == [
        ("get_weather", '{"city": "Paris"}'),
        ("get_weather", '{"city": "Lyon"}'),
    ]
    parsed = model.parse_tool_calls(streamed)
    assert [c.function.arguments for c in parsed.tool_calls] == [{"city": "Paris"}, {"city": "Lyon"}]
    whole = model.generate(MESSAGES, tools_to_call_from=[WeatherTool()])
    assert whole.reasoning_content == streamed.reasoning_content
    assert streamed.token_usage == whole.token_usage  # the same reply counts the same tokens


def test_think_blocks_and_stop_sequences_in_text(server, bedrock_model) -> None:
    reply = "<think>Paris is in France.</think>\nIt is sunny.\nObservation: invented"
    server.enqueue(reply, reply)
    model = bedrock_model()
    whole = model.generate(MESSAGES, stop_sequences=["Observation:"])
    streamed = agglomerate_stream_deltas(model.generate_stream(MESSAGES, stop_sequences=["Observation:"]))
    for message in (whole, streamed):
        assert message.content.strip() == "It is sunny."
        assert message.reasoning_content == "Paris is in France."


# --------------------------------------------------------------------------- failures and retries
def test_throttling_honours_retry_after_and_botocore_does_not_retry(server, bedrock_model) -> None:
    server.enqueue(
        ConverseFailure(429, "ThrottlingException", "Too many requests", {"Retry-After": "2"}), "after"
    )
    model = bedrock_model()
    waits: list[float] = []
    model._sleep = waits.append
    assert model.generate(MESSAGES).content == "after"
    assert waits == [2.0]
    assert len(server.requests) == 2  # one per ApiModel attempt: botocore's retries are off


def test_throttling_and_5xx_without_retry_after_back_off(server, bedrock_model) -> None:
    server.enqueue(
        ConverseFailure(429, "ThrottlingException", "Too many tokens"),
        ConverseFailure(503, "ServiceUnavailableException", "busy"),
        ConverseReply(content="streamed after retries"),
    )
    model = bedrock_model()
    waits: list[float] = []
    model._sleep = waits.append
    assert agglomerate_stream_deltas(model.generate_stream(MESSAGES)).content == "streamed after retries"
    assert len(waits) == 2 and all(wait > 0 for wait in waits)
    assert len(server.requests) == 3


def test_throttling_until_attempts_run_out(server, bedrock_model) -> None:
    server.enqueue(*[ConverseFailure(429, "ThrottlingException", "Rate exceeded")] * 2)
    with pytest.raises(
        ModelHTTPError, match=r"HTTP 429 after 2 attempts: ThrottlingException: Rate exceeded"
    ):
        bedrock_model(retry_max_attempts=2).generate(MESSAGES)


def test_validation_error_is_surfaced_at_once(server, bedrock_model) -> None:
    server.enqueue(ConverseFailure(400, "ValidationException", "The provided model identifier is invalid."))
    with pytest.raises(ModelHTTPError) as caught:
        bedrock_model().generate(MESSAGES)
    assert caught.value.status_code == 400
    assert str(caught.value) == (
        f"Model {MODEL_ID!r} failed with HTTP 400: ValidationException: The provided model identifier is invalid."
    )
    assert len(server.requests) == 1


def test_exception_event_mid_stream_is_a_clear_error(server, bedrock_model) -> None:
    server.enqueue(
        ConverseReply(content="partial answer", stream_error=("throttlingException", "Too many tokens"))
    )
    deltas: list[Any] = []
    with pytest.raises(
        ModelHTTPError, match=r"HTTP 429: throttlingException: Too many tokens \(while streaming\)"
    ):
        deltas.extend(bedrock_model().generate_stream(MESSAGES))
    assert "".join(d.content or "" for d in deltas) == "partial answer"
    assert len(server.requests) == 1  # not retried: deltas were already sent


def test_stop_sequences_rejected_fall_back_to_client_side_cut(server, bedrock_model) -> None:
    server.reject = {"stopSequences"}
    text = "Thought: look it up\nAction: search<end_action>Observation: invented"
    server.enqueue(text, text, text)
    model = bedrock_model()
    first = model.generate(MESSAGES, stop_sequences=["<end_action>", "Observation:"])
    assert first.content == "Thought: look it up\nAction: search"
    assert ["inferenceConfig" in r.json for r in server.requests] == [True, False]
    second = model.generate(
        MESSAGES, stop_sequences=["Observation:"], inferenceConfig={"stopSequences": ["<end_action>"]}
    )
    assert second.content == "Thought: look it up\nAction: search"  # remembered; explicit ones cut too
    assert "inferenceConfig" not in server.requests[2].json
    streamed = agglomerate_stream_deltas(model.generate_stream(MESSAGES, stop_sequences=["<end_action>"]))
    assert streamed.content == "Thought: look it up\nAction: search"
    assert len(server.requests) == 4


def test_system_and_tool_choice_rejections_adapt_once(server, bedrock_model) -> None:
    server.reject = {"system", "toolChoice"}
    call = ConverseReply(tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}])
    server.enqueue(call, call)
    model = bedrock_model()
    for _ in range(2):
        assert (
            model.generate(MESSAGES, tools_to_call_from=[WeatherTool()]).tool_calls[0].function.name
            == "get_weather"
        )
    bodies = [r.json for r in server.requests]
    assert len(bodies) == 4  # two rejections on the first call, none on the second
    assert "system" not in bodies[-1] and "toolChoice" not in bodies[-1]["toolConfig"]
    assert bodies[-1]["messages"] == [
        {
            "role": "user",
            "content": [{"text": "You are a helpful agent."}, {"text": "What is the weather in Paris?"}],
        }
    ]


def test_models_without_tool_use_answer_in_text(server, bedrock_model) -> None:
    server.reject = {"tools"}
    server.enqueue('{"name": "get_weather", "arguments": {"city": "Paris"}}')
    model = bedrock_model()
    message = model.parse_tool_calls(model.generate(MESSAGES, tools_to_call_from=[WeatherTool()]))
    assert (message.tool_calls[0].function.name, message.tool_calls[0].function.arguments) == (
        "get_weather",
        {"city": "Paris"},
    )
    assert "toolConfig" in server.requests[0].json and "toolConfig" not in server.requests[1].json


def test_remove_parameter_over_the_wire(server, bedrock_model) -> None:
    server.enqueue("one two", "three")
    model = bedrock_model(stop=REMOVE_PARAMETER, temperature=0.7)
    assert model.generate(MESSAGES, stop_sequences=["two"]).content == "one "  # cut client-side
    model.generate(MESSAGES, temperature=REMOVE_PARAMETER, stop=["x"])  # the constructor wins both
    first, second = (r.json for r in server.requests)
    assert first["inferenceConfig"] == {"temperature": 0.7}
    assert second["inferenceConfig"] == {"temperature": 0.7}  # no stopSequences: removed by the constructor
    server.enqueue("four")
    model.kwargs_priority = "call"
    model.generate(MESSAGES, temperature=REMOVE_PARAMETER)
    assert "inferenceConfig" not in server.requests[2].json


def test_response_format_becomes_output_config(server, bedrock_model) -> None:
    server.enqueue('{"city": "Paris"}')
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    bedrock_model().generate(MESSAGES, response_format=response_format)
    json_schema = server.requests[0].json["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert json_schema["name"] == "answer" and json.loads(json_schema["schema"]) == schema


# --------------------------------------------------------------------------- auth and client
def test_missing_credentials_name_what_to_set(server, bedrock_model, aws_env) -> None:
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AgentGenerationError) as caught:
        bedrock_model().generate(MESSAGES)
    message = str(caught.value)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_PROFILE",
    ):
        assert name in message
    assert server.requests == []


def test_missing_region_is_explained_and_aws_region_is_read(server, bedrock_model, aws_env) -> None:
    aws_env.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(AgentGenerationError, match=r"no AWS region is configured\. Set AWS_REGION"):
        bedrock_model().generate(MESSAGES)
    aws_env.setenv("AWS_REGION", "eu-west-3")
    server.enqueue("bonjour")
    assert bedrock_model().generate(MESSAGES).content == "bonjour"
    assert "/eu-west-3/bedrock/aws4_request" in server.requests[0].authorization


@pytest.mark.skipif(not bedrock_module._native_bearer_support(botocore), reason="botocore < 1.39")
def test_bearer_api_key_natively(tls_server, aws_env) -> None:
    server, cert = tls_server
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    aws_env.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-123")
    server.enqueue("with an API key", "streamed with an API key")
    model = AmazonBedrockModel(MODEL_ID, client_kwargs={"endpoint_url": server.url, "verify": str(cert)})
    assert model.generate(MESSAGES).content == "with an API key"
    assert agglomerate_stream_deltas(model.generate_stream(MESSAGES)).content == "streamed with an API key"
    assert [r.authorization for r in server.requests] == ["Bearer bedrock-api-key-123"] * 2
    model.close()


def test_bearer_api_key_hook_for_older_botocore(tls_server, aws_env, monkeypatch) -> None:
    server, cert = tls_server
    monkeypatch.setattr(bedrock_module, "_native_bearer_support", lambda botocore: False)
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    aws_env.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-123")
    server.enqueue("hooked")
    model = AmazonBedrockModel(MODEL_ID, client_kwargs={"endpoint_url": server.url, "verify": str(cert)})
    assert model.generate(MESSAGES).content == "hooked"
    assert server.requests[0].authorization == "Bearer bedrock-api-key-123"
    assert "x-amz-date" not in server.requests[0].headers  # not SigV4-signed
    plain = AmazonBedrockModel(MODEL_ID, client_kwargs={"endpoint_url": "http://127.0.0.1:9"})
    with pytest.raises(AgentGenerationError, match="only sent over HTTPS"):
        plain.generate(MESSAGES)
    model.close()
    plain.close()


def test_profile_name_picks_credentials_and_region_from_aws_files(server, aws_env, tmp_path) -> None:
    (tmp_path / "config").write_text("[profile agents]\nregion = eu-north-1\n")
    (tmp_path / "credentials").write_text(
        f"[agents]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    aws_env.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    aws_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        aws_env.delenv(name)
    server.enqueue("from a profile")
    model = AmazonBedrockModel(MODEL_ID, client_kwargs={"endpoint_url": server.url, "profile_name": "agents"})
    assert model.generate(MESSAGES).content == "from a profile"
    assert "/eu-north-1/bedrock/" in server.requests[0].authorization and server.requests[0].signature_valid
    model.close()


def test_unreachable_endpoint_is_retried_then_named(bedrock_model) -> None:
    with BedrockConverseServer() as closed:
        url = closed.url
    model = bedrock_model(client_kwargs={"endpoint_url": url}, retry_max_attempts=2)
    waits: list[float] = []
    model._sleep = waits.append
    with pytest.raises(AgentGenerationError, match=f"{MODEL_ID!r} could not be reached after 2 attempts"):
        model.generate(MESSAGES)
    assert len(waits) == 1


def test_model_copies_and_pickles_after_use(server, bedrock_model) -> None:
    import copy
    import pickle

    server.reject = {"system"}
    server.enqueue("before", "after copy", "after pickle")
    model = bedrock_model(temperature=0.1)
    model.generate(MESSAGES)
    clone, revived = copy.deepcopy(model), pickle.loads(pickle.dumps(model))
    assert clone.generate(MESSAGES).content == "after copy"
    assert revived.generate(MESSAGES).content == "after pickle"
    assert clone.client is not model.client
    assert len(server.requests) == 6  # copies relearn what the model refuses
    clone.close()
    revived.close()


def test_a_given_client_is_used_as_is(server, aws_env) -> None:
    client = boto3.session.Session().client(
        "bedrock-runtime", endpoint_url=server.url, region_name="us-west-2"
    )
    server.enqueue("from my client")
    model = AmazonBedrockModel(MODEL_ID, client=client)
    assert model.client is client
    assert model.generate(MESSAGES).content == "from my client"
    assert "/us-west-2/bedrock/" in server.requests[0].authorization
    model.close()
    assert model.client is client  # the caller's client is the caller's to close


def test_client_kwargs_and_botocore_retries(server, bedrock_model) -> None:
    from botocore.config import Config

    model = bedrock_model(client_kwargs={"endpoint_url": server.url, "config": Config(read_timeout=7)})
    config = model.client.meta.config
    assert config.read_timeout == 7 and config.retries["total_max_attempts"] == 1
    own = bedrock_model(
        client_kwargs={"endpoint_url": server.url, "config": Config(retries={"max_attempts": 3})}
    )
    assert own.client.meta.config.retries["total_max_attempts"] == 4  # set by the caller: kept


def test_to_dict_round_trip_without_secrets(server, aws_env) -> None:
    model = AmazonBedrockModel(
        MODEL_ID,
        client_kwargs={
            "endpoint_url": server.url,
            "region_name": "us-east-1",
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_session_token": "session-secret",
        },
        custom_role_conversions={"system": "user"},
        inferenceConfig={"maxTokens": 100},
        stop=REMOVE_PARAMETER,
    )
    data = model.to_dict()
    for secret in (ACCESS_KEY, SECRET_KEY, "session-secret"):
        assert secret not in json.dumps(data)
    assert data["class"] == "AmazonBedrockModel"
    assert data["client_kwargs"] == {"endpoint_url": server.url, "region_name": "us-east-1"}
    rebuilt = Model.from_dict(json.loads(json.dumps(data)))
    assert isinstance(rebuilt, AmazonBedrockModel) and rebuilt.to_dict() == data
    server.enqueue("rebuilt works")
    assert rebuilt.generate(MESSAGES, stop_sequences=["x"]).content == "rebuilt works"
    body = server.requests[0].json
    assert body["inferenceConfig"] == {"maxTokens": 100} and "system" not in body
    rebuilt.close()


def test_async_generate_and_stream(server, bedrock_model) -> None:
    server.enqueue("async hello", ConverseReply(content="streamed async hello", usage=(7, 3)))
    model = bedrock_model()

    async def run() -> tuple[ChatMessage, ChatMessage]:
        whole = await model.agenerate(MESSAGES)
        deltas = [delta async for delta in model.agenerate_stream(MESSAGES)]
        return whole, agglomerate_stream_deltas(deltas)

    whole, streamed = asyncio.run(run())
    assert whole.content == "async hello"
    assert streamed.content == "streamed async hello"
    assert (streamed.token_usage.input_tokens, streamed.token_usage.output_tokens) == (7, 3)


def test_importing_the_module_does_not_import_boto3() -> None:
    code = "import sys, smolagents.models.bedrock; assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_boto3_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[bedrock\]'"):
        AmazonBedrockModel(MODEL_ID)


def test_event_stream_encoder_matches_botocore() -> None:
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(
        encode_event({":event-type": "messageStop", ":message-type": "event"}, b'{"stopReason":"end_turn"}')
    )
    (message,) = list(buffer)
    assert message.headers == {":event-type": "messageStop", ":message-type": "event"}
    assert message.payload == b'{"stopReason":"end_turn"}'


# --------------------------------------------------------------------------- agents
def test_tool_calling_agent_run_streamed_and_not(server, bedrock_model) -> None:
    from smolagents import ToolCallingAgent, tool

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: first number.
            b: second number.
        """
        return a + b

    script = [
        ConverseReply(content="Adding.", tool_calls=[{"name": "add", "input": {"a": 2, "b": 3}, "id": "t1"}]),
        ConverseReply(
            tool_calls=[{"name": "final_answer", "input": {"answer": "The sum is 5."}, "id": "t2"}]
        ),
    ]
    results = []
    for stream_outputs in (False, True):
        server.enqueue(*script)
        agent = ToolCallingAgent(
            tools=[add], model=bedrock_model(), max_steps=3, stream_outputs=stream_outputs
        )
        results.append(agent.run("What is 2 + 3?", return_full_result=True))
    assert [result.output for result in results] == ["The sum is 5."] * 2
    requests = server.requests
    assert [r.operation for r in requests] == ["converse"] * 2 + ["converse-stream"] * 2
    first, second = requests[0].json, requests[1].json
    assert {t["toolSpec"]["name"] for t in first["toolConfig"]["tools"]} == {"add", "final_answer"}
    assert first["system"] and first["messages"][0]["role"] == "user"
    assert "5" in json.dumps(second["messages"][-1])  # the observation went back to the model
    assert requests[2].json == first and requests[3].json == second  # the same transcript
    plain, streamed = (result.token_usage for result in results)
    assert plain.input_tokens > 0 and plain == streamed  # streaming counts every token once


def test_code_agent_run(server, bedrock_model) -> None:
    from smolagents import CodeAgent

    server.enqueue("Thought: I will compute it.\n<code>\nfinal_answer(6*7)\n</code>")
    agent = CodeAgent(tools=[], model=bedrock_model(), max_steps=2)
    assert agent.run("What is 6 times 7?") == 42
    body = server.requests[0].json
    assert "Observation:" in body["inferenceConfig"]["stopSequences"]
