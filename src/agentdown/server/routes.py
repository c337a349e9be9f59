"""Trigger routes as Starlette paths, and the prefixes the server's own routes use.

Kept free of the server's heavy imports: Azure Functions hosting checks routes while the
host indexes the app (:mod:`agentdown.hosting`), where every import counts.
"""

from __future__ import annotations

import re

from agentdown.exceptions import ConfigurationError

__all__ = ["RESERVED_PREFIXES", "starlette_path"]

RESERVED_PREFIXES = ("agents", "v1", "mcp", "runtime", "healthz", "openapi.json")
"""First path segments the server's own routes use; trigger routes may not start with them."""
_PARAM = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def starlette_path(route: str, where: str) -> str:
    """An Azure Functions route template as a Starlette path (``{id}``, ``{id:int}``, ``{*rest}``)."""

    def convert(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("*") and _NAME.match(inner[1:]):
            return "{" + inner[1:] + ":path}"
        name, _, kind = inner.partition(":")
        if _NAME.match(name) and kind in ("", "int", "float", "alpha", "guid"):
            return "{" + name + (":int" if kind == "int" else ":float" if kind == "float" else "") + "}"
        raise ConfigurationError(
            f"{where}: route parameter {{{inner}}} is not supported; use {{name}}, {{name:int}}, "
            "{name:float} or {*rest}"
        )

    path = "/" + _PARAM.sub(convert, route.strip("/"))
    segments = route.strip("/").lower().split("/")
    if segments[0] == "projects" or segments[:2] == ["api", "projects"]:
        # Trigger routes are served under /api/ too, and /api/projects/... is the Agents API.
        raise ConfigurationError(
            f"{where}: route '{route}' starts with '{'/'.join(segments[: 2 if segments[0] == 'api' else 1])}', "
            "but /api/projects/... is the Azure AI Agents API of this server; choose another route"
        )
    first = segments[0]
    if first in RESERVED_PREFIXES:
        raise ConfigurationError(
            f"{where}: route '{route}' starts with '{first}', which the server's own endpoints use; "
            f"choose a route outside {', '.join('/' + p for p in RESERVED_PREFIXES)}"
        )
    return path
