"""``trigger`` front matter: parsing and validation, and the prompt a triggered run gets.

Both forms the Azure Functions agents runtime has accepted load here: the current
``trigger: {type, args: {...}}`` and the earlier flat ``trigger: {type, schedule: ...}``.
"""

from __future__ import annotations

import json
import re
from types import MappingProxyType
from typing import Any

from agentdown.app.bindings import BindingError, OutputBinding, parse_output
from agentdown.app.checks import MISSING, Reader
from agentdown.app.frontmatter import KeyPath
from agentdown.app.ncrontab import Schedule
from agentdown.app.spec import (
    HTTP_AUTH_MODES,
    BlobTrigger,
    EntraAuth,
    FunctionsTrigger,
    HttpAuth,
    HttpTrigger,
    QueueTrigger,
    TimerTrigger,
    Trigger,
)

__all__ = [
    "FUNCTIONS_ONLY_TRIGGERS",
    "SUPPORTED_TRIGGERS",
    "normalize_schedule",
    "read_http_auth",
    "read_trigger",
    "read_trigger_extras",
    "trigger_prompt",
]

SUPPORTED_TRIGGERS = ("timer_trigger", "queue_trigger", "blob_trigger", "http_trigger")

# Trigger types that the Azure Functions runtime registers (FunctionApp.<type>(**args)) and that
# need Azure's own trigger infrastructure: valid here, run once deployed, not by `serve`.
FUNCTIONS_ONLY_TRIGGERS = (
    "event_grid_trigger",
    "event_hub_message_trigger",
    "service_bus_queue_trigger",
    "service_bus_topic_trigger",
    "cosmos_db_trigger",
    "cosmos_db_trigger_v3",
    "sql_trigger",
    "mysql_trigger",
    "kafka_trigger",
    "connector_trigger",
    "generic_trigger",
    "dapr_binding_trigger",
    "dapr_service_invocation_trigger",
    "dapr_topic_trigger",
)
# FunctionApp decorators that the Azure Functions runtime refuses as agent triggers.
_REFUSED = {
    "route": "use http_trigger (the runtime owns HTTP handlers)",
    "schedule": "use timer_trigger",
    "activity_trigger": "Durable Functions triggers do not fit an agent's request/response handler",
    "orchestration_trigger": "Durable Functions triggers do not fit an agent's request/response handler",
    "entity_trigger": "Durable Functions triggers do not fit an agent's request/response handler",
    "durable_client_input": "Durable Functions bindings are not agent triggers",
    "warm_up_trigger": "warm-up triggers are host lifecycle hooks; use timer_trigger",
    "assistant_skill_trigger": "use tools, skills or MCP servers",
    "mcp_tool_trigger": "use builtin_endpoints.mcp: true",
    "mcp_resource_trigger": "MCP surfaces come from builtin_endpoints.mcp",
    "mcp_prompt_trigger": "MCP surfaces come from builtin_endpoints.mcp",
}
_PASSED_THROUGH = "Azure Functions passes it to the trigger as a binding property; agentdown does not use it"

_ARGS: dict[str, dict[str, str]] = {
    "timer_trigger": {
        "schedule": "an NCRONTAB schedule such as '0 0 9 * * *' (6 fields, or 5 with seconds omitted)",
        "run_on_startup": "true or false",
        "use_monitor": "true or false",
    },
    "queue_trigger": {
        "queue_name": "the queue name, e.g. 'orders'",
        "connection": "the name of the setting holding the storage connection (default AzureWebJobsStorage)",
    },
    "blob_trigger": {
        "path": "a blob path pattern such as 'uploads/{name}'",
        "connection": "the name of the setting holding the storage connection (default AzureWebJobsStorage)",
        "source": "LogsAndContainerScan or EventGrid",
    },
    "http_trigger": {
        "route": "the URL path, e.g. 'summarize'",
        "methods": "a list of HTTP methods, e.g. [POST]",
        "auth_level": "one of anonymous, function, admin",
        "http_auth": "function, admin, anonymous or entra (or {mode, entra})",
    },
}
_EXTRAS_FOR = ("timer_trigger", "queue_trigger", "blob_trigger")
"""The trigger types whose runs may have an ``output`` and a ``session_key``."""
_BINDING_EXPRESSION = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_SESSION_KEY_FORM = "a session id template such as 'customer-{body_json.customer_id}'"
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
_CRON_LIMITS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {},
    {m: i + 1 for i, m in enumerate(_MONTHS)},
    {d: i for i, d in enumerate(_DAYS)},
)


def trigger_prompt(trigger_type: str, data: Any) -> str:
    """The user prompt of a triggered run: the trigger type and its data as a fenced JSON block."""
    payload = json.dumps(data, ensure_ascii=False, default=str)
    return f"Triggered by: {trigger_type}\n\nTrigger data:\n```json\n{payload}\n```"


def normalize_schedule(schedule: str) -> str | None:
    """The six-field NCRONTAB form of ``schedule`` (``0`` seconds added to a 5-field cron), or ``None``."""
    fields = schedule.split()
    if len(fields) == 5:
        fields.insert(0, "0")
    if len(fields) != 6:
        return None
    for value, (low, high), names in zip(fields, _CRON_LIMITS, _CRON_NAMES, strict=True):
        if not all(_cron_part_ok(part, low, high, names) for part in value.split(",")):
            return None
    return " ".join(fields)


def _cron_part_ok(part: str, low: int, high: int, names: dict[str, int]) -> bool:
    base, slash, step = part.partition("/")
    # ASCII digits only: str.isdigit() is also true for '²', which int() rejects.
    if slash and not (step.isascii() and step.isdigit() and int(step) > 0):
        return False
    if base in ("*", "?"):
        return True
    bounds = base.split("-")
    if len(bounds) > 2 or not bounds[0]:
        return False
    values = [names.get(b.upper(), int(b) if b.isascii() and b.isdigit() else -1) for b in bounds]
    return all(low <= v <= high for v in values) and values == sorted(values)


def read_http_auth(reader: Reader, path: KeyPath) -> HttpAuth | None:
    """``http_auth``: a mode name, or ``{mode, entra: {tenant_id, allowed_audiences, allowed_client_ids}}``."""
    value = reader.get(path)
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):
        mode = reader.choice(path, HTTP_AUTH_MODES)
        return HttpAuth(mode) if mode else None  # type: ignore[arg-type]
    form = {"mode": "one of " + ", ".join(HTTP_AUTH_MODES), "entra": "a mapping of Entra ID allow-lists"}
    if reader.keys(path, form, "http_auth") is None:
        return None
    mode = reader.choice((*path, "mode"), HTTP_AUTH_MODES) or "function"
    entra_path = (*path, "entra")
    entra_form = {
        "tenant_id": "a tenant id",
        "allowed_audiences": "a list of audiences",
        "allowed_client_ids": "a list of client ids",
    }
    entra = None
    if reader.keys(entra_path, entra_form, "http_auth.entra") is not None:
        entra = EntraAuth(
            tenant_id=reader.string((*entra_path, "tenant_id")),
            allowed_audiences=reader.string_list((*entra_path, "allowed_audiences")) or (),
            allowed_client_ids=reader.string_list((*entra_path, "allowed_client_ids")) or (),
        )
    return HttpAuth(mode, entra)  # type: ignore[arg-type]


def read_trigger(reader: Reader, slug: str) -> Trigger | FunctionsTrigger | None:
    """The agent's ``trigger``, validated; ``None`` when absent or invalid (with a problem).

    A trigger only Azure Functions runs is a :class:`FunctionsTrigger`, with a warning.
    """
    raw = reader.get(("trigger",))
    if raw is MISSING or raw is None:
        return None
    if not isinstance(raw, dict):
        reader.expected(("trigger",), "a mapping such as {type: timer_trigger, args: {schedule: ...}}", raw)
        return None
    kind = reader.string(("trigger", "type"), "a trigger type such as timer_trigger", required=True)
    if kind is None:
        return None
    kind = kind.strip()
    flat = [k for k in raw if k not in ("type", "args")]
    if "args" in raw and flat:
        reader.error(
            ("trigger", flat[0]),
            f"give trigger arguments either under `args:` or next to `type:`, not both (found {', '.join(flat)})",
        )
        return None
    base: KeyPath = ("trigger", "args") if "args" in raw else ("trigger",)
    if kind not in SUPPORTED_TRIGGERS:
        return _functions_trigger(reader, kind, base)
    args = reader.get(base)
    if isinstance(args, dict) and "arg_name" in args:
        reader.error((*base, "arg_name"), _ARG_NAME)
        return None
    allowed = _ARGS[kind] if "args" in raw else {"type": "the trigger type", **_ARGS[kind]}
    required = {"timer_trigger": ("schedule",), "queue_trigger": ("queue_name",), "blob_trigger": ("path",)}
    checked = reader.keys(
        base, allowed, f"{kind} arguments", unknown_note=_PASSED_THROUGH, required=required.get(kind, ())
    )
    if checked is None and "args" in raw and raw["args"] is not None:
        return None
    return _build(reader, kind, base, slug)


_ARG_NAME = "set by the runtime (`trigger_data`); remove it (Azure Functions would refuse it twice)"


def _functions_trigger(reader: Reader, kind: str, base: KeyPath) -> FunctionsTrigger | None:
    supported = ", ".join(SUPPORTED_TRIGGERS)
    if kind in _REFUSED or "." in kind:
        why = _REFUSED.get(kind, "dotted connector trigger names are not resolved; use connector_trigger")
        reader.error(("trigger", "type"), f"'{kind}' cannot trigger an agent: {why}")
        return None
    if kind not in FUNCTIONS_ONLY_TRIGGERS:
        others = ", ".join(FUNCTIONS_ONLY_TRIGGERS)
        reader.error(
            ("trigger", "type"),
            f"unknown trigger type '{kind}'; expected one of: {supported}, or one that runs on Azure "
            f"Functions only: {others}",
        )
        return None
    args = reader.get(base)
    if args is MISSING or args is None:
        args = {}
    if not isinstance(args, dict):
        reader.expected(base, f"{kind} arguments (a mapping)", args)
        return None
    args = {k: v for k, v in args.items() if base != ("trigger",) or k != "type"}
    if "arg_name" in args:
        reader.error((*base, "arg_name"), _ARG_NAME)
        return None
    reader.warn(
        ("trigger", "type"),
        f"'{kind}' runs when the app is deployed to Azure Functions; `agentdown serve` does not run it "
        "(the agent's other endpoints are served)",
    )
    return FunctionsTrigger(kind, MappingProxyType(dict(args)))


def _build(reader: Reader, kind: str, base: KeyPath, slug: str) -> Trigger | None:
    def arg(name: str) -> KeyPath:
        return (*base, name)

    if kind == "timer_trigger":
        schedule = reader.string(arg("schedule"), _ARGS[kind]["schedule"], required=True)
        if schedule is None:
            return None
        normalized = normalize_schedule(schedule)
        if normalized is None:
            reader.error(
                arg("schedule"), f"invalid schedule {schedule!r}: expected {_ARGS[kind]['schedule']}"
            )
            return None
        try:
            Schedule(normalized)
        except ValueError as exc:  # well-formed fields that never match together, e.g. 31 February
            reader.error(arg("schedule"), f"{exc}; expected {_ARGS[kind]['schedule']} that occurs")
            return None
        return TimerTrigger(
            schedule=normalized,
            run_on_startup=bool(reader.boolean(arg("run_on_startup"))),
            use_monitor=reader.boolean(arg("use_monitor")) is not False,
        )
    if kind == "queue_trigger":
        name = reader.string(arg("queue_name"), _ARGS[kind]["queue_name"], required=True)
        connection = reader.string(arg("connection"), "a setting name") or "AzureWebJobsStorage"
        if name is None:
            return None
        if not _QUEUE_NAME.match(name) and "$" not in name and "%" not in name:
            reader.error(
                arg("queue_name"),
                f"invalid queue name {name!r}: expected 3-63 lowercase letters, digits and single hyphens",
            )
            return None
        return QueueTrigger(queue_name=name, connection=connection)
    if kind == "blob_trigger":
        path = reader.string(arg("path"), _ARGS[kind]["path"], required=True)
        connection = reader.string(arg("connection"), "a setting name") or "AzureWebJobsStorage"
        source = reader.choice(arg("source"), ("LogsAndContainerScan", "EventGrid"), fold_case=False)
        if path is None:
            return None
        if "/" not in path.strip("/"):
            reader.error(
                arg("path"),
                f"invalid blob path {path!r}: expected 'container/pattern', e.g. 'uploads/{{name}}'",
            )
            return None
        return BlobTrigger(path=path, connection=connection, source=source)
    route = reader.string(arg("route"), _ARGS[kind]["route"]) or slug
    methods = reader.string_list(arg("methods"), _ARGS[kind]["methods"])
    upper = tuple(m.upper() for m in methods or ("POST",))
    for index, method in enumerate(upper):
        if method not in _METHODS:
            reader.expected((*arg("methods"), index), "one of " + ", ".join(_METHODS), method)
    level = reader.choice(arg("auth_level"), ("anonymous", "function", "admin"))
    auth = read_http_auth(reader, arg("http_auth"))
    if level is not None and auth is not None:
        # The Azure Functions runtime's rule: http_auth wins, auth_level is ignored (deprecated).
        reader.warn(arg("auth_level"), "ignored: http_auth is given too, and it wins")
        level = None
    return HttpTrigger(
        route=route.strip("/") or slug,
        methods=upper,
        http_auth=auth or (HttpAuth(level) if level else HttpAuth()),  # type: ignore[arg-type]
    )


def read_trigger_extras(
    reader: Reader, trigger: Trigger | FunctionsTrigger | None
) -> tuple[OutputBinding | None, str | None]:
    """The agent's ``output`` and ``session_key``, validated, for a timer, queue or blob trigger."""
    output = _read_output(reader)
    session_key = _read_session_key(reader)
    trigger_given = reader.get(("trigger",)) not in (MISSING, None)
    if trigger is None and trigger_given:
        return output, session_key  # the trigger's own problem is reported already
    if trigger is None or trigger.type not in _EXTRAS_FOR:
        has = f"trigger {trigger.type}" if trigger is not None else "no trigger"
        for key in ("output", "session_key"):
            if reader.get((key,)) not in (MISSING, None):
                reader.error(
                    (key,),
                    f"only agents with a {', '.join(_EXTRAS_FOR[:-1])} or {_EXTRAS_FOR[-1]} "
                    f"take `{key}`, and this agent has {has}",
                )
        return None, None
    return output, session_key


def _read_output(reader: Reader) -> OutputBinding | None:
    raw = reader.get(("output",))
    if raw is MISSING or raw is None:
        return None
    try:
        return parse_output(raw, where="output")
    except BindingError as exc:
        message = str(exc)
        # The message starts with where it applies (``output.args.queue_name: ...``): point at that line.
        where = message.split(": ", 1)[0]
        path: KeyPath = tuple(where.split(".")) if where.startswith("output") else ("output",)
        reader.problems.add(reader.doc.file, reader.line(path), message)
        return None


def _read_session_key(reader: Reader) -> str | None:
    path: KeyPath = ("session_key",)
    template = reader.string(path, _SESSION_KEY_FORM)
    if template is None:
        return None
    if not template.strip():
        reader.error(path, f"must not be empty: expected {_SESSION_KEY_FORM}")
        return None
    for match in _BINDING_EXPRESSION.finditer(template):
        if match.group(1) is not None and not match.group(1).strip():
            reader.error(path, f"empty binding expression {{}} in {template!r}: expected {{field.name}}")
            return None
    if set("{}") & set(_BINDING_EXPRESSION.sub("", template)):
        reader.error(
            path,
            f"unbalanced brace in {template!r}: expressions are written {{field.name}}, "
            "a literal brace {{ or }}",
        )
        return None
    return template
