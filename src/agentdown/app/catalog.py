"""Loading an app folder into a validated, frozen :class:`AgentCatalog`.

>>> catalog = load_app("examples/quickstart")          # AppLoadError lists every problem
>>> agent = catalog.build_agent("quickstart")           # an Agent, built once and cached

A model provider is only needed to *build* agents: :func:`check_app` reports a
missing or incomplete provider configuration as a warning (an error with
``require_model=True``), so an app's structure can be checked anywhere.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from agentdown.app.capabilities import Capabilities, load_capabilities
from agentdown.app.config import AppConfig, environ_snapshot, load_config
from agentdown.app.diagnostics import LOAD_LOGGER, AppLoadError, Problem, Problems
from agentdown.app.discovery import DiscoveredTool, discover_agent_files, discover_tools
from agentdown.app.links import check_links, delegate_tool_name
from agentdown.app.queue_tools import QueueToolSpec, queue_tool_factory
from agentdown.app.skills import Skill
from agentdown.app.spec import AgentSpec
from agentdown.app.workflow_tools import WorkflowToolDef, workflow_setup
from agentdown.exceptions import ConfigurationError
from agentdown.loop.structured import JsonSchema, ResponseExample
from agentdown.models.base import ChatModel, ChatOptions

if TYPE_CHECKING:
    from agentdown.agent import Agent
    from agentdown.app.knowledge_indexes import AppKnowledge
    from agentdown.app.workflow_graphs import WorkflowGraphs

__all__ = ["AgentCatalog", "AppSummary", "check_app", "load_app"]

_load_log = logging.getLogger(LOAD_LOGGER)

EXAMPLE_TEXT_INSTRUCTION = "Respond with only a JSON object, in the format of this example:"
SUBAGENT_TASK = (
    "The complete task for this agent. It does not see this conversation, so include every fact it needs."
)


@dataclass(frozen=True, slots=True)
class AppSummary:
    """Counts ``agentdown check`` prints for a healthy app."""

    agents: int
    tools: int
    skills: int
    mcp_servers: int
    triggers: int
    endpoints: int
    """Agents with at least one built-in endpoint."""


class AgentCatalog:
    """The agents of an app, validated; builds (and caches) an :class:`~agentdown.Agent` per slug.

    Specs, tools and capabilities are fixed at load time. Call :meth:`aclose` (or use
    ``async with``) to close the models and MCP connections the built agents opened.
    """

    def __init__(
        self,
        *,
        app_dir: Path,
        config: AppConfig,
        specs: Mapping[str, AgentSpec],
        tools: list[DiscoveredTool],
        capabilities: Capabilities,
        problems: Problems,
        environ: Mapping[str, str],
        model: ChatModel | None = None,
        workflow_tools: Sequence[WorkflowToolDef] = (),
    ) -> None:
        self._app_dir = app_dir
        self._config = config
        self._specs = MappingProxyType(dict(specs))
        self._tools = tuple(tools)
        self._capabilities = capabilities
        self._problems = tuple(problems)
        self._environ = environ
        self._model = model
        self._models: dict[str | None, ChatModel] = {}
        self._toolsets: dict[str, Any] = {}
        self._interpreter: Any = None
        """The app's ``execute_python`` (built on first use, shared by its agents, closed with the catalog)."""
        self._agents: dict[str, Agent] = {}
        self._queue_tool_objects: list[Any] = []
        self._knowledge: AppKnowledge | None = None
        self._workflow_tools = tuple(workflow_tools)

    # -- what was loaded -------------------------------------------------------------------------

    @property
    def app_dir(self) -> Path:
        return self._app_dir

    @property
    def config(self) -> AppConfig:
        return self._config

    @property
    def specs(self) -> Mapping[str, AgentSpec]:
        """Agent specs by slug, in file path order."""
        return self._specs

    @property
    def tools(self) -> tuple[DiscoveredTool, ...]:
        """Everything found in ``tools/``."""
        return self._tools

    @property
    def workflow_tools(self) -> tuple[WorkflowToolDef, ...]:
        """The ``@workflow_tool`` callables of ``tools/`` (what planned workflows may call)."""
        return self._workflow_tools

    @property
    def environ(self) -> Mapping[str, str]:
        """The settings the app was loaded with."""
        return self._environ

    @property
    def mcp_servers(self) -> Mapping[str, Any]:
        """``mcp.json`` servers by name."""
        return self._capabilities.mcp_servers

    @property
    def skipped_mcp_servers(self) -> Mapping[str, str]:
        """``mcp.json`` servers left out (with a warning at load), by name, with the reason."""
        return self._capabilities.skipped_mcp_servers

    @property
    def skills(self) -> tuple[Skill, ...]:
        return tuple(self._capabilities.skills)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Warnings found while loading (errors would have stopped it)."""
        return self._problems

    def __getitem__(self, slug: str) -> AgentSpec:
        return self._specs[slug]

    def __contains__(self, slug: object) -> bool:
        return slug in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def default_slug(self) -> str | None:
        """``main`` if there is one, else the only agent, else ``None``."""
        if "main" in self._specs:
            return "main"
        return next(iter(self._specs)) if len(self._specs) == 1 else None

    def resolve(self, slug: str | None) -> AgentSpec:
        """The spec for ``slug`` (the default agent when ``None``); a ``KeyError`` naming the choices."""
        chosen = slug if slug is not None else self.default_slug
        if chosen is None or chosen not in self._specs:
            known = ", ".join(self._specs) or "none"
            if chosen is None:
                raise KeyError(f"the app has several agents and none is 'main'; choose one of: {known}")
            raise KeyError(f"no agent '{chosen}' in {self._app_dir}; its agents are: {known}")
        return self._specs[chosen]

    def summary(self) -> AppSummary:
        specs = self._specs.values()
        return AppSummary(
            agents=len(self._specs),
            tools=len(self._tools),
            skills=len(self._capabilities.skills),
            mcp_servers=len(self._capabilities.mcp_servers),
            triggers=sum(s.trigger is not None or s.functions_trigger is not None for s in specs),
            endpoints=sum(s.builtin_endpoints.any for s in specs),
        )

    def tool_names(self, slug: str) -> list[str]:
        """Names of the ``tools/`` tools and delegation tools the agent gets (MCP tools are listed per run)."""
        spec = self._specs[slug]
        queued = [q.name for q in self.queue_tools_of(spec)]
        own = [t.name for t in self._tools if spec.tools.allows(t.name) and t.name not in queued]
        searched = ["file_search"] if spec.knowledge is not None else []
        return own + queued + searched + [delegate_tool_name(r.agent) for r in spec.subagents]

    def queue_tools_of(self, spec: AgentSpec) -> list[QueueToolSpec]:
        """The queue tools the agent gets: its own, and the config's its ``tools`` selection allows."""
        return [q for q in spec.queue_tools if not q.from_config or spec.tools.allows(q.name)]

    @property
    def workflow_graphs(self) -> WorkflowGraphs:
        """The Python workflow graphs of ``workflows/`` by name, imported on first use.

        Raises :class:`AppLoadError` (file:line of each problem) for a broken module.
        """
        graphs: WorkflowGraphs | None = getattr(self, "_workflow_graphs", None)
        if graphs is None:
            from agentdown.app.workflow_graphs import load_workflow_graphs

            graphs = self._workflow_graphs = load_workflow_graphs(self._app_dir)
        return graphs

    @property
    def knowledge(self) -> AppKnowledge:
        """The indexes of the agents' ``knowledge`` folders (opened on first use)."""
        if self._knowledge is None:
            from agentdown.app.knowledge_indexes import AppKnowledge

            self._knowledge = AppKnowledge(self._app_dir, self._environ)
        return self._knowledge

    @property
    def has_knowledge(self) -> bool:
        return any(s.knowledge is not None for s in self._specs.values())

    # -- building agents ---------------------------------------------------------------------------

    def model_for(self, spec: AgentSpec) -> ChatModel:
        """The agent's model: the injected one, else from the environment (``spec.model`` first)."""
        if self._model is not None:
            return self._model
        if spec.model not in self._models:
            from agentdown.models.provider import model_from_env

            try:
                self._models[spec.model] = model_from_env(self._environ, model=spec.model)
            except ConfigurationError as exc:
                raise ConfigurationError(
                    f"{spec.file}: agent '{spec.slug}' has no usable model: {exc}"
                ) from exc
        return self._models[spec.model]

    @property
    def injected_model(self) -> bool:
        """Whether every agent runs on one model given to the catalog (tests, embedding programs)."""
        return self._model is not None

    def model_named(self, name: str | None) -> ChatModel:
        """A model for ``name`` (an Agents-API assistant's ``model``): the injected model, else from the environment.

        With an injected model the name travels as the request's ``model`` option instead.
        """
        if self._model is not None:
            return self._model
        if name not in self._models:
            from agentdown.models.provider import model_from_env

            self._models[name] = model_from_env(self._environ, model=name)
        return self._models[name]

    def build_agent(self, slug: str) -> Agent:
        """The :class:`~agentdown.Agent` for ``slug``, built on first use and cached.

        Raises ``KeyError`` for an unknown slug and ``ConfigurationError`` when no model
        provider is configured.
        """
        if slug in self._agents:
            return self._agents[slug]
        from agentdown.agent import Agent

        spec = self.resolve(slug)
        kit = self._capabilities.skill_kit(
            [n for n in self._capabilities.skill_names if spec.skills.allows(n)]
        )
        queued = self.queue_tools_of(spec)
        # A tools/ function named like a queue tool is that tool's implementation (served by
        # `agentdown worker --queue-tools`): the agent calls it through the queue.
        names = {q.name for q in queued}
        tools: list[Any] = [t.tool for t in self._tools if spec.tools.allows(t.name) and t.name not in names]
        tools += self._queue_tools(spec, queued)
        tools += [self._toolset(name) for name in self._capabilities.mcp_servers if spec.mcp.allows(name)]
        tools += kit.tools
        tools += self._system_tools(spec, {getattr(t, "name", None) for t in tools})
        for api in spec.openapi_tools:
            tools += api.tools()
        if spec.knowledge is not None:
            tools.append(self.knowledge.tool(spec))
        workflow_tools, workflow_prompt = workflow_setup(self, spec)
        tools += workflow_tools
        for ref in spec.subagents:
            delegate = self.build_agent(ref.agent)
            tools.append(
                delegate.as_tool(
                    name=delegate_tool_name(ref.agent),
                    description=ref.when or delegate.description,
                    arg_name="task",
                    arg_description=SUBAGENT_TASK,
                )
            )
        response_format: Any = None
        example_text = None
        if spec.response_schema is not None:
            response_format = JsonSchema(dict(spec.response_schema), name=spec.slug)
        elif spec.response_example is not None:
            response_format = ResponseExample(spec.response_example)
        elif spec.response_example_text is not None:
            # Not JSON, so no shape to check: shown as the format, as the Azure Functions
            # runtime does, and the answer must be a JSON object.
            response_format = JsonSchema({"type": "object"}, name=spec.slug)
            example_text = EXAMPLE_TEXT_INSTRUCTION + f"\n```\n{spec.response_example_text}\n```"
        parts = (spec.instructions, kit.instructions, example_text, workflow_prompt.strip())
        instructions = "\n\n".join(p for p in parts if p)
        # Only when the file sets it, so the Agent's own default applies otherwise.
        extra: dict[str, Any] = {}
        if spec.structured_output is not None:
            extra["structured_output_mode"] = spec.structured_output
        options = ChatOptions(
            max_output_tokens=spec.agent_configuration.max_output_tokens,
            model=spec.model if self._model is not None else None,
        )
        agent = Agent(
            self.model_for(spec),
            instructions=instructions or None,
            tools=tools,
            response_format=response_format,
            name=spec.slug,
            description=spec.description,
            options=options,
            timeout=spec.timeout,
            **extra,
        )
        self._agents[slug] = agent
        return agent

    def _system_tools(self, spec: AgentSpec, taken: set[Any]) -> list[Any]:
        """``web_request`` where the agent or ``agents.config.yaml`` switches it on; ``false`` in either wins.

        An agent's own tool of the same name wins; the system tool is left out, saying so.
        """
        out: list[Any] = []
        setting = self.config.system_tools.get("web_request")
        own = spec.system_tools.get("web_request")
        if not (own is False or setting is False or (own is None and not setting)):
            from agentdown.tools.system.web_request import web_request_tool

            out.append(web_request_tool(setting if isinstance(setting, Mapping) else True))
        interpreter = self.config.system_tools.get("dynamic_sessions_code_interpreter")
        own = spec.system_tools.get("dynamic_sessions_code_interpreter")
        if own is True or (own is None and interpreter):
            tool = self._code_interpreter(interpreter if isinstance(interpreter, Mapping) else None)
            if tool is not None:
                out.append(tool)
        kept = []
        for tool in out:
            if tool.name in taken:
                _load_log.warning(
                    "agent %s has its own tool named %s: the system tool of that name is left out",
                    spec.slug,
                    tool.name,
                )
            else:
                kept.append(tool)
        return kept

    def _code_interpreter(self, settings: Mapping[str, Any] | None) -> Any:
        """One ``execute_python`` for the app: ACA dynamic sessions when the endpoint is one, else local.

        Each session (or agent run) gets its own sandbox either way; the local sandboxes
        live under ``<data dir>/sandboxes``. A machine without user namespaces has no
        local sandbox: the agents run without the tool, and the log says why.
        """
        if self._interpreter is not None:
            return self._interpreter
        from agentdown.tools.system.code_interpreter import (
            SandboxError,
            dynamic_sessions_code_interpreter,
            local_code_interpreter,
        )
        from agentdown.tools.system.code_interpreter.dynamic_sessions import endpoint_allowed

        endpoint = str((settings or {}).get("endpoint") or "")
        if endpoint and endpoint_allowed(endpoint):
            client_id = (settings or {}).get("client_id")
            self._interpreter = dynamic_sessions_code_interpreter(endpoint, client_id=client_id or None)
            return self._interpreter
        from agentdown.sessions.config import data_dir

        try:
            self._interpreter = local_code_interpreter(data_dir(self._environ) / "sandboxes")
        except SandboxError as exc:
            _load_log.warning("no code interpreter: %s; agents run without execute_python", exc)
            return None
        return self._interpreter

    def _queue_tools(self, spec: AgentSpec, queued: list[QueueToolSpec]) -> list[Any]:
        if not queued:
            return []
        factory = queue_tool_factory()
        if factory is None:
            first = queued[0]
            raise ConfigurationError(
                f"{first.file}:{first.line}: agent '{spec.slug}' has queue_tools, which the runtime builds: "
                "import agentdown.runtime.queue_tools first (agentdown serve, worker, run and chat do)"
            )
        built = [factory(q, self._environ) for q in queued]
        self._queue_tool_objects.extend(built)
        return built

    def _toolset(self, name: str) -> Any:
        if name not in self._toolsets:
            from agentdown.tools.mcp import McpToolset

            self._toolsets[name] = McpToolset(name, self._capabilities.mcp_servers[name])
        return self._toolsets[name]

    async def aclose(self) -> None:
        """Close MCP connections and the models this catalog created (an injected model is the caller's)."""
        if self._interpreter is not None:
            interpreter, self._interpreter = self._interpreter, None
            with contextlib.suppress(Exception):
                await interpreter.aclose()
        for toolset in [*self._toolsets.values(), *self._queue_tool_objects]:
            with contextlib.suppress(Exception):
                await toolset.aclose()
        for model in self._models.values():
            close = getattr(model, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        if self._knowledge is not None:
            with contextlib.suppress(Exception):
                await self._knowledge.aclose()
            self._knowledge = None
        self._toolsets.clear()
        self._queue_tool_objects.clear()
        self._models.clear()
        self._agents.clear()

    async def __aenter__(self) -> AgentCatalog:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def check_app(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    model: ChatModel | None = None,
    require_model: bool = False,
    check_models: bool = True,
) -> tuple[AgentCatalog | None, Problems]:
    """Load the app at ``path``; the catalog (``None`` if any error) and every problem found.

    Each agent's model settings are resolved too (``check_models``): a failure is a warning,
    or an error with ``require_model``. Nothing is contacted.
    """
    app_dir = Path(path)
    env = environ_snapshot(environ)
    problems = Problems()
    if not app_dir.is_dir():
        problems.add(app_dir, 0, "not a folder: expected an app folder holding *.agent.md files")
        return None, problems
    from agentdown.app.agentfile import read_agent_file

    config = load_config(app_dir, env, problems)
    files = discover_agent_files(app_dir, problems)
    if not files:
        problems.add(app_dir, 0, "no agent files: expected *.agent.md (or agent.md) here or in agents/")
    specs = {
        f.slug: s for f in files if (s := read_agent_file(f.path, f.slug, config, env, problems, app_dir))
    }
    workflow_tools: list[WorkflowToolDef] = []
    tools = discover_tools(app_dir, problems, workflow_tools)
    capabilities = load_capabilities(app_dir, env, problems)
    slugs = {f.slug for f in files}
    servers = [*capabilities.mcp_servers, *capabilities.skipped_mcp_servers]
    check_links(specs, slugs, tools, servers, capabilities.skill_names, config, problems)
    _check_knowledge_tool(specs, tools, problems)
    problems = _dedupe(problems)
    if problems.errors:
        return None, problems
    catalog = AgentCatalog(
        app_dir=app_dir,
        config=config,
        specs=specs,
        tools=tools,
        capabilities=capabilities,
        problems=problems,
        environ=env,
        model=model,
        workflow_tools=workflow_tools,
    )
    if check_models or require_model:
        _check_models(catalog, problems, require_model)
        catalog._problems = tuple(problems)
    return (None if problems.errors else catalog), problems


def load_app(
    path: str | Path, *, environ: Mapping[str, str] | None = None, model: ChatModel | None = None
) -> AgentCatalog:
    """The catalog of the app at ``path``; :class:`AppLoadError` listing every problem otherwise.

    ``environ`` (default: a copy of ``os.environ``) feeds ``$VAR`` substitution and the
    model provider settings; ``model`` replaces the provider for every agent (tests, demos).
    """
    catalog, problems = check_app(path, environ=environ, model=model, check_models=False)
    if catalog is None:
        raise AppLoadError(problems)
    # Warnings are never silent: whoever loads the app (the server, a library user) sees them
    # in the log; `agentdown serve` prints them like `check` does.
    for problem in problems.warnings:
        _load_log.warning("%s", problem, extra={"problem": problem})
    return catalog


def _check_models(catalog: AgentCatalog, problems: Problems, required: bool) -> None:
    reported: set[str] = set()
    for spec in catalog.specs.values():
        try:
            catalog.model_for(spec)
        except ConfigurationError as exc:
            message = str(exc.__cause__ or exc)
            if message in reported:
                continue
            reported.add(message)
            line = spec.line_of("model") if "model" in spec.lines else 0
            text = f"agent '{spec.slug}' cannot run here yet: {message}"
            problems.append(Problem(spec.file, line, text, "error" if required else "warning"))


def _check_knowledge_tool(
    specs: Mapping[str, AgentSpec], tools: list[DiscoveredTool], problems: Problems
) -> None:
    """An agent with ``knowledge`` gets a ``file_search`` tool: a tools/ tool of that name would clash."""
    for spec in specs.values():
        if spec.knowledge is None:
            continue
        for t in tools:
            if t.name == "file_search" and spec.tools.allows(t.name):
                problems.add(
                    spec.file,
                    spec.line_of("knowledge") if "knowledge" in spec.lines else spec.knowledge.line,
                    f"agent '{spec.slug}' has knowledge, which gives it a file_search tool, and tools/ has a "
                    "tool named file_search too: rename that tool or leave it out (tools: {exclude: [file_search]})",
                )


def _dedupe(problems: Problems) -> Problems:
    out = Problems()
    seen: set[tuple[Path, int, str, str]] = set()
    for p in problems:
        key = (p.file, p.line, p.message, p.severity)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
