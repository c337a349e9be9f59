"""What one run executes: the agent (assistant + the run's overrides), its options and its history bound.

An app agent (``.agent.md``) keeps its own server-side tools, middleware and limits;
a stored assistant gets its tools from its definitions. In both, a ``function`` tool
the server does not implement is the caller's: the model may call it and the run
stops in ``requires_action`` until the caller submits its output. A
``connected_agent`` is the other assistant as a delegation tool.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentdown.agent import Agent
from agentdown.knowledge.file_search import FileSearchTool
from agentdown.loop.structured import JsonSchema
from agentdown.models.base import ChatOptions
from agentdown.runtime.agents_api.assistants import Assistant
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import bad_request, not_found
from agentdown.runtime.agents_api.tooldefs import check_tool_definitions, tool_name
from agentdown.tools import FunctionTool, Tool, tool_definition

__all__ = ["RunPlan", "plan_run", "resolve_assistant"]

_MAX_DELEGATION_DEPTH = 4


@dataclass(frozen=True, slots=True)
class _RunRef:
    id: str
    deadline: float
    """The run's ``expires_at``: how long its ``azure_function`` calls may wait."""
    owner: str | None = None
    """The caller's owner key: the only one whose vector stores the run may search."""
    thread_id: str | None = None
    resources: tuple[tuple[str, Any], ...] = ()
    """``(field, tool_resources)`` of the assistant, the thread and the run, in that order."""
    check: bool = True
    """Check that the resources' stores exist and are the caller's (when the run is created)."""


@dataclass(slots=True)
class RunPlan:
    agent: Agent
    model: str
    instructions: str
    tools: list[dict[str, Any]]
    """The definitions the run object shows."""
    options: ChatOptions
    history_limit: int | None
    """``last_messages``: how many of the thread's newest messages the model sees."""
    truncation: dict[str, Any]
    """What the run reports it used."""
    client_tools: set[str] = field(default_factory=set)
    thread_messages: list[dict[str, Any]] | None = None
    """The whole thread, oldest first, when the run was planned with its new thread: no
    message can join a thread while its run is active, so the run need not list them."""

    def file_search(self) -> FileSearchTool | None:
        """The run's ``file_search`` tool, if it has one."""
        return next((t for t in self.agent.tools if isinstance(t, FileSearchTool)), None)

    def azure_functions(self) -> dict[str, Any]:
        """The run's ``azure_function`` tools by name."""
        return {t.name: t for t in self.agent.tools if getattr(t, "kind", None) == "azure_function"}


async def resolve_assistant(api: AgentsApi, assistant_id: str, *, param: str = "assistant_id") -> Assistant:
    """The assistant ``assistant_id`` names (an app agent by id or slug, else a stored one); else 404 / 400."""
    found = await api.assistants().get(assistant_id)
    if found is None:
        if param == "assistant_id":
            raise not_found("assistant", assistant_id)
        raise bad_request(f"{param}: no assistant with id {assistant_id!r}", param)
    return found


async def plan_run(
    api: AgentsApi,
    assistant: Assistant,
    fields: Mapping[str, Any],
    *,
    depth: int = 0,
    run_id: str = "",
    deadline: float | None = None,
    owner: str | None = None,
    thread: Mapping[str, Any] | None = None,
    check_resources: bool = True,
) -> RunPlan:
    """The agent and options for a run of ``assistant`` with the run request's ``fields`` (None: unset).

    ``owner`` and ``thread`` (the thread's body) bound what its ``file_search`` tool may search;
    ``check_resources`` refuses (400) a store id of theirs that is missing or another caller's.
    """
    base = api.runner.agent(assistant.slug) if assistant.slug is not None else None
    body = assistant.body
    if base is not None:
        server_tools = await base.available_tools()
        base_definitions = [_function_definition(t) for t in base.tools]
        model_name = _app_model_name(api, assistant.slug or "", base)
        instructions = base.instructions or ""
    else:
        server_tools = {}
        base_definitions = list(body.get("tools") or [])
        model_name = str(body.get("model") or "")
        instructions = str(body.get("instructions") or "")
    if fields.get("tools") is not None:
        definitions = check_tool_definitions(fields["tools"])
    else:
        definitions = base_definitions
    if fields.get("instructions") is not None:
        instructions = str(fields["instructions"])
    if fields.get("additional_instructions"):
        instructions = "\n\n".join(p for p in (instructions, str(fields["additional_instructions"])) if p)
    if fields.get("model"):
        model_name = str(fields["model"])
    resources: list[tuple[str, Any]] = [("assistant.tool_resources", body.get("tool_resources"))]
    if thread is not None:
        resources.append(("thread.tool_resources", thread.get("tool_resources")))
    resources.append(("tool_resources", fields.get("tool_resources")))
    run = _RunRef(
        run_id,
        deadline if deadline is not None else time.time() + 600,
        owner=owner,
        thread_id=str(thread["id"]) if thread is not None and "id" in thread else None,
        resources=tuple(resources),
        check=check_resources,
    )
    tools, client = await _tools(api, definitions, server_tools, depth, run)
    response_format = _pick(fields, body, "response_format")
    schema, native = _response_format(response_format)
    options = ChatOptions(
        model=model_name or None,
        temperature=_pick(fields, body, "temperature"),
        top_p=_pick(fields, body, "top_p"),
        max_output_tokens=fields.get("max_completion_tokens")
        or (base.options.max_output_tokens if base is not None else None),
        parallel_tool_calls=fields.get("parallel_tool_calls"),
        response_format=native,
        **_tool_choice(fields.get("tool_choice")),
    )
    truncation = fields.get("truncation_strategy") or {"type": "auto"}
    history_limit = truncation.get("last_messages") if truncation.get("type") == "last_messages" else None
    agent = _agent(api, assistant, base, instructions, tools, schema, model_name, fields)
    return RunPlan(
        agent=agent,
        model=model_name,
        instructions=instructions,
        tools=definitions,
        options=options,
        history_limit=history_limit,
        truncation={"type": truncation.get("type", "auto"), "last_messages": history_limit},
        client_tools=client,
    )


def _pick(fields: Mapping[str, Any], body: Mapping[str, Any], key: str) -> Any:
    value = fields.get(key)
    return value if value is not None else body.get(key)


def _app_model_name(api: AgentsApi, slug: str, agent: Agent) -> str:
    spec = api.runner.catalog.specs[slug]
    return spec.model or agent.model.model_name


def _function_definition(tool: Tool) -> dict[str, Any]:
    d = tool_definition(tool)
    return {
        "type": "function",
        "function": {"name": d.name, "description": d.description, "parameters": d.parameters},
    }


async def _tools(
    api: AgentsApi,
    definitions: Sequence[dict[str, Any]],
    server_tools: Mapping[str, Tool],
    depth: int,
    run: _RunRef,
) -> tuple[list[Tool], set[str]]:
    tools: list[Tool] = []
    client: set[str] = set()
    for index, definition in enumerate(definitions):
        kind = definition["type"]
        spec = definition.get(kind) or {}
        name = tool_name(definition)
        if kind == "file_search":
            from agentdown.runtime.agents_api.search_tools import build_file_search_tool

            tools.append(
                await build_file_search_tool(
                    api,
                    definition,
                    owner=run.owner,
                    thread_id=run.thread_id,
                    resources=[(f, v) for f, v in run.resources if v is not None],
                    check=run.check,
                )
            )
        elif kind == "azure_ai_search":
            from agentdown.runtime.agents_api.azure_ai_search import AzureAISearchTool, check_search_resources

            # The run's resources win over the thread's, which win over the assistant's.
            chosen = next(
                (
                    v
                    for _, v in reversed(run.resources)
                    if isinstance(v, Mapping) and v.get("azure_ai_search")
                ),
                None,
            )
            environ = api.environ if api.environ is not None else os.environ
            tools.append(AzureAISearchTool(check_search_resources(chosen, environ), environ))
        elif kind == "function":
            if name in server_tools:
                tools.append(server_tools[name])
                continue
            client.add(name)
            tools.append(
                FunctionTool(
                    None,
                    name=name,
                    description=str(spec.get("description") or ""),
                    schema=spec.get("parameters") or {"type": "object", "properties": {}},
                )
            )
        elif kind == "openapi":
            tools.extend(_openapi_tools(api, definition, f"tools[{index}].openapi"))
        elif kind == "azure_function":
            # Imported here: only runs with such a tool load the queue clients.
            from agentdown.runtime.agents_api.runs.azure_functions import AzureFunctionTool

            tools.append(
                AzureFunctionTool(definition, run_id=run.id, deadline=run.deadline, environ=api.environ)
            )
        else:
            if depth >= _MAX_DELEGATION_DEPTH:
                raise bad_request(
                    f"tools[{index}]: connected agents nest deeper than {_MAX_DELEGATION_DEPTH} levels",
                    f"tools[{index}].connected_agent.id",
                )
            target = await resolve_assistant(api, str(spec["id"]), param=f"tools[{index}].connected_agent.id")
            delegate = await plan_run(
                api, target, {}, depth=depth + 1, run_id=run.id, deadline=run.deadline, owner=run.owner
            )
            if delegate.client_tools:
                raise bad_request(
                    f"tools[{index}]: the connected agent {target.id!r} has client-side function tools "
                    f"({sorted(delegate.client_tools)}), which a delegated run cannot hand back to you",
                    f"tools[{index}].connected_agent.id",
                )
            tools.append(delegate.agent.as_tool(name=name, description=str(spec.get("description") or "")))
    return tools, client


def _openapi_tools(api: AgentsApi, definition: dict[str, Any], field: str) -> list[Tool]:
    """The operations of an ``openapi`` definition as tools; ``connection`` auth keys from the environment.

    A connection is named by the last segment of its id, and its key is read from
    ``AGENTDOWN_CONNECTION_<NAME>_KEY`` (the variables ``azure_ai_search`` reads).
    """
    from agentdown.tools.system.openapi import openapi_tools_from_definition

    environ = api.environ if api.environ is not None else os.environ
    auth = definition["openapi"].get("auth") or {}
    connections: dict[str, str] = {}
    if isinstance(auth, Mapping) and auth.get("type") == "connection":
        connection_id = str((auth.get("security_scheme") or {}).get("connection_id") or "")
        name = re.sub(r"[^A-Z0-9]", "_", connection_id.rstrip("/").rsplit("/", 1)[-1].upper())
        var = f"AGENTDOWN_CONNECTION_{name}_KEY"
        key = (environ.get(var) or "").strip()
        if not key:
            raise bad_request(
                f"{field}.auth: connection {name!r} has no key here: set {var}",
                f"{field}.auth.security_scheme.connection_id",
            )
        connections[connection_id] = key
    try:
        return list(openapi_tools_from_definition(definition, connections=connections))
    except ValueError as exc:
        raise bad_request(f"{field}: {exc}", field) from None


def _response_format(value: Any) -> tuple[JsonSchema | None, dict[str, Any] | None]:
    """(what the answer is validated against, what is sent natively) for a response format."""
    if not isinstance(value, Mapping) or value.get("type") in (None, "text"):
        return None, None
    if value["type"] == "json_object":
        return None, {"type": "json_object"}
    spec = value["json_schema"]
    return JsonSchema(dict(spec["schema"]), name=str(spec.get("name") or "response")), None


def _tool_choice(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"tool_choice": value}
    name = (value.get(value["type"]) or {}).get("name")
    return {"extra_body": {"tool_choice": {"type": "function", "function": {"name": name}}}}


def _agent(
    api: AgentsApi,
    assistant: Assistant,
    base: Agent | None,
    instructions: str,
    tools: list[Tool],
    schema: JsonSchema | None,
    model_name: str,
    fields: Mapping[str, Any],
) -> Agent:
    catalog = api.runner.catalog
    if base is not None:
        unchanged = all(
            fields.get(k) is None
            for k in ("tools", "instructions", "additional_instructions", "response_format", "model")
        )
        if unchanged:
            return base
        return Agent(
            base.model,
            instructions=instructions or None,
            tools=tools,
            middleware=base.middleware,
            response_format=schema if fields.get("response_format") is not None else base.response_format,
            name=base.name,
            description=base.description,
            options=base.options,
            function_invocation_configuration=base.config,
            output_retries=base.output_retries,
            timeout=base.timeout,
            structured_output_mode=base.structured_output_mode,
            state_key=base.state_key(),
        )
    return Agent(
        catalog.model_named(model_name or None),
        instructions=instructions or None,
        tools=tools,
        response_format=schema,
        name=str(assistant.body.get("name") or assistant.id),
        description=str(assistant.body.get("description") or ""),
    )
