"""agentdown's front matter additions for triggered agents: an output binding and a session key.

The Azure Functions agents runtime only logs a triggered run's answer. agentdown can
also write it somewhere, declared like the trigger (named after Functions' output
decorators)::

    output:
      type: queue_output            # or blob_output
      args:
        queue_name: answers         # blob_output: path: results/{name}.md
        connection: AzureWebJobsStorage

and continue one session across invocations instead of starting a fresh one::

    session_key: "customer-{body_json.customer_id}"

Both take binding expressions in braces: a blob path capture (``{name}`` of
``uploads/{name}``), any field of the trigger data (``{id}``, ``{body_json.order.id}``),
a top-level field of a JSON queue message (``{customer_id}``), ``{rand-guid}`` and
``{DateTime}`` (UTC, ``2025-01-31T09-30-00Z``). ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "DEFAULT_CONNECTION",
    "BindingError",
    "OutputBinding",
    "PathPattern",
    "parse_output",
    "render",
    "session_id_for",
    "validate_container_name",
    "validate_queue_name",
]

DEFAULT_CONNECTION = "AzureWebJobsStorage"
"""The setting naming the storage account when a trigger or binding gives no ``connection``."""

# Azure Storage's naming rules for queues and blob containers (the same for both). The queue
# and blob stores in agentdown.runtime check them too; they are repeated here because the app
# layer validates front matter at load time and must not import the runtime above it.
_STORAGE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


def validate_queue_name(name: str) -> str:
    """``name`` if Azure Storage accepts it as a queue name, else a ``ValueError`` saying why."""
    if not _STORAGE_NAME.match(name):
        raise ValueError(
            f"invalid queue name {name!r}: expected 3-63 lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
    return name


def validate_container_name(name: str) -> str:
    """``name`` if Azure Storage accepts it as a blob container name, else a ``ValueError``."""
    if not _STORAGE_NAME.match(name):
        raise ValueError(
            f"invalid blob container name {name!r}: expected 3-63 lowercase letters, digits and single hyphens"
        )
    return name


_EXPRESSION = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NOT_IN_SESSION_ID = re.compile(r"[^A-Za-z0-9._-]")
_OUTPUT_ARGS = {
    "queue_output": {"queue_name": "the queue name, e.g. 'answers'", "connection": "a setting name"},
    "blob_output": {"path": "a blob path such as 'results/{name}.md'", "connection": "a setting name"},
}


class BindingError(ValueError):
    """A binding expression names a value the trigger data does not have, or an output is malformed."""


@dataclass(frozen=True, slots=True)
class OutputBinding:
    """Where a triggered run's answer is written after it succeeds."""

    type: Literal["queue_output", "blob_output"]
    """Named after Azure Functions' ``queue_output`` / ``blob_output`` decorators."""
    queue_name: str | None = None
    """``queue_output``: the queue's name (fixed)."""
    path: str | None = None
    """``blob_output``: ``container/name-pattern``; the name may hold binding expressions."""
    connection: str = DEFAULT_CONNECTION
    """The name of the setting holding the storage connection, as for triggers."""

    @property
    def container(self) -> str:
        assert self.path is not None
        return self.path.strip("/").split("/", 1)[0]

    @property
    def name_template(self) -> str:
        assert self.path is not None
        return self.path.strip("/").split("/", 1)[1]

    @property
    def args(self) -> dict[str, Any]:
        target = {"queue_name": self.queue_name} if self.type == "queue_output" else {"path": self.path}
        return {**target, "connection": self.connection}


def parse_output(raw: Any, where: str = "output") -> OutputBinding:
    """Validate the ``output`` front matter value (``{type, args}``, or its arguments next to ``type``)."""
    if isinstance(raw, OutputBinding):
        return raw
    if not isinstance(raw, Mapping):
        raise BindingError(
            f"{where}: expected a mapping such as {{type: queue_output, args: {{queue_name: ...}}}}"
        )
    kind = raw.get("type")
    if kind not in _OUTPUT_ARGS:
        raise BindingError(f"{where}.type: expected queue_output or blob_output, got {kind!r}")
    flat = {k: v for k, v in raw.items() if k not in ("type", "args")}
    if "args" in raw and flat:
        raise BindingError(f"{where}: give the arguments either under `args:` or next to `type:`, not both")
    args = raw.get("args") if "args" in raw else flat
    base = f"{where}.args" if "args" in raw else where
    if not isinstance(args, Mapping):
        raise BindingError(f"{base}: expected a mapping of {kind} arguments")
    allowed = _OUTPUT_ARGS[kind]
    for key in args:
        if key not in allowed:
            raise BindingError(
                f"{base}.{key}: unknown key in {kind} arguments; expected one of: {', '.join(allowed)}"
            )
    connection = args.get("connection") or DEFAULT_CONNECTION
    if not isinstance(connection, str):
        raise BindingError(f"{base}.connection: expected {allowed['connection']}, got {connection!r}")
    target_key = "queue_name" if kind == "queue_output" else "path"
    target = args.get(target_key)
    if not isinstance(target, str) or not target.strip():
        raise BindingError(f"{base}.{target_key}: required: expected {allowed[target_key]}")
    try:
        if kind == "queue_output":
            return OutputBinding(
                "queue_output", queue_name=validate_queue_name(target), connection=connection
            )
        container, slash, name = target.strip("/").partition("/")
        if not slash or not name:
            raise ValueError(
                f"invalid blob path {target!r}: expected 'container/name', e.g. 'results/{{id}}.md'"
            )
        validate_container_name(container)
    except ValueError as exc:
        raise BindingError(f"{base}.{target_key}: {exc}") from None
    return OutputBinding("blob_output", path=target.strip("/"), connection=connection)


class PathPattern:
    """A blob trigger path ``container/pattern``; ``{x}`` parts capture (across ``/`` too)."""

    def __init__(self, path: str) -> None:
        container, _, pattern = path.strip("/").partition("/")
        self.container = validate_container_name(container)
        self.pattern = pattern
        parts: list[str] = []
        names: list[str] = []
        position = 0
        for match in re.finditer(r"\{([A-Za-z_][A-Za-z0-9_-]*)\}", pattern):
            parts.append(re.escape(pattern[position : match.start()]))
            name = match.group(1)
            group = re.sub(r"\W", "_", name)
            parts.append(f"(?P<{group}>.+)" if group not in names else f"(?P={group})")
            names.append(group)
            position = match.end()
        parts.append(re.escape(pattern[position:]))
        self._regex = re.compile("".join(parts), re.DOTALL)
        first = pattern.find("{")
        self.prefix = pattern if first < 0 else pattern[:first]
        """The literal start of every matching name (lists only those blobs)."""

    def match(self, name: str) -> dict[str, str] | None:
        """The captures when the blob ``name`` (inside the container) matches, else ``None``."""
        found = self._regex.fullmatch(name)
        return None if found is None else dict(found.groupdict())


def render(template: str, data: Mapping[str, Any], captures: Mapping[str, str] | None = None) -> str:
    """``template`` with each ``{expression}`` replaced (see the module docstring)."""
    now = datetime.now(UTC)

    def value(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        expression = match.group(1).strip()
        if expression in ("rand-guid", "sys.randguid"):
            return str(uuid.uuid4())
        if expression in ("DateTime", "sys.utcnow"):
            return now.strftime("%Y-%m-%dT%H-%M-%SZ")
        if captures and expression in captures:
            return captures[expression]
        found = _lookup(data, expression)
        if found is _MISSING and isinstance(data.get("body_json"), Mapping):
            found = _lookup(data["body_json"], expression)
        if found is _MISSING or found is None or isinstance(found, (dict, list)):
            available = ", ".join(sorted({*data, *(captures or {})}))
            raise BindingError(
                f"binding expression {{{expression}}} has no text value in the trigger data "
                f"(its fields: {available})"
            )
        return str(found).lower() if isinstance(found, bool) else str(found)

    return _EXPRESSION.sub(value, template)


_MISSING = object()


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    current: Any = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def session_id_for(template: str, data: Mapping[str, Any], captures: Mapping[str, str] | None = None) -> str:
    """The session id ``template`` gives for this invocation: characters a session id cannot hold become ``_``."""
    rendered = _NOT_IN_SESSION_ID.sub("_", render(template, data, captures))[:128]
    if not rendered:
        raise BindingError(f"session_key {template!r} rendered to an empty session id")
    return rendered
