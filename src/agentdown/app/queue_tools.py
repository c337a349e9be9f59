"""``queue_tools:``: tools answered by a function through storage queues, declared as plain data.

.. code-block:: yaml

    queue_tools:
      - name: GetWeather
        description: The weather of a city.
        parameters: {type: object, properties: {city: {type: string}}, required: [city]}
        input_queue: weather-input
        output_queue: weather-output
        connection: AzureWebJobsStorage   # the default
        timeout: 60                       # seconds, the default
        encoding: base64                  # or none

The app layer only validates and keeps these (:class:`QueueToolSpec`); the tools
themselves (queues, reply readers) belong to the runtime, which registers a factory
here (:func:`register_queue_tool_factory`) that :meth:`AgentCatalog.build_agent
<agentdown.app.catalog.AgentCatalog.build_agent>` calls. ``agents.config.yaml`` may
declare them for every agent (an agent's ``tools`` selection applies to those), and an
agent's own entry replaces a config entry of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol

from agentdown.app.bindings import validate_queue_name
from agentdown.app.checks import MISSING, Reader
from agentdown.app.frontmatter import KeyPath
from agentdown.tools.protocol import TOOL_NAME_PATTERN, Tool

__all__ = [
    "QUEUE_TOOL_KEYS",
    "QueueToolFactory",
    "QueueToolSpec",
    "queue_tool_factory",
    "read_queue_tools",
    "register_queue_tool_factory",
]

QUEUE_TOOL_KEYS = {
    "name": "the tool name the model sees (letters, digits, _ or -)",
    "description": "what the tool does, for the model",
    "parameters": "a JSON Schema of the arguments (an object schema)",
    "input_queue": "the queue the calls are put on",
    "output_queue": "the queue the function answers on",
    "connection": "the name of the storage connection setting (default AzureWebJobsStorage)",
    "timeout": "seconds to wait for an answer (default 60)",
    "encoding": "base64 (the default, what Azure Functions expects) or none",
}
FORM = "a list of {name, description, parameters, input_queue, output_queue, connection, timeout, encoding}"


@dataclass(frozen=True, slots=True)
class QueueToolSpec:
    """One validated ``queue_tools`` entry."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    input_queue: str
    output_queue: str
    connection: str = "AzureWebJobsStorage"
    timeout: float = 60.0
    encoding: Literal["base64", "none"] = "base64"
    file: Path | None = None
    line: int = 0
    from_config: bool = False
    """Declared in ``agents.config.yaml`` (subject to the agent's ``tools`` selection)."""


class QueueToolFactory(Protocol):
    def __call__(self, spec: QueueToolSpec, environ: Mapping[str, str]) -> Tool: ...


_factory: list[QueueToolFactory] = []


def register_queue_tool_factory(factory: QueueToolFactory) -> None:
    """Make ``factory`` build the queue tools of every catalog (the runtime does this on import)."""
    _factory[:] = [factory]


def queue_tool_factory() -> QueueToolFactory | None:
    return _factory[0] if _factory else None


def read_queue_tools(r: Reader, path: KeyPath, *, from_config: bool = False) -> tuple[QueueToolSpec, ...]:
    """The ``queue_tools`` list at ``path``; each bad entry is a problem at its line."""
    value = r.get(path)
    if value is MISSING or value is None:
        return ()
    if not isinstance(value, list):
        r.expected(path, FORM, value)
        return ()
    out: list[QueueToolSpec] = []
    seen: dict[str, int] = {}
    for index in range(len(value)):
        spec = _entry(r, (*path, index), from_config)
        if spec is None:
            continue
        if spec.name in seen:
            r.error(
                (*path, index, "name"),
                f"queue tool '{spec.name}' is already declared at line {seen[spec.name]}",
            )
            continue
        seen[spec.name] = spec.line
        out.append(spec)
    return tuple(out)


def _entry(r: Reader, path: KeyPath, from_config: bool) -> QueueToolSpec | None:
    required = ("name", "input_queue", "output_queue")
    if r.keys(path, QUEUE_TOOL_KEYS, "a queue tool", required=required) is None:
        return None  # not a mapping: reported
    before = len(r.problems.errors)
    name = r.string((*path, "name"), QUEUE_TOOL_KEYS["name"], required=True)
    if name is not None and not TOOL_NAME_PATTERN.fullmatch(name.strip()):
        r.error((*path, "name"), f"expected {QUEUE_TOOL_KEYS['name']} (1-64 characters), got {name!r}")
    description = r.string((*path, "description"), QUEUE_TOOL_KEYS["description"], required=True)
    queues = []
    for key in ("input_queue", "output_queue"):
        queue = r.string((*path, key), QUEUE_TOOL_KEYS[key], required=True)
        if queue is not None:
            try:
                validate_queue_name(queue.strip())
                if key == "output_queue" and len(queue.strip()) > 56:
                    raise ValueError(f"{queue!r} is too long to have a poison queue (at most 56 characters)")
            except ValueError as exc:
                r.error((*path, key), str(exc))
        queues.append((queue or "").strip())
    parameters = _parameters(r, (*path, "parameters"))
    connection = r.string((*path, "connection"), QUEUE_TOOL_KEYS["connection"])
    timeout = r.number((*path, "timeout"), "a positive number of seconds", minimum=0)
    encoding = r.choice((*path, "encoding"), ("base64", "none"))
    if len(r.problems.errors) != before or name is None or description is None:
        return None
    return QueueToolSpec(
        name=name.strip(),
        description=description.strip(),
        parameters=parameters,
        input_queue=queues[0],
        output_queue=queues[1],
        connection=(connection or "").strip() or "AzureWebJobsStorage",
        timeout=60.0 if timeout is None else timeout,
        encoding="none" if encoding == "none" else "base64",
        file=r.doc.file,
        line=r.line(path),
        from_config=from_config,
    )


def _parameters(r: Reader, path: KeyPath) -> Mapping[str, Any]:
    value = r.mapping(path, QUEUE_TOOL_KEYS["parameters"])
    if value is None:
        return MappingProxyType({"type": "object", "properties": {}})
    import jsonschema  # only when a queue tool is declared: loading an app stays light

    try:
        jsonschema.validators.validator_for(value).check_schema(value)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        r.error(path, f"not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}")
    if value.get("type", "object") != "object":
        r.error(
            path,
            f"expected an object schema (the arguments are one JSON object), got type {value.get('type')!r}",
        )
    return MappingProxyType(dict(value))


def merge_queue_tools(
    config: tuple[QueueToolSpec, ...], own: tuple[QueueToolSpec, ...]
) -> tuple[QueueToolSpec, ...]:
    """The config's declarations, with the agent's own replacing those of the same name, then the rest."""
    names = {s.name for s in own}
    return (*(s for s in config if s.name not in names), *own)
