"""smolagents: agents that think in code.

The public names are re-exported here with an explicit ``__all__``. Importing smolagents
imports no optional dependency: provider SDKs, torch, gradio and friends are imported by
the classes that need them, when they are created.
"""

# The upstream 1.x API we implement, as documented (the docs' newest "added in" mark is
# 1.17.0); plugins written for smolagents gate on it (openinference's instrumentor: >= 1.2.2).
__version__ = "1.17.0"

from typing import Any as _Any

from ._monitoring_types import LogLevel, Timing, TokenUsage
from .agent_types import AgentAudio, AgentImage, AgentText, AgentType
from .agents import (
    ApprovalDecision,
    ApprovalRequest,
    CodeAgent,
    ContextBudgetError,
    ContextPolicy,
    FinalAnswerPromptTemplate,
    ManagedAgentPromptTemplate,
    MultiStepAgent,
    OutputValidationError,
    PlanningPromptTemplate,
    PromptTemplates,
    ToolCallingAgent,
    populate_template,
)
from .default_tools import (
    ApiWebSearchTool,
    DuckDuckGoSearchTool,
    FinalAnswerTool,
    GoogleSearchTool,
    PythonInterpreterTool,
    SpeechToTextTool,
    UserInputTool,
    VisitWebpageTool,
    WebSearchTool,
    WikipediaSearchTool,
)
from .errors import (
    AgentError,
    AgentExecutionError,
    AgentGenerationError,
    AgentMaxStepsError,
    AgentParsingError,
    AgentToolCallError,
    AgentToolExecutionError,
    CheckpointError,
    CheckpointNotFoundError,
    InterpreterError,
    MissingDependencyError,
    ModelHTTPError,
    SandboxResourceError,
    SandboxSecurityError,
    UserError,
)
from .mcp_client import MCPClient
from .memory import (
    ActionOutput,
    ActionStep,
    AgentMemory,
    FinalAnswerStep,
    MemoryStep,
    PlanningStep,
    RunResult,
    SystemPromptStep,
    TaskStep,
    ToolCall,
    ToolOutput,
)
from .models import (
    REMOVE_PARAMETER,
    AmazonBedrockModel,
    ApiModel,
    AzureOpenAIModel,
    AzureOpenAIServerModel,
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    InferenceClientModel,
    LiteLLMModel,
    LiteLLMRouterModel,
    MessageRole,
    MLXModel,
    Model,
    OpenAIModel,
    OpenAIServerModel,
    TransformersModel,
    VLLMModel,
    agglomerate_stream_deltas,
    get_clean_message_list,
)
from .monitoring import AgentLogger
from .tools import Tool, ToolCollection, load_tool, tool

_LAZY = {
    # The sandbox is imported when first used: it is the heaviest part of the core.
    "CodeOutput": "local_python_executor",
    "LocalPythonExecutor": "local_python_executor",
    "PythonExecutor": "local_python_executor",
    "ProcessExecutor": "process_executor",
    # remote executors: their SDKs (docker, e2b, modal...) load when one is created
    "RemotePythonExecutor": "remote_executors",
    "KernelGatewayExecutor": "remote_executors",
    "DockerExecutor": "remote_executors",
    "WasmExecutor": "remote_executors",
    "E2BExecutor": "remote_executors",
    "ModalExecutor": "remote_executors",
    "BlaxelExecutor": "remote_executors",
    # the chat UI: gradio loads when one is created
    "GradioUI": "gradio_ui",
    "stream_to_gradio": "gradio_ui",
}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name == "telemetry":  # ``smolagents.telemetry.instrument()`` after a bare ``import smolagents``
        import importlib

        return importlib.import_module(".telemetry", __name__)
    raise AttributeError(f"module 'smolagents' has no attribute {name!r}")


__all__ = [
    # agents
    "CodeAgent",
    "ContextBudgetError",
    "ContextPolicy",
    "OutputValidationError",
    "FinalAnswerPromptTemplate",
    "ManagedAgentPromptTemplate",
    "MultiStepAgent",
    "PlanningPromptTemplate",
    "PromptTemplates",
    "ToolCallingAgent",
    "populate_template",
    # memory and run events
    "ActionOutput",
    "ActionStep",
    "AgentMemory",
    "ApprovalDecision",
    "ApprovalRequest",
    "FinalAnswerStep",
    "MemoryStep",
    "PlanningStep",
    "RunResult",
    "SystemPromptStep",
    "TaskStep",
    "ToolCall",
    "ToolOutput",
    # models
    "REMOVE_PARAMETER",
    "AmazonBedrockModel",
    "InferenceClientModel",
    "LiteLLMModel",
    "LiteLLMRouterModel",
    "MLXModel",
    "TransformersModel",
    "VLLMModel",
    "ApiModel",
    "AzureOpenAIModel",
    "AzureOpenAIServerModel",
    "ChatMessage",
    "ChatMessageStreamDelta",
    "ChatMessageToolCall",
    "ChatMessageToolCallFunction",
    "ChatMessageToolCallStreamDelta",
    "MessageRole",
    "Model",
    "OpenAIModel",
    "OpenAIServerModel",
    "agglomerate_stream_deltas",
    "get_clean_message_list",
    # tools
    "AgentAudio",
    "AgentImage",
    "AgentText",
    "AgentType",
    "ApiWebSearchTool",
    "DuckDuckGoSearchTool",
    "MCPClient",
    "FinalAnswerTool",
    "GoogleSearchTool",
    "PythonInterpreterTool",
    "SpeechToTextTool",
    "Tool",
    "ToolCollection",
    "UserInputTool",
    "VisitWebpageTool",
    "WebSearchTool",
    "WikipediaSearchTool",
    "load_tool",
    "tool",
    # code execution
    "CodeOutput",
    "LocalPythonExecutor",
    "PythonExecutor",
    "ProcessExecutor",
    "RemotePythonExecutor",
    "KernelGatewayExecutor",
    "DockerExecutor",
    "WasmExecutor",
    "E2BExecutor",
    "ModalExecutor",
    "BlaxelExecutor",
    # interfaces
    "GradioUI",
    "stream_to_gradio",
    # monitoring
    "AgentLogger",
    "LogLevel",
    "Timing",
    "TokenUsage",
    # errors
    "AgentError",
    "AgentExecutionError",
    "AgentGenerationError",
    "AgentMaxStepsError",
    "AgentParsingError",
    "AgentToolCallError",
    "AgentToolExecutionError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "InterpreterError",
    "MissingDependencyError",
    "ModelHTTPError",
    "SandboxResourceError",
    "SandboxSecurityError",
    "UserError",
    "__version__",
]
