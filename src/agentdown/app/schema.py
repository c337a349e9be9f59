"""A JSON Schema (draft-07, what editors support best) of ``.agent.md`` front matter.

``agentdown schema > agent.schema.json`` and point the editor's YAML support at it
(for VS Code's YAML extension: ``"yaml.schemas": {"./agent.schema.json": "*.agent.md"}``
does not apply to Markdown, so use a ``# yaml-language-server: $schema=...`` comment or
the front matter extension of your editor). The loader stays the authority: it also
checks what a schema cannot (cron syntax, subagent references, JSON Schema validity).
"""

from __future__ import annotations

from typing import Any

from agentdown.app.agentfile import AGENT_KEYS
from agentdown.app.config import STRUCTURED_OUTPUT_MODES
from agentdown.app.knowledge_config import MAX_NUM_RESULTS
from agentdown.app.queue_tools import QUEUE_TOOL_KEYS
from agentdown.app.spec import HTTP_AUTH_MODES
from agentdown.app.triggers import FUNCTIONS_ONLY_TRIGGERS, SUPPORTED_TRIGGERS
from agentdown.tools.protocol import TOOL_NAME_PATTERN

__all__ = ["front_matter_schema", "knowledge_schema"]

_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}


def _selection(noun: str) -> dict[str, Any]:
    return {
        "description": f"Which discovered {noun} the agent gets: all (true, the default), none (false), "
        "or a filter.",
        "oneOf": [
            {"type": ["boolean", "null"]},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "exclude": {**_STRINGS, "description": f"{noun.capitalize()} to leave out."},
                    "include": {**_STRINGS, "description": f"The only {noun} to use (agentdown)."},
                },
            },
        ],
    }


def _http_auth() -> dict[str, Any]:
    entra = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "tenant_id": {"type": "string"},
            "allowed_audiences": _STRINGS,
            "allowed_client_ids": _STRINGS,
        },
    }
    return {
        "description": "How callers of the HTTP endpoints authenticate (default: function).",
        "oneOf": [
            {"enum": list(HTTP_AUTH_MODES)},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"mode": {"enum": list(HTTP_AUTH_MODES)}, "entra": entra},
            },
        ],
    }


def _trigger() -> dict[str, Any]:
    args: dict[str, dict[str, Any]] = {
        "timer_trigger": {
            "required": ["schedule"],
            "properties": {
                "schedule": {"type": "string", "description": "NCRONTAB: 6 fields (seconds first) or 5."},
                "run_on_startup": {"type": "boolean"},
                "use_monitor": {"type": "boolean"},
            },
        },
        "queue_trigger": {
            "required": ["queue_name"],
            "properties": {
                "queue_name": {"type": "string", "pattern": "^[a-z0-9$%][a-z0-9_%$-]*$"},
                "connection": {
                    "type": "string",
                    "description": "Setting name (default AzureWebJobsStorage).",
                },
            },
        },
        "blob_trigger": {
            "required": ["path"],
            "properties": {
                "path": {"type": "string", "description": "container/pattern, e.g. uploads/{name}"},
                "connection": {"type": "string"},
                "source": {"enum": ["LogsAndContainerScan", "EventGrid"]},
            },
        },
        "http_trigger": {
            "properties": {
                "route": {"type": "string"},
                "methods": {
                    "type": "array",
                    "items": {"enum": ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]},
                },
                "auth_level": {"enum": ["anonymous", "function", "admin", "ANONYMOUS", "FUNCTION", "ADMIN"]},
                "http_auth": _http_auth(),
            },
        },
    }
    return {
        "description": "How the agent is started: {type, args}. One trigger per file.",
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {
                "enum": [*SUPPORTED_TRIGGERS, *FUNCTIONS_ONLY_TRIGGERS],
                "description": "timer, queue, blob and HTTP triggers run everywhere; the others when "
                "deployed to Azure Functions.",
            },
            # Other keys are binding properties Azure Functions passes through (a warning here);
            # arg_name is the runtime's own.
            "args": {"type": "object", "not": {"required": ["arg_name"]}},
        },
        "allOf": [
            {
                "if": {"properties": {"type": {"const": kind}}, "required": ["type", "args"]},
                "then": {"properties": {"args": {"type": "object", **spec}}},
            }
            for kind, spec in args.items()
        ],
    }


def _output() -> dict[str, Any]:
    connection = {"type": "string", "description": "Setting name (default AzureWebJobsStorage)."}
    targets: dict[str, dict[str, Any]] = {
        "queue_output": {"queue_name": {"type": "string", "minLength": 3}},
        "blob_output": {"path": {"type": "string", "description": "container/name, e.g. results/{name}.md"}},
    }
    forms: list[dict[str, Any]] = []
    for kind, target in targets.items():
        properties: dict[str, Any] = {**target, "connection": connection}
        args = {
            "type": "object",
            "additionalProperties": False,
            "required": list(target),
            "properties": properties,
        }
        forms.append(
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "args"],
                "properties": {"type": {"const": kind}, "args": args},
            }
        )
        forms.append(
            {
                **args,
                "required": ["type", *target],
                "properties": {"type": {"const": kind}, **properties},
            }
        )
    return {
        "description": "Where a timer/queue/blob-triggered run's answer is written: {type, args}.",
        "oneOf": forms,
    }


def _queue_tools() -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": {"type": "string", "pattern": TOOL_NAME_PATTERN.pattern},
        "description": {"type": "string", "minLength": 1},
        "parameters": {"type": "object"},
        "input_queue": {"type": "string", "pattern": "^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$"},
        "output_queue": {"type": "string", "pattern": "^[a-z0-9](?!.*--)[a-z0-9-]{1,54}[a-z0-9]$"},
        "connection": {"type": "string"},
        "timeout": {"type": ["number", "string"], "exclusiveMinimum": 0},
        "encoding": {"enum": ["base64", "none"]},
    }
    for key, form in QUEUE_TOOL_KEYS.items():
        props[key]["description"] = form
    return {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "description", "input_queue", "output_queue"],
            "properties": props,
        },
    }


def knowledge_schema() -> dict[str, Any]:
    """``knowledge``: folders, files or globs of the app (see :mod:`agentdown.app.knowledge_config`)."""
    paths = {
        "type": "array",
        "items": {
            "type": "string",
            "minLength": 1,
            "not": {"pattern": "^(/|~|[A-Za-z]:)|(^|[/\\\\])\\.\\.([/\\\\]|$)"},
        },
        "description": "Folders, files or globs relative to the app folder (no absolute paths, no '..').",
    }
    return {
        "oneOf": [
            {"type": ["boolean", "null"], "not": {"const": True}},
            paths,
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["paths"],
                "properties": {
                    "paths": paths,
                    "chunking": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "max_chunk_size_tokens": {"type": "integer", "minimum": 100, "maximum": 4096},
                            "chunk_overlap_tokens": {"type": "integer", "minimum": 0, "maximum": 2048},
                        },
                    },
                    "max_num_results": {"type": "integer", "minimum": 1, "maximum": MAX_NUM_RESULTS},
                    "score_threshold": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        ]
    }


def front_matter_schema() -> dict[str, Any]:
    """The JSON Schema of an agent file's front matter."""
    properties: dict[str, Any] = {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "trigger": _trigger(),
        "output": _output(),
        "session_key": {
            "type": "string",
            "minLength": 1,
            "description": "Session id template (timer/queue/blob triggers), e.g. customer-{body_json.customer_id}.",
        },
        "builtin_endpoints": {
            "oneOf": [
                {"type": ["boolean", "null"]},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "debug_chat_ui": {"type": "boolean", "description": "Chat page (implies chat_api)."},
                        "chat_api": {"type": "boolean"},
                        "mcp": {"type": "boolean"},
                        "http_auth": _http_auth(),
                    },
                },
            ]
        },
        "http_auth": _http_auth(),
        "model": {"type": "string"},
        "timeout": {"type": ["number", "string"], "description": "Seconds (a $VAR placeholder is allowed)."},
        "logger": {"type": "boolean"},
        "substitute_variables": {"type": "boolean"},
        "system_tools": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "web_request": {"type": "boolean"},
                "dynamic_sessions_code_interpreter": {"type": "boolean"},
            },
        },
        "mcp": _selection("MCP servers"),
        "skills": _selection("skills"),
        "tools": _selection("tools"),
        "subagents": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["agent"],
                "properties": {
                    "agent": {"type": "string", "description": "The slug of another agent file."},
                    "when": {"type": "string", "description": "When to delegate (the tool description)."},
                },
            },
        },
        "queue_tools": _queue_tools(),
        "openapi_tools": {
            "type": "array",
            "description": "HTTP APIs from OpenAPI 3 spec files in the app: one tool per operation.",
            "items": {
                "oneOf": [
                    {"type": "string", "description": "The spec file, relative to the app folder."},
                    {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "spec": {"type": "string"},
                            "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                            "description": {"type": "string"},
                            "auth": {"type": "object", "required": ["type"]},
                        },
                    },
                ]
            },
        },
        "input_schema": {"type": "object"},
        "response_example": {
            "type": ["string", "object", "array"],
            "description": "A JSON document (text that is not JSON is shown to the model as the format).",
        },
        "response_schema": {"type": "object"},
        "agent_configuration": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_output_tokens": {"type": ["integer", "null"], "minimum": 1},
                "agent_framework": {"type": ["object", "null"]},
            },
        },
        "structured_output": {"enum": list(STRUCTURED_OUTPUT_MODES)},
        "workflows": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "exclude": _STRINGS,
                "subagents": {"$ref": "#/properties/subagents"},
            },
        },
        "knowledge": knowledge_schema(),
        "metadata": {"type": "object"},
        "runtime": {"description": "Ignored (accepted for compatibility)."},
    }
    for key, form in AGENT_KEYS.items():
        properties[key].setdefault("description", form)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "agentdown .agent.md front matter",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "description"],
        "properties": properties,
    }
