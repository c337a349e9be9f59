"""The validated, frozen description of one agent of an app (``AgentSpec``).

Values here are *effective*: the agent's front matter merged over
``agents.config.yaml`` and the environment (see :mod:`agentdown.app.config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from agentdown.app.bindings import OutputBinding
from agentdown.app.knowledge_config import KnowledgeSpec
from agentdown.app.openapi_config import OpenApiToolSpec
from agentdown.app.queue_tools import QueueToolSpec

__all__ = [
    "AgentConfiguration",
    "AgentSpec",
    "BlobTrigger",
    "BuiltinEndpoints",
    "EntraAuth",
    "FunctionsTrigger",
    "HttpAuth",
    "HttpAuthMode",
    "HttpTrigger",
    "QueueTrigger",
    "Selection",
    "SubagentRef",
    "TimerTrigger",
    "Trigger",
    "WorkflowSettings",
]

HttpAuthMode = Literal["function", "admin", "anonymous", "entra"]
HTTP_AUTH_MODES: tuple[HttpAuthMode, ...] = ("function", "admin", "anonymous", "entra")


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class BuiltinEndpoints:
    """``builtin_endpoints``: which built-in HTTP surfaces the agent gets."""

    debug_chat_ui: bool = False
    """The chat page at ``GET /agents/{slug}/`` (implies ``chat_api``)."""
    chat_api: bool = False
    """``POST /agents/{slug}/chat`` and ``/chatstream``."""
    mcp: bool = False
    """The agent as an MCP tool named after its slug."""

    @property
    def any(self) -> bool:
        return self.debug_chat_ui or self.chat_api or self.mcp


@dataclass(frozen=True, slots=True)
class EntraAuth:
    """Allow-lists checked against a platform-validated Entra ID principal."""

    tenant_id: str | None = None
    allowed_audiences: tuple[str, ...] = ()
    allowed_client_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HttpAuth:
    """``http_auth``: how callers of the agent's HTTP endpoints authenticate."""

    mode: HttpAuthMode = "function"
    """``function`` (API key, the default), ``admin`` (master key), ``anonymous`` or ``entra``."""
    entra: EntraAuth | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """``tools`` / ``mcp`` / ``skills``: which discovered capabilities the agent gets."""

    enabled: bool = True
    """``false`` in front matter: none at all."""
    include: tuple[str, ...] | None = None
    """Only these names (agentdown's addition); ``None``: everything discovered."""
    exclude: tuple[str, ...] = ()
    """Never these names (front matter and ``agents.config.yaml`` excludes together)."""

    def allows(self, name: str) -> bool:
        if not self.enabled or name in self.exclude:
            return False
        return self.include is None or name in self.include


@dataclass(frozen=True, slots=True)
class SubagentRef:
    """One ``subagents`` entry: an agent (by slug) this agent may delegate to."""

    agent: str
    when: str | None
    """When to delegate; the delegation tool's description (the agent's own description if unset)."""
    line: int


@dataclass(frozen=True, slots=True)
class AgentConfiguration:
    """``agent_configuration``, merged key by key over ``agents.config.yaml``'s."""

    max_output_tokens: int | None = None
    agent_framework: Mapping[str, Any] = field(default_factory=_empty)
    """Microsoft Agent Framework settings (compaction); accepted for compatibility, not applied."""


@dataclass(frozen=True, slots=True)
class TimerTrigger:
    """``timer_trigger``: run on an NCRONTAB schedule."""

    type: ClassVar[str] = "timer_trigger"
    schedule: str
    """Six fields (seconds first); a five-field cron got ``0`` seconds prepended."""
    run_on_startup: bool = False
    use_monitor: bool = True

    @property
    def args(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "run_on_startup": self.run_on_startup,
            "use_monitor": self.use_monitor,
        }


@dataclass(frozen=True, slots=True)
class QueueTrigger:
    """``queue_trigger``: run once per message of an Azure Storage queue."""

    type: ClassVar[str] = "queue_trigger"
    queue_name: str
    connection: str = "AzureWebJobsStorage"
    """The name of the setting holding the storage connection (not the connection itself)."""

    @property
    def args(self) -> dict[str, Any]:
        return {"queue_name": self.queue_name, "connection": self.connection}


@dataclass(frozen=True, slots=True)
class BlobTrigger:
    """``blob_trigger``: run when a blob matching ``path`` is created or updated."""

    type: ClassVar[str] = "blob_trigger"
    path: str
    """``container/{name}`` style pattern."""
    connection: str = "AzureWebJobsStorage"
    source: str | None = None
    """``LogsAndContainerScan`` or ``EventGrid`` (Azure Functions hosting only)."""

    @property
    def args(self) -> dict[str, Any]:
        return {"path": self.path, "connection": self.connection, "source": self.source}


@dataclass(frozen=True, slots=True)
class HttpTrigger:
    """``http_trigger``: a custom route answering with the agent's (structured) response."""

    type: ClassVar[str] = "http_trigger"
    route: str
    methods: tuple[str, ...] = ("POST",)
    http_auth: HttpAuth = field(default_factory=HttpAuth)
    """From ``args.http_auth`` or the older ``args.auth_level``."""

    @property
    def args(self) -> dict[str, Any]:
        return {"route": self.route, "methods": list(self.methods), "auth_level": self.http_auth.mode}


Trigger = TimerTrigger | QueueTrigger | BlobTrigger | HttpTrigger


@dataclass(frozen=True, slots=True)
class FunctionsTrigger:
    """A trigger only Azure Functions runs (Service Bus, Event Hubs, Cosmos DB, a connector, ...).

    Valid in an agent file: it is registered when the app is deployed to Azure Functions
    (``FunctionApp.<type>(**args)``). ``agentdown serve`` does not run it, but serves the
    agent's other surfaces (built-in endpoints, delegation).
    """

    type: str
    """The ``FunctionApp`` decorator's name, e.g. ``service_bus_queue_trigger``."""
    arguments: Mapping[str, Any] = field(default_factory=_empty)
    """``trigger.args`` as written (after ``$VAR`` substitution), passed to the decorator."""

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.arguments)


@dataclass(frozen=True, slots=True)
class WorkflowSettings:
    """``workflows``: planned workflows (the Azure Functions runtime's dynamic workflows), see :mod:`.workflow_tools`."""

    enabled: bool = False
    exclude: tuple[str, ...] = ()
    subagents: tuple[SubagentRef, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpec:
    """One agent file, validated and merged with the app's defaults."""

    slug: str
    """Identity: route segment, MCP tool name, ``subagents`` reference (from the file name)."""
    name: str
    """Display name only."""
    description: str
    instructions: str
    """The Markdown body, substituted unless ``substitute_variables: false``."""
    file: Path
    is_main: bool = False
    """Slug ``main`` from ``main.agent.md`` or ``agent.md``."""
    trigger: Trigger | None = None
    functions_trigger: FunctionsTrigger | None = None
    """A trigger that runs only when the app is deployed to Azure Functions (``trigger`` is then ``None``)."""
    output: OutputBinding | None = None
    """Where a timer/queue/blob-triggered run's answer is written (``output`` front matter)."""
    session_key: str | None = None
    """A binding-expression template naming the session a triggered run continues."""
    builtin_endpoints: BuiltinEndpoints = field(default_factory=BuiltinEndpoints)
    http_auth: HttpAuth = field(default_factory=HttpAuth)
    model: str | None = None
    """Front matter, else ``agents.config.yaml``; ``None``: the environment decides."""
    timeout: float = 900.0
    """Seconds for one run."""
    logger: bool = True
    substitute_variables: bool = True
    system_tools: Mapping[str, bool] = field(default_factory=_empty)
    """Per-agent system tool switches (``web_request: false``, ...)."""
    tools: Selection = field(default_factory=Selection)
    mcp: Selection = field(default_factory=Selection)
    skills: Selection = field(default_factory=Selection)
    subagents: tuple[SubagentRef, ...] = ()
    queue_tools: tuple[QueueToolSpec, ...] = ()
    """``queue_tools`` of the front matter over ``agents.config.yaml``'s (see :mod:`.queue_tools`)."""
    openapi_tools: tuple[OpenApiToolSpec, ...] = ()
    """``openapi_tools``: APIs from spec files of the app, one tool per operation (:mod:`.openapi_config`)."""
    input_schema: Mapping[str, Any] | None = None
    response_example: Any = None
    """Parsed JSON (``response_example`` is written as a JSON document); ``None``: none."""
    response_schema: Mapping[str, Any] | None = None
    response_example_text: str | None = None
    """A ``response_example`` that is not JSON: an instruction showing the answer's format (the
    answer must still be a JSON object, as in the Azure Functions runtime)."""
    structured_output: Literal["auto", "native", "prompt"] | None = None
    """How structured answers are requested (front matter, else ``agents.config.yaml``); ``None``:
    the agent's default."""
    workflows: WorkflowSettings | None = None
    """``workflows`` as written; with ``enabled`` the agent plans and starts durable workflows."""
    agent_configuration: AgentConfiguration = field(default_factory=AgentConfiguration)
    knowledge: KnowledgeSpec | None = None
    """``knowledge`` (front matter, else ``agents.config.yaml``): the app folders it searches."""
    metadata: Mapping[str, Any] = field(default_factory=_empty)
    lines: Mapping[str, int] = field(default_factory=_empty)
    """File line of each top-level front matter key, for problems found later."""

    def line_of(self, key: str) -> int:
        return self.lines.get(key, 1)
