"""Tool definitions of the Agents API: which types run here, and precise refusals for the rest.

An assistant or a run lists tools as ``{"type": ..., <type>: {...}}``. ``function``
tools are the caller's: the run stops in ``requires_action`` and waits for their
outputs. ``connected_agent`` delegates to another assistant, server-side. The
service's cloud-only tools cannot run outside Azure, and accepting them would make
a run quietly do less than its definition says, so they are refused with a 400
naming the tool and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agentdown.runtime.agents_api.errors import bad_request

__all__ = ["CLOUD_ONLY", "LATER", "RUNS_HERE", "check_tool_definitions", "tool_name"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

RUNS_HERE = (
    "function",
    "connected_agent",
    "azure_function",
    "file_search",
    "azure_ai_search",
    "openapi",
    "code_interpreter",
)
SINGLETONS = ("file_search", "azure_ai_search", "code_interpreter")
"""Tool types a list may hold once, without a name of their own (the model calls them by their type)."""

LATER: dict[str, str] = {}
"""Tool types of the service that agentdown does not run yet, and the feature that will add each."""

CLOUD_ONLY: dict[str, str] = {
    "bing_grounding": "Grounding with Bing Search",
    "bing_custom_search": "Bing Custom Search",
    "sharepoint_grounding": "SharePoint grounding",
    "fabric_dataagent": "Microsoft Fabric data agents",
    "microsoft_fabric": "Microsoft Fabric data agents",
    "deep_research": "Deep Research",
    "browser_automation": "browser automation",
    "mcp": "hosted MCP servers (use the app's mcp.json instead)",
}
"""Tool types backed by services that exist only in Azure AI Foundry."""


def tool_name(definition: dict[str, Any]) -> str:
    """The name a definition is called by (a function's, a connected agent's, an Azure Function's)."""
    kind = definition["type"]
    if kind == "azure_function":
        return str(definition[kind]["function"]["name"])
    if kind in SINGLETONS:
        return str(kind)
    return str(definition[kind]["name"])


def check_tool_definitions(tools: Any, field: str = "tools") -> list[dict[str, Any]]:
    """``tools`` checked: a list of definitions of types that run here, names unique; else a 400."""
    if tools is None:
        return []
    if not isinstance(tools, Sequence) or isinstance(tools, str | bytes):
        raise bad_request(f"{field} must be a list of tool definitions", field)
    checked: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for index, definition in enumerate(tools):
        where = f"{field}[{index}]"
        if not isinstance(definition, dict) or not isinstance(definition.get("type"), str):
            raise bad_request(f'{where} must be an object with a "type"', where)
        kind = definition["type"]
        if kind in CLOUD_ONLY:
            raise bad_request(
                f"{where}: tool type {kind!r} ({CLOUD_ONLY[kind]}) runs only in the Azure AI Agents "
                "service; agentdown cannot run it, and does not accept a tool it would not run",
                f"{where}.type",
                "unsupported_tool",
            )
        if kind in LATER:
            raise bad_request(
                f"{where}: tool type {kind!r} needs {LATER[kind]}, which this agentdown version "
                "does not have yet",
                f"{where}.type",
                "unsupported_tool",
            )
        if kind not in RUNS_HERE:
            raise bad_request(
                f"{where}: unknown tool type {kind!r}; expected one of {list(RUNS_HERE)}",
                f"{where}.type",
                "unsupported_tool",
            )
        body = definition.get(kind)
        if kind == "file_search":
            # Imported here: the search tools import the API context, which imports this module's users.
            from agentdown.runtime.agents_api.search_tools import check_file_search_definition

            check_file_search_definition(body, f"{where}.{kind}")
        elif kind in ("azure_ai_search", "code_interpreter"):
            if body is not None and not isinstance(body, dict):
                raise bad_request(f"{where}.{kind} must be an object", f"{where}.{kind}")
        elif not isinstance(body, dict):
            raise bad_request(f'{where}: a {kind!r} tool needs an object under "{kind}"', f"{where}.{kind}")
        elif kind == "function":
            _check_function(body, f"{where}.function")
        elif kind == "azure_function":
            _check_azure_function(body, f"{where}.azure_function")
        elif kind == "openapi":
            _check_openapi(definition, f"{where}.openapi")
        else:
            _check_connected(body, f"{where}.connected_agent")
        name = tool_name(definition)
        if name in names and kind in SINGLETONS:
            raise bad_request(
                f"{where}.type: a second {kind!r} tool ({field}[{names[name]}] is one); a list has at most one",
                f"{where}.type",
            )
        if name in names:
            raise bad_request(
                f"{where}: tool name {name!r} is already used by {field}[{names[name]}]",
                f"{where}.{kind}.name",
            )
        names[name] = index
        checked.append(definition)
    return checked


def _check_name(body: dict[str, Any], where: str) -> None:
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise bad_request(
            f"{where}.name must be 1-64 characters from A-Z a-z 0-9 _ -, got {name!r}", f"{where}.name"
        )


def _check_function(body: dict[str, Any], where: str) -> None:
    _check_name(body, where)
    parameters = body.get("parameters")
    if parameters is not None and (
        not isinstance(parameters, dict) or parameters.get("type", "object") != "object"
    ):
        raise bad_request(f"{where}.parameters must be a JSON Schema of type object", f"{where}.parameters")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise bad_request(f"{where}.description must be a string", f"{where}.description")


def _check_connected(body: dict[str, Any], where: str) -> None:
    _check_name(body, where)
    if not isinstance(body.get("id"), str) or not body["id"]:
        raise bad_request(f"{where}.id must name the assistant to delegate to", f"{where}.id")
    if not isinstance(body.get("description"), str):
        raise bad_request(
            f"{where}.description must say when to delegate (the model reads it)", f"{where}.description"
        )


def _check_azure_function(body: dict[str, Any], where: str) -> None:
    function = body.get("function")
    if not isinstance(function, dict):
        raise bad_request(
            f'{where}.function must be {{"name", "description", "parameters"}}', f"{where}.function"
        )
    _check_function(function, f"{where}.function")
    for side in ("input_binding", "output_binding"):
        binding = body.get(side)
        at = f"{where}.{side}"
        if not isinstance(binding, dict) or binding.get("type") != "storage_queue":
            raise bad_request(
                f'{at} must be {{"type": "storage_queue", "storage_queue": {{...}}}}', f"{at}.type"
            )
        queue = binding.get("storage_queue")
        if not isinstance(queue, dict):
            raise bad_request(f"{at}.storage_queue must be an object", f"{at}.storage_queue")
        endpoint, name = queue.get("queue_service_endpoint"), queue.get("queue_name")
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise bad_request(
                f"{at}.storage_queue.queue_service_endpoint must be a queue service URL, got {endpoint!r}",
                f"{at}.storage_queue.queue_service_endpoint",
            )
        if not isinstance(name, str) or not name:
            raise bad_request(f"{at}.storage_queue.queue_name is required", f"{at}.storage_queue.queue_name")


class _AnyKey(dict[str, str]):
    """Every connection resolves (to a placeholder): a definition is checked before its key is looked up."""

    def __contains__(self, key: object) -> bool:
        return True

    def __bool__(self) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return "placeholder"


def _check_openapi(definition: dict[str, Any], where: str) -> None:
    """The spec parses, its operations become tools, the auth is one of the three kinds; else a 400."""
    from agentdown.tools.system.openapi import openapi_tools_from_definition

    body = definition["openapi"]
    if not isinstance(body.get("name"), str) or not _NAME.match(body["name"]):
        raise bad_request(f"{where}.name must be 1-64 letters, digits, _ or -", f"{where}.name")
    try:
        tools = openapi_tools_from_definition(definition, connections=_AnyKey(), credential=object())
    except (ValueError, TypeError) as exc:
        raise bad_request(f"{where}: {exc}", where) from None
    if not tools:
        raise bad_request(f"{where}.spec: the spec has no operation this tool could call", f"{where}.spec")
