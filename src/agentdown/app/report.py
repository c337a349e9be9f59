"""The resolved app as JSON-ready data: what ``agentdown check --format json`` prints.

The shape is versioned (:data:`REPORT_VERSION`) and documented in ``docs/check-json.md``;
a change that removes or renames a field, or changes its meaning, raises the version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agentdown.app.catalog import AgentCatalog
from agentdown.app.diagnostics import Problem
from agentdown.app.links import delegate_tool_name
from agentdown.app.spec import AgentSpec, HttpAuth, HttpTrigger
from agentdown.app.workflow_tools import workflow_tools_of

__all__ = ["REPORT_VERSION", "app_report", "problem_record"]

REPORT_VERSION = 1


def problem_record(problem: Problem) -> dict[str, Any]:
    return {
        "file": str(problem.file),
        "line": problem.line or None,
        "severity": problem.severity,
        "message": problem.message,
    }


def _auth(auth: HttpAuth) -> dict[str, Any]:
    entra = None
    if auth.entra is not None:
        entra = {
            "tenant_id": auth.entra.tenant_id,
            "allowed_audiences": list(auth.entra.allowed_audiences),
            "allowed_client_ids": list(auth.entra.allowed_client_ids),
        }
    return {"mode": auth.mode, "entra": entra}


def _trigger(spec: AgentSpec) -> dict[str, Any] | None:
    if spec.trigger is not None:
        record: dict[str, Any] = {
            "type": spec.trigger.type,
            "args": _plain(spec.trigger.args),
            "runs": "everywhere",
        }
        if isinstance(spec.trigger, HttpTrigger):
            record["http_auth"] = _auth(spec.trigger.http_auth)
        return record
    if spec.functions_trigger is not None:
        trigger = spec.functions_trigger
        return {"type": trigger.type, "args": _plain(trigger.args), "runs": "azure_functions"}
    return None


def _endpoints(spec: AgentSpec) -> dict[str, Any]:
    endpoints = spec.builtin_endpoints
    routes = []
    if endpoints.debug_chat_ui:
        routes.append(f"GET /agents/{spec.slug}/")
    if endpoints.chat_api:
        routes += [f"POST /agents/{spec.slug}/chat", f"POST /agents/{spec.slug}/chatstream"]
    return {
        "chat_page": endpoints.debug_chat_ui,
        "chat_api": endpoints.chat_api,
        "mcp": endpoints.mcp,
        "routes": routes,
        "http_auth": _auth(spec.http_auth),
    }


def _response_format(spec: AgentSpec) -> dict[str, Any] | None:
    if spec.response_schema is not None:
        return {"kind": "schema", "value": dict(spec.response_schema)}
    if spec.response_example is not None:
        return {"kind": "example", "value": spec.response_example}
    if spec.response_example_text is not None:
        return {"kind": "example_text", "value": spec.response_example_text}
    return None


def _agent(catalog: AgentCatalog, spec: AgentSpec) -> dict[str, Any]:
    return {
        "slug": spec.slug,
        "name": spec.name,
        "description": spec.description,
        "file": str(spec.file),
        "is_main": spec.is_main,
        "model": spec.model,
        "timeout": spec.timeout,
        "instructions": spec.instructions,
        "trigger": _trigger(spec),
        "output": spec.output.args | {"type": spec.output.type} if spec.output is not None else None,
        "session_key": spec.session_key,
        "endpoints": _endpoints(spec),
        "tools": [
            t.name
            for t in catalog.tools
            if spec.tools.allows(t.name) and t.name not in {q.name for q in catalog.queue_tools_of(spec)}
        ],
        "queue_tools": [
            {
                "name": q.name,
                "description": q.description,
                "parameters": _plain(q.parameters),
                "input_queue": q.input_queue,
                "output_queue": q.output_queue,
                "connection": q.connection,
                "timeout": q.timeout,
                "encoding": q.encoding,
                "declared_in": f"{q.file}:{q.line}",
            }
            for q in catalog.queue_tools_of(spec)
        ],
        "mcp_servers": [name for name in catalog.mcp_servers if spec.mcp.allows(name)],
        "skills": [s.name for s in catalog.skills if spec.skills.allows(s.name)],
        "subagents": [
            {"agent": ref.agent, "when": ref.when, "tool": delegate_tool_name(ref.agent)}
            for ref in spec.subagents
        ],
        "response_format": _response_format(spec),
        "structured_output": spec.structured_output,
        "input_schema": dict(spec.input_schema) if spec.input_schema is not None else None,
        "workflows": None
        if spec.workflows is None
        else {
            "enabled": spec.workflows.enabled,
            "exclude": list(spec.workflows.exclude),
            "subagents": [r.agent for r in spec.workflows.subagents],
            "tools": [t.name for t in workflow_tools_of(catalog, spec)],
        },
        "knowledge": spec.knowledge.to_dict() if spec.knowledge is not None else None,
        "metadata": _plain(spec.metadata),
    }


def _plain(value: Any) -> Any:
    """Mapping proxies and tuples as JSON's objects and arrays."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def app_report(path: Path, catalog: AgentCatalog | None, problems: Iterable[Problem]) -> dict[str, Any]:
    """The resolved app and every problem; ``agents`` is empty when an error stopped the load."""
    found = list(problems)
    summary = None
    if catalog is not None:
        s = catalog.summary()
        summary = {
            "agents": s.agents,
            "tools": s.tools,
            "skills": s.skills,
            "mcp_servers": s.mcp_servers,
            "triggers": s.triggers,
            "agents_with_endpoints": s.endpoints,
        }
    return {
        "format": "agentdown-check",
        "version": REPORT_VERSION,
        "app": str(path),
        "ok": catalog is not None,
        "summary": summary,
        "agents": [] if catalog is None else [_agent(catalog, s) for s in catalog.specs.values()],
        "skipped_mcp_servers": {} if catalog is None else dict(catalog.skipped_mcp_servers),
        "problems": [problem_record(p) for p in found],
    }
