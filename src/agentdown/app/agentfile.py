"""Reading one ``*.agent.md`` file into an :class:`~agentdown.app.spec.AgentSpec`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agentdown.app.checks import MISSING, Reader
from agentdown.app.config import (
    AppConfig,
    merge_agent_configuration,
    read_agent_configuration,
    read_model,
    read_structured_output,
    read_system_tools,
    resolve_timeout,
)
from agentdown.app.diagnostics import Problems
from agentdown.app.frontmatter import KeyPath, parse_yaml, split_front_matter
from agentdown.app.knowledge_config import KNOWLEDGE_FORM, KnowledgeSpec, read_knowledge
from agentdown.app.openapi_config import OPENAPI_FORM, read_openapi_tools
from agentdown.app.queue_tools import merge_queue_tools, read_queue_tools
from agentdown.app.spec import (
    AgentSpec,
    BuiltinEndpoints,
    FunctionsTrigger,
    HttpAuth,
    Selection,
    SubagentRef,
    WorkflowSettings,
)
from agentdown.app.substitution import substitute_markdown, substitute_values
from agentdown.app.triggers import read_http_auth, read_trigger, read_trigger_extras
from agentdown.exceptions import ConfigurationError
from agentdown.loop.structured import JsonSchema, OutputSpec, ResponseExample

__all__ = ["AGENT_KEYS", "read_agent_file"]

AGENT_KEYS: dict[str, str] = {
    "name": "the display name (a string)",
    "description": "what the agent does (a string)",
    "trigger": "{type: timer_trigger|queue_trigger|blob_trigger|http_trigger, args: {...}}",
    "output": "{type: queue_output|blob_output, args: {queue_name | path, connection}}",
    "session_key": "a session id template such as 'customer-{body_json.customer_id}'",
    "builtin_endpoints": "true, false or {debug_chat_ui, chat_api, mcp, http_auth}",
    "http_auth": "function, admin, anonymous or entra (or {mode, entra})",
    "model": "a model (deployment) name",
    "timeout": "a positive number of seconds",
    "logger": "true or false",
    "substitute_variables": "true or false",
    "system_tools": "{web_request: false, dynamic_sessions_code_interpreter: false}",
    "mcp": "true, false, {exclude: [server names]} or {include: [server names]}",
    "skills": "true, false, {exclude: [skill names]} or {include: [skill names]}",
    "tools": "true, false, {exclude: [tool names]} or {include: [tool names]}",
    "subagents": "a list of {agent: <slug>, when: <when to delegate>}",
    "queue_tools": "a list of {name, description, parameters, input_queue, output_queue, connection, timeout, encoding}",
    "openapi_tools": OPENAPI_FORM,
    "input_schema": "a JSON Schema (mapping) for the request body",
    "response_example": "an example answer as a JSON document",
    "response_schema": "a JSON Schema (mapping) the answer must satisfy",
    "agent_configuration": "{max_output_tokens: N}",
    "structured_output": "auto, native or prompt (how a structured answer is requested from the model)",
    "workflows": "{enabled, exclude, subagents} (planned workflows)",
    "knowledge": KNOWLEDGE_FORM,
    "metadata": "a free-form mapping",
    "runtime": "ignored (accepted for compatibility)",
}
_WORKFLOW_KEYS = {
    "enabled": "true or false",
    "exclude": "a list of workflow tool names to leave out",
    "subagents": "a list of {agent: <slug>, when: <when to use it>}",
}
_UNSUPPORTED = {
    "debug": "`debug` was renamed `builtin_endpoints` ({debug_chat_ui, chat_api, mcp}); use that instead",
}
_ENDPOINT_KEYS = {
    "debug_chat_ui": "true or false (the chat page; implies chat_api)",
    "chat_api": "true or false (POST /agents/{slug}/chat and /chatstream)",
    "mcp": "true or false (the agent as an MCP tool)",
    "http_auth": AGENT_KEYS["http_auth"],
}


def read_agent_file(
    file: Path, slug: str, config: AppConfig, environ: Mapping[str, str], problems: Problems, app_dir: Path
) -> AgentSpec | None:
    """The agent defined by ``file``, or ``None`` after adding the problems that prevent it."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(file, 0, f"cannot read the file: {exc}")
        return None
    before = len(problems.errors)
    parts = split_front_matter(text, file, problems)
    if parts is None:
        return None
    doc = parse_yaml(parts.yaml_text, file, parts.yaml_line, problems)
    if doc is None:
        return None
    raw = {} if doc.data is None else doc.data
    if not isinstance(raw, dict):
        problems.add(file, parts.yaml_line, "the front matter must be a YAML mapping such as `name: ...`")
        return None
    # Read before substitution, as the Azure Functions runtime does: it decides whether to substitute.
    enabled = raw.get("substitute_variables", True)
    if not isinstance(enabled, bool):
        problems.add(
            file,
            doc.line(("substitute_variables",)),
            f"substitute_variables: expected a literal true or false (it is read before $VAR substitution), got {enabled!r}",
        )
        enabled = True
    data = substitute_values(raw, environ) if enabled else raw
    r = Reader(doc, data, raw, problems)
    r.keys((), AGENT_KEYS, "the front matter", special=_UNSUPPORTED)
    if "runtime" in raw:
        r.warn(("runtime",), "agentdown has a single agent loop; `runtime` is ignored")
    name = r.string(("name",), AGENT_KEYS["name"], required=True)
    description = r.string(("description",), AGENT_KEYS["description"], required=True)
    endpoints, nested_auth = _builtin_endpoints(r)
    own_auth = read_http_auth(r, ("http_auth",))
    if own_auth is not None and nested_auth is not None:
        r.error(("http_auth",), "give http_auth once: here or under builtin_endpoints, not both")
    instructions = (substitute_markdown(parts.body, environ) if enabled else parts.body).strip()
    if not instructions:
        problems.warn(
            file, parts.body_line, "the agent has no instructions: write them below the front matter"
        )
    response_schema = _schema(r, ("response_schema",))
    response_example = _example(r)
    if response_schema is not None and response_example is not None:
        r.warn(
            ("response_example",), "response_schema is given too, so answers are checked against it instead"
        )
    trigger = read_trigger(r, slug)
    output, session_key = read_trigger_extras(r, trigger)
    example_text = None
    if isinstance(response_example, _ExampleText):
        example_text, response_example = response_example.text, None
    spec = AgentSpec(
        slug=slug,
        name=(name or "").strip(),
        description=(description or "").strip(),
        instructions=instructions,
        file=file,
        is_main=slug == "main",
        trigger=None if isinstance(trigger, FunctionsTrigger) else trigger,
        functions_trigger=trigger if isinstance(trigger, FunctionsTrigger) else None,
        output=output,
        session_key=session_key,
        builtin_endpoints=endpoints,
        http_auth=nested_auth or own_auth or config.http_auth or HttpAuth(),
        model=read_model(r, ("model",)) or config.model,
        timeout=resolve_timeout(
            r.number(("timeout",), AGENT_KEYS["timeout"], minimum=0), config, environ, problems, app_dir
        ),
        logger=r.boolean(("logger",)) is not False,
        substitute_variables=enabled,
        system_tools=MappingProxyType(read_system_tools(r, ("system_tools",))),
        tools=_selection(r, "tools", config.tools_exclude),
        mcp=_selection(r, "mcp", ()),
        skills=_selection(r, "skills", ()),
        subagents=_subagents(r, slug),
        queue_tools=merge_queue_tools(config.queue_tools, read_queue_tools(r, ("queue_tools",))),
        openapi_tools=read_openapi_tools(r, ("openapi_tools",), app_dir),
        input_schema=_schema(r, ("input_schema",)),
        response_example=response_example,
        response_schema=response_schema,
        response_example_text=example_text,
        structured_output=read_structured_output(r, ("structured_output",)) or config.structured_output,
        workflows=_workflows(r, slug),
        agent_configuration=merge_agent_configuration(
            config.agent_configuration, read_agent_configuration(r, ("agent_configuration",))
        ),
        knowledge=_knowledge(r, config, app_dir),
        metadata=MappingProxyType(r.mapping(("metadata",)) or {}),
        lines=MappingProxyType({str(k[0]): v for k, v in doc.lines.items() if len(k) == 1}),
    )
    return spec if len(problems.errors) == before else None


def _knowledge(r: Reader, config: AppConfig, app_dir: Path) -> KnowledgeSpec | None:
    own = read_knowledge(r, ("knowledge",), app_dir)
    if own is False:
        return None
    if own is None:
        return config.knowledge if r.get(("knowledge",)) in (MISSING, None) else None
    assert not isinstance(own, bool)
    return own


def _builtin_endpoints(r: Reader) -> tuple[BuiltinEndpoints, HttpAuth | None]:
    path: KeyPath = ("builtin_endpoints",)
    value = r.get(path)
    if value is MISSING or value is None:
        return BuiltinEndpoints(), None
    if isinstance(value, bool):
        return BuiltinEndpoints(value, value, value), None
    if r.keys(path, _ENDPOINT_KEYS, "builtin_endpoints") is None:
        return BuiltinEndpoints(), None
    ui = bool(r.boolean((*path, "debug_chat_ui")))
    chat = bool(r.boolean((*path, "chat_api")))
    mcp = bool(r.boolean((*path, "mcp")))
    return BuiltinEndpoints(ui, chat or ui, mcp), read_http_auth(r, (*path, "http_auth"))


def _selection(r: Reader, key: str, config_exclude: tuple[str, ...]) -> Selection:
    path: KeyPath = (key,)
    value = r.get(path)
    if value is MISSING or value is None or value is True:
        return Selection(exclude=config_exclude)
    if value is False:
        return Selection(enabled=False)
    form = {
        "exclude": f"a list of {key} names to leave out",
        "include": f"a list of the only {key} names to use",
    }
    if not isinstance(value, dict):
        r.expected(path, AGENT_KEYS[key], value)
        return Selection()
    r.keys(path, form, key)
    include = r.string_list((*path, "include"))
    exclude = r.string_list((*path, "exclude")) or ()
    inherited = tuple(name for name in config_exclude if include is None or name not in include)
    return Selection(include=include, exclude=tuple(dict.fromkeys((*exclude, *inherited))))


def _subagents(r: Reader, slug: str, path: KeyPath = ("subagents",)) -> tuple[SubagentRef, ...]:
    value = r.get(path)
    if value is MISSING or value is None:
        return ()
    if not isinstance(value, list):
        r.expected(path, AGENT_KEYS["subagents"], value)
        return ()
    refs: list[SubagentRef] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        item_path: KeyPath = (*path, index)
        if not isinstance(item, dict):
            r.expected(item_path, "{agent: <slug of another agent file>, when: <when to delegate>}", item)
            continue
        r.keys(
            item_path, {"agent": "the slug of another agent", "when": "when to delegate to it"}, "a subagent"
        )
        agent = r.string((*item_path, "agent"), "the slug of another agent file", required=True)
        when = r.string((*item_path, "when"), "a sentence saying when to delegate")
        if agent is None:
            continue
        agent = agent.strip()
        line = r.line(item_path)
        if agent == slug:
            r.error((*item_path, "agent"), f"an agent cannot delegate to itself ('{slug}')")
        elif agent in seen:
            r.error((*item_path, "agent"), f"'{agent}' is already listed at line {seen[agent]}")
        else:
            seen[agent] = line
            refs.append(SubagentRef(agent=agent, when=(when or "").strip() or None, line=line))
    return tuple(refs)


def _schema(r: Reader, path: KeyPath) -> Mapping[str, Any] | None:
    value = r.mapping(path, "a JSON Schema (a mapping such as {type: object, properties: {...}})")
    if value is None:
        return None
    import jsonschema  # here, not at the top: only agents with a schema need it

    try:
        jsonschema.validators.validator_for(value).check_schema(value)
        if path == ("response_schema",):
            OutputSpec(JsonSchema(value))
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        r.error(path, f"not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}")
        return None
    except ConfigurationError as exc:
        r.error(path, str(exc).replace("response_format", "response_schema"))
        return None
    return MappingProxyType(value)


@dataclass(frozen=True, slots=True)
class _ExampleText:
    text: str


def _example(r: Reader) -> Any:
    path: KeyPath = ("response_example",)
    value = r.get(path)
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            # The Azure Functions runtime shows the example to the model as text and only
            # requires the answer to be JSON: so does agentdown, with a warning.
            r.warn(
                path,
                f"not valid JSON ({exc}), so answers are not checked against its shape: it is shown to the "
                "model as the answer's format, and an answer must be a JSON object",
            )
            return _ExampleText(value.strip()) if value.strip() else None
    elif not isinstance(value, dict | list):
        r.expected(path, AGENT_KEYS["response_example"], value)
        return None
    try:
        OutputSpec(ResponseExample(value))
    except ConfigurationError as exc:
        r.error(path, str(exc))
        return None
    return value


def _workflows(r: Reader, slug: str) -> WorkflowSettings | None:
    path: KeyPath = ("workflows",)
    if r.keys(path, _WORKFLOW_KEYS, "workflows") is None:
        return None
    enabled = bool(r.boolean((*path, "enabled")))
    exclude = r.string_list((*path, "exclude")) or ()
    subagents = _subagents(r, slug, (*path, "subagents"))
    return WorkflowSettings(enabled=enabled, exclude=tuple(exclude), subagents=subagents)
