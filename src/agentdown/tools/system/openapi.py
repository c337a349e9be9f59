"""OpenAPI 3 operations as tools, every call through ``web_request``'s guard, caps and timeouts.

One tool per operation, named ``<api name>_<operationId>`` (else method and path,
sanitized), as the Azure AI Agents service names the functions of an ``openapi`` tool.
The model sees one object schema: path, query, header and cookie parameters by name,
and the JSON request body as ``body``.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from yarl import URL

from agentdown.tools.arguments import JsonSchemaValidator, ToolArgumentsError
from agentdown.tools.protocol import check_tool_name
from agentdown.tools.system.openapi_auth import (
    AnonymousAuth,
    ApiKeyAuth,
    AuthFailed,
    ManagedIdentityAuth,
    OpenApiAuth,
    Placement,
    place_api_key,
)
from agentdown.tools.system.openapi_spec import Operation, load_spec, mapping, operations, sanitize
from agentdown.tools.system.ssrf import AddressPolicy, HostLookup, IPNetwork
from agentdown.tools.system.web_client import OutgoingRequest, error_result, send
from agentdown.tools.system.web_settings import WebSettings, parse_web_settings

if TYPE_CHECKING:
    from agentdown.tools.context import FunctionInvocationContext

__all__ = ["OpenApiOperationTool", "openapi_tools", "openapi_tools_from_definition"]


class _Api:
    """What the tools of one spec share: base URL, auth, settings and the guard's policy."""

    def __init__(
        self,
        base: URL,
        auth: OpenApiAuth,
        placement: Placement | None,
        settings: WebSettings,
        policy: AddressPolicy,
        lookup: HostLookup | None,
        tls: ssl.SSLContext | None,
    ) -> None:
        self.base, self.auth, self.placement = base, auth, placement
        self.settings, self.policy, self.lookup, self.tls = settings, policy, lookup, tls


def _query_values(value: Any, explode: bool) -> list[str]:
    if isinstance(value, list):
        items = [_scalar(v) for v in value]
        return items if explode else [",".join(items)]
    return [_scalar(value)]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class OpenApiOperationTool:
    """One OpenAPI operation (satisfies :class:`agentdown.tools.Tool`)."""

    kind = "openapi"
    approval_mode = "never_require"

    def __init__(
        self, name: str, description: str, operation: Operation, api: _Api, defaults: Mapping[str, Any]
    ) -> None:
        self.name = name
        self.description = description
        self.operation = operation
        self.additional_properties: dict[str, Any] = {"method": operation.method, "path": operation.path}
        self._api = api
        self._defaults = dict(defaults)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for param in operation.parameters:
            if param.argument in self._defaults:
                continue
            properties[param.argument] = {
                **param.schema,
                "description": f"({param.location} parameter {param.name!r}) {param.schema.get('description', '')}".strip(),
            }
            if param.required:
                required.append(param.argument)
        if operation.body_argument is not None:
            properties[operation.body_argument] = operation.body_schema or {}
            if operation.body_required:
                required.append(operation.body_argument)
        self._parameters: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            self._parameters["required"] = required
        self._validator = JsonSchemaValidator(self._parameters, f"tool {name!r}")

    @property
    def parameters(self) -> dict[str, Any]:
        return self._parameters

    def _request(self, arguments: Mapping[str, Any]) -> OutgoingRequest | dict[str, Any]:
        op = self.operation
        values = {**self._defaults, **arguments}
        path = op.path
        query: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for param in op.parameters:
            if param.argument not in values or values[param.argument] is None:
                continue
            value = values[param.argument]
            if param.location == "path":
                text = _scalar(value)
                if text in ("", ".", ".."):
                    return error_result(
                        "invalid_arguments", f"path parameter {param.argument!r} cannot be {text!r}"
                    )
                path = path.replace("{" + param.name + "}", quote(text, safe=""))
            elif param.location == "query":
                query += [(param.name, v) for v in _query_values(value, param.style_explode)]
            elif param.location == "header":
                headers[param.name] = _scalar(value)
            else:
                cookies.append(f"{param.name}={quote(_scalar(value), safe='')}")
        body: bytes | None = None
        if op.body_argument is not None and values.get(op.body_argument) is not None:
            body = json.dumps(values[op.body_argument]).encode("utf-8")
            headers["Content-Type"] = op.body_media_type
        base = str(self._api.base).rstrip("/")
        url = URL(base + quote(path, safe="/%:@!$&'()*+,;=-._~"), encoded=True)
        if query:
            url = url.extend_query(query)
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        return OutgoingRequest(op.method, url, headers, body)

    async def _authenticate(self, request: OutgoingRequest) -> None:
        auth, placement = self._api.auth, self._api.placement
        if isinstance(auth, AnonymousAuth) or self.operation.security == []:
            return  # `security: []` marks an operation as public
        if isinstance(auth, ManagedIdentityAuth):
            token = await auth.token()
            placement, secret = Placement("header", "Authorization", "Bearer "), token
        else:
            assert placement is not None
            secret = auth.key
        value = placement.prefix + secret
        if placement.location == "header":
            request.headers[placement.name] = value
            request.secret_headers = request.secret_headers | {placement.name}
        elif placement.location == "query":
            request.url = request.url.extend_query({placement.name: value})
        else:
            cookie = f"{placement.name}={value}"
            existing = request.headers.get("Cookie")
            request.headers["Cookie"] = f"{existing}; {cookie}" if existing else cookie

    async def invoke(
        self, arguments: Mapping[str, Any], context: FunctionInvocationContext | None = None
    ) -> dict[str, Any]:
        """Call the operation; the ``web_request`` result, or ``{"error", "reason"}``."""
        try:
            self._validator.validate(self.name, arguments)
        except ToolArgumentsError as exc:
            return error_result("invalid_arguments", str(exc))
        request = self._request(arguments)
        if isinstance(request, dict):
            return request
        try:
            await self._authenticate(request)
        except AuthFailed as exc:
            return error_result("auth_failed", str(exc))
        api = self._api
        return await send(request, api.settings, policy=api.policy, lookup=api.lookup, tls=api.tls)

    def __repr__(self) -> str:
        return f"OpenApiOperationTool({self.name!r}, {self.operation.method} {self.operation.path})"


def _server_url(spec: Mapping[str, Any], override: str | None) -> URL:
    if override is not None:
        raw = override
    else:
        servers = spec.get("servers")
        first = mapping(servers[0] if isinstance(servers, list) and servers else None)
        raw = str(first.get("url") or "")
        variables = mapping(first.get("variables"))
        for var, info in variables.items():
            if isinstance(info, Mapping) and "default" in info:
                raw = raw.replace("{" + str(var) + "}", str(info["default"]))
    try:
        url = URL(raw)
        usable = (
            url.scheme in ("http", "https") and bool(url.host) and "{" not in raw and url.port is not None
        )
    except ValueError:
        usable = False
    if not usable:
        raise ValueError(
            f"the OpenAPI spec's servers[0].url must be an absolute http(s) URL, got {raw!r}; pass server_url=..."
        )
    return url


def _check_path_params(op: Operation) -> None:
    declared = {p.name for p in op.parameters if p.location == "path"}
    missing = [n for n in re.findall(r"{([^}]+)}", op.path) if n not in declared]
    if missing:
        raise ValueError(f"{op.method} {op.path}: path parameter(s) {', '.join(missing)} are not declared")


def openapi_tools(
    name: str,
    spec: Mapping[str, Any] | str,
    *,
    description: str | None = None,
    auth: OpenApiAuth | None = None,
    default_params: Iterable[str] = (),
    server_url: str | None = None,
    allow_addresses: Iterable[str | IPNetwork] = (),
    resolve_host: HostLookup | None = None,
    tls: ssl.SSLContext | None = None,
    **web_settings: Any,
) -> list[OpenApiOperationTool]:
    """One tool per operation of ``spec`` (a dict, or JSON or YAML text).

    ``web_settings`` are ``web_request``'s (``allowed_hosts``, ``require_https``,
    ``timeout_seconds``, ``max_response_bytes``, ``max_request_bytes``,
    ``max_redirects``). ``default_params`` names parameters sent with their spec
    ``default`` and not shown to the model. ``server_url`` replaces ``servers[0].url``.
    ``allow_addresses``, ``resolve_host`` and ``tls`` are for tests (see
    :func:`~agentdown.tools.system.web_request_tool`). Raises ``ValueError`` for a
    spec, name or setting that cannot work.
    """
    api_name = sanitize(name)
    if api_name != name:
        raise ValueError(f"OpenAPI tool name {name!r} must use only letters, digits, '_' and '-'")
    settings = parse_web_settings(dict(web_settings), f"OpenAPI tool {name!r}")
    loaded = load_spec(spec)
    chosen: OpenApiAuth = auth if auth is not None else AnonymousAuth()
    placement = None
    if isinstance(chosen, ApiKeyAuth):
        schemes = mapping(mapping(loaded.get("components")).get("securitySchemes"))
        _, placement = place_api_key(schemes, chosen.scheme)
    api = _Api(
        _server_url(loaded, server_url),
        chosen,
        placement,
        settings,
        AddressPolicy.allowing(allow_addresses),
        resolve_host,
        tls,
    )
    wanted_defaults = set(default_params)
    tools: list[OpenApiOperationTool] = []
    seen: set[str] = set()
    for op in operations(loaded):
        _check_path_params(op)
        tool_name = check_tool_name(f"{name}_{op.operation_id}"[:64], f"operation {op.method} {op.path}")
        if tool_name in seen:
            raise ValueError(f"two operations of OpenAPI tool {name!r} are both named {tool_name!r}")
        seen.add(tool_name)
        defaults: dict[str, Any] = {}
        for param in op.parameters:
            if param.name in wanted_defaults:
                if "default" not in param.schema:
                    raise ValueError(f"default_params names {param.name!r} but the spec gives it no default")
                defaults[param.argument] = param.schema["default"]
        text = op.summary if description is None else f"{op.summary}\n\nPart of the {name} API: {description}"
        tools.append(OpenApiOperationTool(tool_name, text, op, api, defaults))
    if not tools:
        raise ValueError(f"the OpenAPI spec of {name!r} has no operations that can be called")
    return tools


def _auth_from_definition(auth: Any, connections: Mapping[str, str], credential: Any) -> OpenApiAuth:
    if auth is None:
        return AnonymousAuth()
    if not isinstance(auth, Mapping):
        raise ValueError("openapi.auth must be an object with a type")
    kind = auth.get("type")
    scheme = mapping(auth.get("security_scheme"))
    if kind == "anonymous":
        return AnonymousAuth()
    if kind == "connection":
        connection = str(scheme.get("connection_id") or "")
        if connection not in connections:
            raise ValueError(
                f"openapi auth 'connection' needs the API key of connection {connection!r}: pass connections={{id: key}}"
            )
        return ApiKeyAuth(connections[connection])
    if kind == "managed_identity":
        audience = scheme.get("audience")
        if not isinstance(audience, str) or not audience:
            raise ValueError("openapi auth 'managed_identity' needs security_scheme.audience")
        return ManagedIdentityAuth(audience, credential)
    raise ValueError(f"openapi.auth.type must be anonymous, connection or managed_identity, got {kind!r}")


def openapi_tools_from_definition(
    definition: Mapping[str, Any],
    *,
    connections: Mapping[str, str] | None = None,
    credential: Any = None,
    **kwargs: Any,
) -> list[OpenApiOperationTool]:
    """Tools from an Agents API ``openapi`` tool definition.

    ``{"type": "openapi", "openapi": {"name", "description", "spec", "auth", "default_params"}}``
    (or the inner object), ``auth`` being ``{"type": "anonymous"}``,
    ``{"type": "connection", "security_scheme": {"connection_id"}}`` (the key from
    ``connections``) or ``{"type": "managed_identity", "security_scheme": {"audience"}}``
    (``credential``, else ``DefaultAzureCredential``). ``kwargs`` go to :func:`openapi_tools`.
    """
    inner = definition.get("openapi")
    body = inner if isinstance(inner, Mapping) else definition
    name, spec = body.get("name"), body.get("spec")
    if not isinstance(name, str) or spec is None:
        raise ValueError("an openapi tool definition needs openapi.name and openapi.spec")
    auth = _auth_from_definition(body.get("auth"), connections or {}, credential)
    description = body.get("description")
    return openapi_tools(
        name,
        spec if isinstance(spec, str) else dict(spec),
        description=str(description) if description else None,
        auth=auth,
        default_params=[str(p) for p in body.get("default_params") or []],
        **kwargs,
    )
