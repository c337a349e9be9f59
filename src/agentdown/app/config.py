"""``agents.config.yaml``: app-wide defaults, and how they merge under each agent.

Precedence, highest first (the Azure Functions agents runtime's order):

1. the agent's front matter;
2. ``agents.config.yaml``;
3. the environment: ``AGENTDOWN_TIMEOUT_SECONDS`` / ``AZURE_FUNCTIONS_AGENTS_TIMEOUT_SECONDS``
   for ``timeout``; for ``model``, the provider variables read by
   :func:`agentdown.models.provider.model_from_env` (``AGENTDOWN_MODEL``, ...);
4. built-in defaults: ``timeout`` 900 s, ``http_auth`` ``function``, ``logger`` on.

Per key:

* ``model``, ``timeout``, ``http_auth``: the first of the sources above that sets it
  (an agent's ``builtin_endpoints.http_auth`` counts as its front matter).
* ``tools.exclude``: the config's and the agent's lists both apply. An agent's own
  ``tools.include`` (agentdown's addition) names the only tools it gets; naming a
  tool the config excludes there brings it back for that agent.
* ``agent_configuration``: merged key by key, recursively; an explicit ``null`` in
  the front matter clears an inherited value.
* ``system_tools``: the config describes them and switches them on for every agent;
  an agent may switch one off (``system_tools: {web_request: false}``) or, without
  the config, on (``system_tools: {web_request: true}``). ``web_request`` is off unless
  switched on (the Azure Functions runtime has it on by default: see
  :func:`_note_web_request_default`).

``$VAR`` / ``%VAR%`` are substituted in every string value of this file (the
per-agent ``substitute_variables`` switch does not apply to it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from agentdown.app.checks import MISSING, Reader
from agentdown.app.diagnostics import Problems
from agentdown.app.frontmatter import KeyPath, parse_yaml
from agentdown.app.knowledge_config import KNOWLEDGE_FORM, KnowledgeSpec, read_knowledge
from agentdown.app.queue_tools import QueueToolSpec, read_queue_tools
from agentdown.app.spec import AgentConfiguration, HttpAuth
from agentdown.app.substitution import has_placeholders, substitute_values
from agentdown.app.triggers import read_http_auth
from agentdown.tools.system.code_interpreter.dynamic_sessions import endpoint_allowed
from agentdown.tools.system.web_settings import parse_web_settings

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_TIMEOUT",
    "AppConfig",
    "load_config",
    "merge_agent_configuration",
    "read_agent_configuration",
    "read_model",
    "read_structured_output",
    "read_system_tools",
    "resolve_timeout",
]

CONFIG_FILE = "agents.config.yaml"
DEFAULT_TIMEOUT = 900.0
TIMEOUT_VARIABLES = ("AGENTDOWN_TIMEOUT_SECONDS", "AZURE_FUNCTIONS_AGENTS_TIMEOUT_SECONDS")

_KEYS = {
    "model": "a model (deployment) name",
    "timeout": "a positive number of seconds",
    "tools": "{exclude: [tool names]}",
    "http_auth": "function, admin, anonymous or entra (or {mode, entra})",
    "system_tools": "{dynamic_sessions_code_interpreter: {endpoint}, web_request: true/false}",
    "agent_configuration": "{max_output_tokens: N}",
    "structured_output": "auto, native or prompt (how a structured answer is requested from the model)",
    "sdk_mode": "maf (accepted for compatibility, ignored)",
    "queue_tools": "a list of {name, description, parameters, input_queue, output_queue, connection, timeout, encoding}",
    "knowledge": KNOWLEDGE_FORM + " (the default of agents that set none)",
}
_AGENT_CONFIGURATION = {
    "max_output_tokens": "a positive whole number of tokens",
    "agent_framework": "Microsoft Agent Framework settings (accepted, not applied)",
}
SYSTEM_TOOLS = {
    "dynamic_sessions_code_interpreter": "the ACA dynamic sessions code interpreter (execute_python)",
    "web_request": "the web_request tool",
}


@dataclass(frozen=True, slots=True)
class AppConfig:
    """The validated ``agents.config.yaml`` (every field unset when the file is absent)."""

    file: Path | None = None
    """The file read, ``None`` when the app has none."""
    model: str | None = None
    """Default model (deployment) name for agents that name none."""
    timeout: float | None = None
    """Default seconds per run for agents that set none."""
    tools_exclude: tuple[str, ...] = ()
    """``tools.exclude``: tools no agent gets unless its own ``tools.include`` names them."""
    http_auth: HttpAuth | None = None
    """Default endpoint authentication for agents that set none."""
    agent_configuration: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Raw (validated) values, merged under each agent's."""
    system_tools: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """System tool settings by tool name (validated, not provided by agentdown yet)."""
    structured_output: Literal["auto", "native", "prompt"] | None = None
    """Default ``structured_output`` for agents that set none."""
    queue_tools: tuple[QueueToolSpec, ...] = ()
    """Queue tools every agent gets (unless its ``tools`` selection leaves them out)."""
    knowledge: KnowledgeSpec | None = None
    """``knowledge``: the folders of agents that set none (``None``: no default)."""
    lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Line of each top-level key, for problems found later."""


def load_config(app_dir: Path, environ: Mapping[str, str], problems: Problems) -> AppConfig:
    """Read ``agents.config.yaml`` from ``app_dir`` (an absent file is an empty config)."""
    config = _load_config(app_dir, environ, problems)
    _note_web_request_default(app_dir, config, problems)
    return config


def _note_web_request_default(app_dir: Path, config: AppConfig, problems: Problems) -> None:
    """An app of the Azure Functions agents runtime that relied on its web_request hears it is off here.

    That runtime gives every agent ``web_request`` unless switched off; agentdown only
    where it is switched on, because a tool that reaches the internet is also a way
    out for whatever a prompt-injected page or document asks the agent to send.
    """
    entry = app_dir / "function_app.py"
    if "web_request" in config.system_tools or not entry.is_file():
        return
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if "azure_functions_agents" in entry.read_text(encoding="utf-8"):
            problems.warn(
                config.file or entry,
                config.lines.get("system_tools", 0) if config.file else 0,
                "system_tools.web_request: the Azure Functions agents runtime gives every agent web_request "
                "unless it is switched off; agentdown only where it is switched on: add "
                "`system_tools: {web_request: true}` to agents.config.yaml to keep it",
            )


def _load_config(app_dir: Path, environ: Mapping[str, str], problems: Problems) -> AppConfig:
    path = app_dir / CONFIG_FILE
    if not path.is_file():
        return AppConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(path, 0, f"cannot read the file: {exc}")
        return AppConfig(file=path)
    doc = parse_yaml(text, path, 1, problems)
    if doc is None or doc.data is None:
        return AppConfig(file=path)
    reader = Reader(doc, substitute_values(doc.data, environ), doc.data, problems)
    if reader.keys((), _KEYS, CONFIG_FILE) is None:
        return AppConfig(file=path)
    if reader.get(("sdk_mode",)) not in (MISSING, None, "maf"):
        reader.warn(("sdk_mode",), "agentdown has a single agent loop; sdk_mode is ignored")
    exclude: tuple[str, ...] = ()
    if reader.keys(("tools",), {"exclude": "a list of tool names"}, "tools") is not None:
        exclude = reader.string_list(("tools", "exclude")) or ()
    return AppConfig(
        file=path,
        model=read_model(reader, ("model",)),
        timeout=reader.number(("timeout",), _KEYS["timeout"], minimum=0),
        tools_exclude=exclude,
        http_auth=read_http_auth(reader, ("http_auth",)),
        agent_configuration=MappingProxyType(
            read_agent_configuration(reader, ("agent_configuration",)) or {}
        ),
        system_tools=MappingProxyType(_config_system_tools(reader)),
        structured_output=read_structured_output(reader, ("structured_output",)),
        queue_tools=read_queue_tools(reader, ("queue_tools",), from_config=True),
        knowledge=_knowledge(reader, app_dir),
        lines=MappingProxyType({str(k[0]): v for k, v in doc.lines.items() if len(k) == 1}),
    )


def _knowledge(reader: Reader, app_dir: Path) -> KnowledgeSpec | None:
    found = read_knowledge(reader, ("knowledge",), app_dir)
    return found if isinstance(found, KnowledgeSpec) else None


STRUCTURED_OUTPUT_MODES = ("auto", "native", "prompt")


def read_structured_output(reader: Reader, path: KeyPath) -> Literal["auto", "native", "prompt"] | None:
    """``structured_output``: ``auto``, ``native`` or ``prompt`` (``None`` when unset)."""
    return reader.choice(path, STRUCTURED_OUTPUT_MODES)  # type: ignore[return-value]


def read_model(reader: Reader, path: KeyPath) -> str | None:
    """A ``model`` value; blank or an unset ``$VAR`` counts as unset (the environment decides)."""
    model = reader.string(path, _KEYS["model"])
    if model is None or not model.strip():
        return None
    if has_placeholders(model):
        # Sending "$FOUNDRY_MODEL" to a provider as a model name cannot work.
        reader.warn(path, f"{model.strip()} is not set, so the model comes from the environment")
        return None
    return model.strip()


def read_agent_configuration(reader: Reader, path: KeyPath) -> dict[str, Any] | None:
    """The validated raw ``agent_configuration`` mapping (values may be ``None`` = clear)."""
    value = reader.keys(path, _AGENT_CONFIGURATION, "agent_configuration")
    if value is None:
        return None
    out: dict[str, Any] = {}
    if "max_output_tokens" in value:
        tokens = reader.number(
            (*path, "max_output_tokens"), _AGENT_CONFIGURATION["max_output_tokens"], integer=True, minimum=1
        )
        out["max_output_tokens"] = None if tokens is None else int(tokens)
    if "agent_framework" in value:
        framework = reader.mapping((*path, "agent_framework"), "a mapping")
        out["agent_framework"] = framework
        if framework:
            reader.warn(
                (*path, "agent_framework"),
                "Microsoft Agent Framework settings (compaction) are accepted but not applied by agentdown",
            )
    return out


def merge_agent_configuration(
    defaults: Mapping[str, Any], own: Mapping[str, Any] | None
) -> AgentConfiguration:
    """``own`` over ``defaults``, recursively; an explicit ``None`` in ``own`` clears the default."""
    merged = _deep_merge(dict(defaults), dict(own or {}))
    tokens = merged.get("max_output_tokens")
    framework = merged.get("agent_framework") or {}
    return AgentConfiguration(
        max_output_tokens=tokens if isinstance(tokens, int) else None,
        agent_framework=MappingProxyType(dict(framework)),
    )


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _deep_merge(dict(base[key]), value)
        else:
            base[key] = value
    return base


def resolve_timeout(
    own: float | None, config: AppConfig, environ: Mapping[str, str], problems: Problems, app_dir: Path
) -> float:
    """Front matter, else config, else the environment, else 900 seconds."""
    if own is not None:
        return own
    if config.timeout is not None:
        return config.timeout
    for name in TIMEOUT_VARIABLES:
        raw = (environ.get(name) or "").strip()
        if raw:
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if value > 0:
                return value
            problems.add(
                app_dir, 0, f"environment variable {name}: expected a positive number of seconds, got {raw!r}"
            )
    return DEFAULT_TIMEOUT


def read_system_tools(reader: Reader, path: KeyPath) -> dict[str, bool]:
    """An agent's ``system_tools``: ``{name: true/false}`` switches."""
    value = reader.keys(path, {k: f"true or false ({v})" for k, v in SYSTEM_TOOLS.items()}, "system_tools")
    out: dict[str, bool] = {}
    for name in value or {}:
        if name in SYSTEM_TOOLS:
            switch = reader.boolean((*path, name))
            if switch is not None:
                out[name] = switch
    return out


def _config_system_tools(reader: Reader) -> dict[str, Any]:
    path: KeyPath = ("system_tools",)
    value = reader.keys(path, SYSTEM_TOOLS, "system_tools")
    out: dict[str, Any] = {}
    if value is None:
        return out
    interpreter = (*path, "dynamic_sessions_code_interpreter")
    form = {"endpoint": "the session pool endpoint URL", "client_id": "a managed identity client id"}
    if reader.keys(interpreter, form, "dynamic_sessions_code_interpreter") is not None:
        endpoint = reader.string((*interpreter, "endpoint"), form["endpoint"], required=True)
        out["dynamic_sessions_code_interpreter"] = {
            "endpoint": endpoint,
            "client_id": reader.string((*interpreter, "client_id")),
        }
        if endpoint is not None and not endpoint_allowed(endpoint):
            # A sample's unset `$ACA_SESSION_POOL_ENDPOINT` lands here: not an error.
            reader.warn(
                (*interpreter, "endpoint"),
                f"{endpoint!r} is not an https://<pool>.dynamicsessions.io endpoint: agents run "
                "execute_python in agentdown's local sandbox instead",
            )
    web = (*path, "web_request")
    raw = reader.get(web)
    if isinstance(raw, dict):
        web_form = {
            "allowed_hosts": "a list of host names (*.example.com: its subdomains)",
            "require_https": "true or false",
            "timeout_seconds": "a number of seconds",
            "max_response_bytes": "a number of bytes",
            "max_request_bytes": "a number of bytes",
            "max_redirects": "how many redirects to follow (agentdown's addition; 0: none)",
        }
        reader.keys(web, web_form, "web_request")
        try:
            parse_web_settings(raw, "web_request")
        except ValueError as exc:
            reader.error(web, str(exc).removeprefix("web_request: "))
        else:
            out["web_request"] = dict(raw)
    elif raw is not MISSING and raw is not None:
        switch = reader.boolean(web)
        if switch is not None:
            out["web_request"] = switch
    return out


def environ_snapshot(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    """``environ`` or a copy of the process environment (loading never sees it change midway)."""
    return dict(os.environ) if environ is None else environ
