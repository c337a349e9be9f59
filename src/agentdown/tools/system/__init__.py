"""System tools: ``web_request`` and OpenAPI operations behind one SSRF guard.

The names below are imported on first use (PEP 562): loading an app reads
``openapi_auth`` / ``web_settings`` only, and the tools themselves pull in aiohttp, which
is a large share of a Functions cold start (see :mod:`agentdown.lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentdown.lazy import lazy_exports

if TYPE_CHECKING:
    from agentdown.tools.system.openapi import (
        OpenApiOperationTool,
        openapi_tools,
        openapi_tools_from_definition,
    )
    from agentdown.tools.system.openapi_auth import (
        AnonymousAuth,
        ApiKeyAuth,
        ManagedIdentityAuth,
        OpenApiAuth,
    )
    from agentdown.tools.system.web_request import WebRequestTool, web_request_tool
    from agentdown.tools.system.web_settings import WebSettings

__all__ = [
    "AnonymousAuth",
    "ApiKeyAuth",
    "ManagedIdentityAuth",
    "OpenApiAuth",
    "OpenApiOperationTool",
    "WebRequestTool",
    "WebSettings",
    "openapi_tools",
    "openapi_tools_from_definition",
    "web_request_tool",
]

_WHERE = {
    "OpenApiOperationTool": "openapi",
    "openapi_tools": "openapi",
    "openapi_tools_from_definition": "openapi",
    "AnonymousAuth": "openapi_auth",
    "ApiKeyAuth": "openapi_auth",
    "ManagedIdentityAuth": "openapi_auth",
    "OpenApiAuth": "openapi_auth",
    "WebRequestTool": "web_request",
    "web_request_tool": "web_request",
    "WebSettings": "web_settings",
}


__getattr__ = lazy_exports(__name__, _WHERE)
