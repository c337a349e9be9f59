"""System tools: ``web_request`` and OpenAPI operations behind one SSRF guard."""

from agentdown.tools.system.openapi import OpenApiOperationTool, openapi_tools, openapi_tools_from_definition
from agentdown.tools.system.openapi_auth import AnonymousAuth, ApiKeyAuth, ManagedIdentityAuth, OpenApiAuth
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
