"""System tools: ``web_request`` and OpenAPI operations behind one SSRF guard."""

from agentdown.tools.system.web_request import WebRequestTool, web_request_tool
from agentdown.tools.system.web_settings import WebSettings

__all__ = ["WebRequestTool", "WebSettings", "web_request_tool"]
