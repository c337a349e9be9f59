"""``web_request``: one outbound HTTP(S) request to a public host, as a tool.

The Azure Functions agents runtime's system tool (its
``src/azure_functions_agents/system_tools/web_request.py``): the same name, parameters
(``method``, ``url``, ``headers``, ``query``, ``body``, ``json``), settings and result
``{status, url, content_type, redirect_count, response_headers, body, body_truncated,
body_omitted_reason}``. Unlike its v1 we follow redirects (``max_redirects``, each hop
checked again) and accept ``*.example.com`` in ``allowed_hosts`` (both its design's v2).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from yarl import URL

from agentdown.tools.arguments import JsonSchemaValidator, ToolArgumentsError
from agentdown.tools.system.ssrf import AddressPolicy, HostLookup, IPNetwork
from agentdown.tools.system.web_client import REQUEST_HEADER_DENYLIST, OutgoingRequest, error_result, send
from agentdown.tools.system.web_settings import WebSettings, parse_web_settings

if TYPE_CHECKING:
    from agentdown.tools.context import FunctionInvocationContext

__all__ = ["WebRequestTool", "web_request_tool"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

DESCRIPTION = (
    "Make a single outbound HTTP(S) request to a public host and return a structured JSON result "
    "(status, url, content_type, redirect_count, response_headers, body, body_truncated, "
    "body_omitted_reason).\n"
    "\n"
    "- `method` defaults to GET.\n"
    "- `body` (raw string) and `json` (any JSON value) are mutually exclusive; `json` sets "
    "Content-Type: application/json.\n"
    "- `query` is a dict of additional query-string parameters merged onto `url`.\n"
    "- The response `body` is parsed JSON when the content-type is JSON, otherwise raw text. "
    "Binary responses omit `body` (see `body_omitted_reason`). Oversized responses are truncated, "
    "never a hard error (`body_truncated: true`).\n"
    "- Only public, internet-routable hosts are reachable; internal/private network destinations "
    "are always blocked.\n"
    "- Redirects are followed (up to {redirects}); each hop is checked again. A failure comes back "
    'as {{"error", "reason"}}.'
)

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {"type": "string", "enum": list(METHODS), "default": "GET", "description": "HTTP method."},
        "url": {"type": "string", "description": "Absolute http(s) URL to request."},
        "headers": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Extra request headers (Host, Content-Length and hop-by-hop headers are dropped).",
        },
        "query": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Additional query-string parameters merged onto `url`.",
        },
        "body": {"type": "string", "description": "Raw request body. Exclusive with `json`."},
        "json": {
            "description": "JSON request body (sets Content-Type: application/json). Exclusive with `body`."
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


def _redirect_text(settings: WebSettings) -> str:
    return "none: a 3xx is returned as it is" if settings.max_redirects == 0 else f"{settings.max_redirects}"


class WebRequestTool:
    """The ``web_request`` tool (satisfies :class:`agentdown.tools.Tool`)."""

    name = "web_request"
    kind = "system"
    approval_mode = "never_require"

    def __init__(
        self,
        settings: WebSettings,
        *,
        policy: AddressPolicy,
        lookup: HostLookup | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.description = DESCRIPTION.format(redirects=_redirect_text(settings))
        self.additional_properties: dict[str, Any] = {}
        self._policy = policy
        self._lookup = lookup
        self._tls = tls
        self._validator = JsonSchemaValidator(PARAMETERS, "tool 'web_request'")

    @property
    def parameters(self) -> dict[str, Any]:
        return PARAMETERS

    async def invoke(
        self, arguments: Mapping[str, Any], context: FunctionInvocationContext | None = None
    ) -> dict[str, Any]:
        """Send the request; the result dict, or ``{"error", "reason"}``."""
        try:
            self._validator.validate(self.name, arguments)
        except ToolArgumentsError as exc:
            return error_result("invalid_arguments", str(exc))
        if arguments.get("body") is not None and arguments.get("json") is not None:
            return error_result("invalid_arguments", "`body` and `json` are mutually exclusive")
        try:
            url = URL(str(arguments["url"]))
            query = arguments.get("query")
            if query:
                url = url.extend_query(dict(query))
        except (ValueError, TypeError):
            return error_result("malformed_url", "Request blocked: malformed_url")
        headers = {
            str(k): str(v)
            for k, v in (arguments.get("headers") or {}).items()
            if str(k).lower() not in REQUEST_HEADER_DENYLIST
        }
        body: bytes | None = None
        if arguments.get("json") is not None:
            body = json.dumps(arguments["json"]).encode("utf-8")
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            headers["Content-Type"] = "application/json"
        elif arguments.get("body") is not None:
            body = str(arguments["body"]).encode("utf-8")
        request = OutgoingRequest(str(arguments.get("method") or "GET"), url, headers, body)
        return await send(request, self.settings, policy=self._policy, lookup=self._lookup, tls=self._tls)

    def __repr__(self) -> str:
        return f"WebRequestTool(allowed_hosts={self.settings.allowed_hosts!r})"


def web_request_tool(
    settings: Mapping[str, Any] | bool | None = True,
    *,
    allow_addresses: Iterable[str | IPNetwork] = (),
    resolve_host: HostLookup | None = None,
    tls: ssl.SSLContext | None = None,
) -> WebRequestTool:
    """The ``web_request`` tool for ``system_tools.web_request`` settings.

    ``allow_addresses`` (tests only) lists networks the SSRF guard lets through, e.g.
    ``["127.0.0.0/8"]`` for loopback test servers; ``resolve_host`` replaces the system
    resolver (``async (host) -> [addresses]``, every answer is still checked); ``tls``
    the certificate verification (a test CA). None of these can come from settings,
    front matter or the environment.
    Raises ``ValueError`` for invalid settings (or ``False``: the tool is off).
    """
    return WebRequestTool(
        parse_web_settings(settings),
        policy=AddressPolicy.allowing(allow_addresses),
        lookup=resolve_host,
        tls=tls,
    )
