"""``mcp.json``: the MCP servers of an app, validated with file:line problems.

Accepted format (a superset of the Azure Functions agents runtime's, which reads
``{"servers": {...}}``; VS Code uses the same shape and Claude / Cursor use
``{"mcpServers": {...}}``, so either top-level key is accepted)::

    {
      "servers": {
        "docs":   {"type": "http", "url": "https://example.com/mcp",
                   "headers": {"Authorization": "Bearer $DOCS_TOKEN"},
                   "tools": ["search_*", "fetch"], "timeout": 30},
        "legacy": {"type": "sse", "url": "http://localhost:9000/sse"},
        "local":  {"type": "stdio", "command": "python", "args": ["server.py"],
                   "env": {"API_KEY": "%API_KEY%"}}
      }
    }

Every string value (never a key) gets ``$VAR`` / ``%VAR%`` substitution as in the
rest of the app (:mod:`agentdown.app.substitution`); an unset variable stays literal
and is reported as a warning. The file is strict JSON, like the Azure Functions
runtime reads it: comments and trailing commas are errors.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentdown.app.diagnostics import Problems
from agentdown.app.frontmatter import KeyPath, YamlDoc, format_path, parse_yaml
from agentdown.app.substitution import PLACEHOLDER, has_placeholders, substitute_string
from agentdown.tools.mcp_config import McpAuth, McpServerConfig, McpTransport

__all__ = [
    "McpAuth",
    "McpFile",
    "McpServerConfig",
    "McpTransport",
    "load_mcp_config",
    "load_mcp_file",
    "parse_mcp_config",
    "parse_mcp_file",
]

_TYPES: dict[str, McpTransport] = {
    "http": "streamable-http",
    "streamable-http": "streamable-http",
    "streamable_http": "streamable-http",
    "streamablehttp": "streamable-http",
    "sse": "sse",
    "stdio": "stdio",
    "local": "stdio",
}
_COMMON_KEYS = (
    "type",
    "tools",
    "timeout",
    "connect_timeout",
    "tool_prefix",
    "load_tools",
    "load_prompts",
    "disabled",
)
_HTTP_KEYS = ("url", "headers", "auth")
_STDIO_KEYS = ("command", "args", "env", "cwd")
_KEYS = frozenset(_COMMON_KEYS + _HTTP_KEYS + _STDIO_KEYS)
_TOP_KEYS = ("servers", "mcpServers", "inputs", "$schema")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _show(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Server:
    """Validates one server entry (already substituted), collecting every problem."""

    def __init__(self, path: KeyPath, raw: Mapping[str, Any], doc: YamlDoc, problems: Problems) -> None:
        self.path, self.raw, self.doc, self.problems = path, raw, doc, problems
        self.name = str(path[-1])
        self.errors = 0
        self.skipped = False
        """The URL names an unset variable: the server is left out with a warning."""

    def add(self, key: str | None, message: str) -> None:
        path = self.path if key is None else (*self.path, *key.split("."))
        where = f"server {self.name!r}" + (f": {key}" if key else "")
        self.problems.add(self.doc.file, self.doc.line(path), f"{where}: {message}")
        self.errors += 1

    def string(self, key: str, what: str = "a non-empty string") -> str | None:
        value = self.raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            self.add(key, f"expected {what}, got {_kind(value)} {_show(value)}")
            return None
        return value

    def number(self, key: str) -> float | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.add(key, f"expected a positive number of seconds, got {_show(value)}")
            return None
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.add(key, f"expected true or false, got {_show(value)}")
            return default
        return value

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self.raw.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            self.add(key, f'expected an array of strings such as ["a", "b"], got {_show(value)}')
            return None
        return None if value is None else tuple(value)

    def table(self, key: str) -> dict[str, str]:
        value = self.raw.get(key) or {}
        if not isinstance(value, dict):
            self.add(key, f'expected an object of strings such as {{"NAME": "value"}}, got {_kind(value)}')
            return {}
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, str) or (isinstance(v, int | float) and not isinstance(v, bool)):
                out[k] = str(v)
            elif v is not None:  # null leaves the entry out, as in VS Code
                self.add(f"{key}.{k}", f"expected a string, got {_kind(v)}")
        return out

    def transport(self) -> McpTransport | None:
        declared = self.raw.get("type")
        if declared is not None:
            transport = _TYPES.get(declared.lower()) if isinstance(declared, str) else None
            if transport is None:
                self.add("type", f'expected "http", "sse" or "stdio", got {_show(declared)}')
            return transport
        if "command" in self.raw:
            return "stdio"
        if "url" in self.raw:
            return "streamable-http"
        self.add(None, 'expected "url" (a remote server) or "command" (a local stdio server)')
        return None

    def parse(self, base_dir: Path) -> McpServerConfig | None:
        for key in self.raw:
            if key not in _KEYS:
                hint = " (VS Code's envFile is not supported: use env with $VAR)" if key == "envFile" else ""
                self.add(key, f"unknown key{hint}; expected one of: {', '.join(sorted(_KEYS))}")
        transport = self.transport()
        if transport is None:
            return None
        for key in _HTTP_KEYS if transport == "stdio" else _STDIO_KEYS:
            if key in self.raw:
                self.add(key, f"does not apply to a {transport} server")
        tools = self.strings("tools")
        self.boolean("load_prompts", True)  # accepted for compatibility; agentdown does not load prompts
        self.boolean("disabled", False)
        common: dict[str, Any] = {
            "tools": None if tools is not None and "*" in tools else tools,  # ["*"]: the runtime's "all"
            "timeout": self.number("timeout"),
            "connect_timeout": self.number("connect_timeout"),
            "tool_prefix": self.string("tool_prefix") or "",
            "load_tools": self.boolean("load_tools", True),
            "file": self.doc.file,
            "line": self.doc.line(self.path),
        }
        if transport == "stdio":
            command = self.string("command", "the command to run")
            args, env, cwd = self.strings("args") or (), self.table("env"), self.string("cwd")
            if self.errors or command is None:
                return None
            return McpServerConfig(
                self.name, "stdio", command=command, args=args, env=env, cwd=base_dir / (cwd or ""), **common
            )
        url = self.string("url", "an http:// or https:// URL")
        if url is None and "url" not in self.raw:
            self.add(None, f'a {transport} server needs "url"')
        elif url is not None and has_placeholders(url):
            # As the Azure Functions runtime does: an unresolved URL skips this server, the
            # app still starts. Its agents run without the server's tools (said at load).
            found = (m["dollar"] or m["pct"] for m in PLACEHOLDER.finditer(url))
            names = ", ".join(dict.fromkeys(n for n in found if n)) or url
            self.problems.warn(
                self.doc.file,
                self.doc.line((*self.path, "url")),
                f"server {self.name!r}: url: {names} is not set in the environment, so this server is "
                "skipped (as in the Azure Functions runtime) and agents run without its tools; set it "
                "to use the server",
            )
            self.skipped = True
            return None
        elif url is not None and not re.match(r"https?://[^/\s]+", url):
            self.add("url", f"expected an http:// or https:// URL, got {url!r}")
        headers, auth = self.table("headers"), self.auth()
        if self.errors or url is None:
            return None
        return McpServerConfig(self.name, transport, url=url, headers=headers, auth=auth, **common)

    def auth(self) -> McpAuth | None:
        value = self.raw.get("auth")
        if value is None:
            return None
        scope = value.get("scope") if isinstance(value, dict) else None
        if not isinstance(value, dict) or not isinstance(scope, str) or not scope.strip():
            self.add("auth", 'expected {"scope": "api://<app>/.default"} and optionally "client_id"')
            return None
        for key in value.keys() - {"scope", "client_id"}:
            self.add(f"auth.{key}", 'unknown key; expected "scope" and optionally "client_id"')
        client_id = value.get("client_id")
        if client_id is not None and not isinstance(client_id, str):
            self.add("auth.client_id", f"expected a string, got {_kind(client_id)}")
        if not _installed("azure.identity"):
            self.add("auth", "Entra ID auth needs azure-identity: pip install 'agentdown[azure]'")
        # Like the Azure Functions runtime: an unresolved $VAR client id means the default credential.
        usable = isinstance(client_id, str) and client_id and not has_placeholders(client_id)
        return McpAuth(scope, client_id if usable else None)


def _substitute(
    value: Any, environ: Mapping[str, str], path: KeyPath, notes: list[tuple[KeyPath, str]]
) -> Any:
    if isinstance(value, str):
        unset = [
            n for m in PLACEHOLDER.finditer(value) if (n := m["dollar"] or m["pct"]) and n not in environ
        ]
        if unset:
            names = ", ".join(dict.fromkeys(unset))
            notes.append((path, f"{names}: not set in the environment, so the text stays literal"))
        if "${" in value:
            notes.append((path, "${...} is not substituted: write $VAR or %VAR%"))
        return substitute_string(value, environ)
    if isinstance(value, dict):
        return {k: _substitute(v, environ, (*path, k), notes) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, environ, (*path, i), notes) for i, v in enumerate(value)]
    return value


@dataclass(frozen=True, slots=True)
class McpFile:
    """What one ``mcp.json`` yields."""

    servers: dict[str, McpServerConfig]
    skipped: dict[str, str]
    """Servers left out, by name, with the reason (a URL naming an unset variable)."""
    problems: Problems


def parse_mcp_config(
    text: str, file: Path, environ: Mapping[str, str], *, base_dir: Path | None = None
) -> tuple[dict[str, McpServerConfig], Problems]:
    """The servers of an ``mcp.json`` text, and every problem found (with file:line).

    A server with an error is left out of the result; relative ``cwd`` values and
    the default working directory of stdio servers are ``base_dir`` (else the
    file's folder).
    """
    parsed = parse_mcp_file(text, file, environ, base_dir=base_dir)
    return parsed.servers, parsed.problems


def parse_mcp_file(
    text: str, file: Path, environ: Mapping[str, str], *, base_dir: Path | None = None
) -> McpFile:
    """:func:`parse_mcp_config`, with the servers that were skipped."""
    problems = Problems()
    skipped: dict[str, str] = {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (mcp.json is strict JSON: no comments, no trailing commas)"
        hint = hint if re.search(r"//|/\*|,\s*[}\]]", text) else ""
        problems.add(file, exc.lineno, f"invalid JSON: {exc.msg} at column {exc.colno}{hint}")
        return McpFile({}, skipped, problems)
    # Lines come from PyYAML (JSON is YAML but for tabs, which JSON only allows as spacing).
    scratch = Problems()
    doc = parse_yaml(text.replace("\t", " "), file, 1, scratch) or YamlDoc(data, {}, file, 1)
    problems.extend(scratch if doc.lines else ())
    if not isinstance(data, dict):
        problems.add(file, 1, f'expected a JSON object such as {{"servers": {{...}}}}, got {_kind(data)}')
        return McpFile({}, skipped, problems)
    for key in data.keys() - set(_TOP_KEYS):
        problems.add(
            file, doc.line((key,)), f'unknown top-level key {key!r}; expected "servers" (or "mcpServers")'
        )
    if data.get("inputs"):
        problems.add(
            file, doc.line(("inputs",)), "VS Code's prompted inputs are not supported; use $VAR instead"
        )
    if "servers" in data and "mcpServers" in data:
        problems.add(file, doc.line(("mcpServers",)), 'use either "servers" or "mcpServers", not both')
    top = "servers" if "servers" in data else "mcpServers"
    servers = data.get(top, {})
    if not isinstance(servers, dict):
        problems.add(
            file, doc.line((top,)), f'"{top}" must be an object of named servers, got {_kind(servers)}'
        )
        return McpFile({}, skipped, problems)
    out: dict[str, McpServerConfig] = {}
    for name, raw in servers.items():
        if not isinstance(raw, dict) or not name.strip():
            what = (
                "a name must not be empty"
                if isinstance(raw, dict)
                else f"expected an object, got {_kind(raw)}"
            )
            problems.add(file, doc.line((top, name)), f"server {name!r}: {what}")
            continue
        if raw.get("disabled") is True:
            continue
        notes: list[tuple[KeyPath, str]] = []
        server = _Server((top, name), _substitute(raw, environ, (top, name), notes), doc, problems)
        config = server.parse(base_dir or file.parent)
        if server.skipped:
            skipped[name] = "its url names an unset environment variable"
        for path, note in notes:
            if path[2:] == ("auth", "client_id") or (server.skipped and path[2:] == ("url",)):
                continue  # unset on purpose (the default credential), or said already
            problems.warn(file, doc.line(path), f"server {name!r}: {format_path(path[2:])}: {note}")
        if config is not None:
            out[name] = config
    problems.sort(key=lambda p: p.line)  # stable: file order, then the order of the checks
    return McpFile(out, skipped, problems)


def load_mcp_config(path: Path, environ: Mapping[str, str]) -> tuple[dict[str, McpServerConfig], Problems]:
    """Read and validate ``path`` (an ``mcp.json``); a missing file means no servers and no problems."""
    loaded = load_mcp_file(path, environ)
    return loaded.servers, loaded.problems


def load_mcp_file(path: Path, environ: Mapping[str, str]) -> McpFile:
    """:func:`load_mcp_config`, with the servers that were skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return McpFile({}, {}, Problems())
    except (OSError, UnicodeDecodeError) as exc:
        problems = Problems()
        problems.add(path, 0, f"cannot read the file: {exc}")
        return McpFile({}, {}, problems)
    return parse_mcp_file(text, path, environ, base_dir=path.parent)
