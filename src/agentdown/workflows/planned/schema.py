"""The JSON Schema ``start_workflow`` advertises for its arguments.

Its shape is the one the Azure Functions agents runtime's ``StartWorkflowParams``
produces: one required ``tasks`` array whose items are one of three task objects
told apart by ``type`` (``tool`` being the default), each closed to other fields.
With extensions on, every task object also offers agentdown's extra fields.
"""

from __future__ import annotations

import copy
from typing import Any

from .plan import MAX_ATTEMPTS, MAX_PARALLELISM, MAX_TASK_ID_LENGTH

__all__ = ["start_workflow_schema"]

_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TASK_ID_LENGTH,
    "description": "Unique id of this task within the plan.",
}
_DEPENDS_ON = {
    "type": "array",
    "items": {"type": "string"},
    "default": [],
    "description": (
        "Ids of the tasks that must finish before this one. Tasks without a path between them run "
        "in parallel; several roots are fine. Cycles, unknown ids and self-references are rejected."
    ),
}
_TOOL_TASK = {
    "type": "object",
    "properties": {
        "id": _ID,
        "depends_on": _DEPENDS_ON,
        "type": {"const": "tool", "default": "tool", "type": "string"},
        "tool": {
            "type": "string",
            "description": "Name of a workflow tool listed under 'Available workflow tools'; any other name rejects the plan.",
        },
        "args": {"type": "object", "default": {}, "description": "JSON arguments for the tool."},
    },
    "required": ["id", "tool"],
    "additionalProperties": False,
}
_WAIT_TASK = {
    "type": "object",
    "properties": {
        "id": _ID,
        "depends_on": _DEPENDS_ON,
        "type": {"const": "wait", "type": "string"},
        "duration": {
            "type": "string",
            "description": "Relative pause as an ISO-8601 duration (PnDTnHnMnS), e.g. 'PT30S', 'PT5M', 'PT1H30M'; at most 24 hours.",
        },
        "until": {
            "type": "string",
            "description": "Instead of duration: the moment the pause ends, ISO-8601 with a timezone, e.g. '2026-04-25T17:30:00Z'.",
        },
    },
    "required": ["id", "type"],
    "additionalProperties": False,
}
_SUB_AGENT_TASK = {
    "type": "object",
    "properties": {
        "id": _ID,
        "depends_on": _DEPENDS_ON,
        "type": {"const": "sub_agent", "type": "string"},
        "agent": {
            "type": "string",
            "description": "Slug of a specialist listed under 'Available workflow Sub Agents'.",
        },
        "task": {
            "type": "string",
            "description": "The complete, self-contained instruction for the specialist; may reference upstream results.",
        },
    },
    "required": ["id", "type", "agent", "task"],
    "additionalProperties": False,
}
_EXTENSIONS: dict[str, Any] = {
    "when": {
        "type": "string",
        "description": "Run only if this condition holds, e.g. \"${check.result.errors} > 0 and ${check.result.env} == 'prod'\"; otherwise the task is skipped.",
    },
    "for_each": {
        "type": "string",
        "description": "A reference to an upstream list, e.g. '${list.result.services}': the task runs once per element, which ${item} / ${item.field} names; its result is the list of results.",
    },
    "max_parallelism": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_PARALLELISM,
        "description": "for_each: elements run at once.",
    },
    "retry": {
        "type": "object",
        "properties": {
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS, "default": 3},
            "first_interval": {"type": "string", "default": "PT5S"},
            "backoff_coefficient": {"type": "number", "minimum": 1, "maximum": 10, "default": 2.0},
            "max_interval": {"type": "string", "default": "PT5M"},
        },
        "additionalProperties": False,
        "description": "Try a failed or timed-out attempt again after an exponentially growing delay.",
    },
    "timeout": {"type": "string", "description": "ISO-8601 limit on each attempt, e.g. 'PT2M'."},
    "continue_on_error": {
        "type": "boolean",
        "default": False,
        "description": "If the task still fails, leave its result null and go on instead of failing the workflow.",
    },
}
_TASKS_DESCRIPTION = (
    "The tasks of the workflow plan, a DAG through their depends_on edges; a task runs once all its "
    "dependencies are done, independent tasks in parallel. String values may reference upstream "
    "results as ${node_id.result} or ${node_id.result.path.to.field}; the referenced task must be a "
    "transitive dependency, or the plan is rejected."
)


def start_workflow_schema(*, extensions: bool = True) -> dict[str, Any]:
    """The parameters schema of ``start_workflow`` (a fresh copy each call)."""
    defs: dict[str, Any] = {"ToolTask": _TOOL_TASK, "WaitTask": _WAIT_TASK, "SubAgentTask": _SUB_AGENT_TASK}
    defs = copy.deepcopy(defs)
    if extensions:
        for name, definition in defs.items():
            extra = dict(_EXTENSIONS)
            if name == "WaitTask":  # a timer neither fans out, retries, times out nor fails
                extra = {"when": extra["when"]}
            definition["properties"].update(copy.deepcopy(extra))
    return {
        "type": "object",
        "properties": {
            "tasks": {
                "type": "array",
                "minItems": 1,
                "description": _TASKS_DESCRIPTION,
                "items": {
                    "oneOf": [{"$ref": f"#/$defs/{name}"} for name in defs],
                    "discriminator": {
                        "propertyName": "type",
                        "mapping": {
                            "tool": "#/$defs/ToolTask",
                            "wait": "#/$defs/WaitTask",
                            "sub_agent": "#/$defs/SubAgentTask",
                        },
                    },
                },
            }
        },
        "required": ["tasks"],
        "$defs": defs,
    }
