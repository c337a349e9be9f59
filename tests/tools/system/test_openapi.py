"""OpenAPI tools against a loopback server: parameters, JSON bodies, $refs, auth, the guard."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from web_test_servers import LOOPBACK_V4, Served, fake_dns, serve

from agentdown.messages import Content
from agentdown.tools import Tool, invoke_tool_call
from agentdown.tools.system import (
    ApiKeyAuth,
    ManagedIdentityAuth,
    OpenApiOperationTool,
    openapi_tools,
    openapi_tools_from_definition,
)

SPEC = """
openapi: 3.0.3
info: {title: Pets, version: "1"}
servers:
  - url: http://{host}/v1
    variables: {host: {default: "pets.test:PORT"}}
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
  parameters:
    PetId: {name: petId, in: path, required: true, schema: {type: integer}}
  schemas:
    Pet:
      type: object
      required: [name]
      additionalProperties: false
      properties:
        name: {type: string}
        tags: {type: array, items: {$ref: '#/components/schemas/Tag'}}
        parent: {$ref: '#/components/schemas/Pet'}
    Tag: {type: string, enum: [cat, dog]}
security: [{key: []}]
paths:
  /pets/{petId}:
    parameters: [{$ref: '#/components/parameters/PetId'}]
    get:
      operationId: getPet
      summary: Get a pet
      parameters:
        - {name: verbose, in: query, schema: {type: boolean}}
        - {name: X-Trace, in: header, schema: {type: string}}
    put:
      operationId: updatePet
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/Pet'}}}
  /pets:
    get:
      parameters: [{name: tag, in: query, schema: {type: array, items: {type: string}}}]
  /files/{name}:
    get:
      operationId: getFile
      parameters: [{name: name, in: path, required: true, schema: {type: string}}]
  /health:
    get: {operationId: health, security: []}
  /upload:
    post:
      operationId: upload
      requestBody: {content: {application/octet-stream: {schema: {type: string, format: binary}}}}
"""


async def _echo(request: web.Request) -> web.Response:
    if request.path.endswith("/pets/404"):
        return web.json_response({"message": "no such pet"}, status=404)
    return web.json_response(
        {
            "method": request.method,
            "path": request.raw_path.split("?")[0],
            "match": dict(request.match_info),
            "query": [list(kv) for kv in request.query.items()],
            "headers": dict(request.headers),
            "body": (await request.read()).decode(),
        }
    )


ROUTES = {f"{m} {p}": _echo for m in ("GET", "PUT", "POST") for p in ("/v1/{tail:.*}",)}


@pytest.fixture
async def server() -> AsyncIterator[Served]:
    async with serve(ROUTES) as served:
        yield served


def _tools(served: Served, spec: str = SPEC, **kwargs: Any) -> dict[str, OpenApiOperationTool]:
    kwargs.setdefault("auth", ApiKeyAuth("k-123"))
    tools = openapi_tools(
        "pets",
        spec.replace("PORT", str(served.port)),
        require_https=False,
        allow_addresses=LOOPBACK_V4,
        resolve_host=fake_dns({"pets.test": ["127.0.0.1"]}),
        **kwargs,
    )
    return {t.name: t for t in tools}


async def test_operations_become_tools_with_their_parameters(
    server: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        tools = _tools(server)
    assert list(tools) == ["pets_getPet", "pets_updatePet", "pets_get_pets", "pets_getFile", "pets_health"]
    assert "upload" in caplog.text and "only JSON request bodies" in caplog.text  # skipped, said so
    assert all(isinstance(t, Tool) for t in tools.values())
    get = tools["pets_getPet"]
    assert get.description == "Get a pet"
    assert get.parameters["required"] == ["petId"]
    assert set(get.parameters["properties"]) == {"petId", "verbose", "X-Trace"}
    assert get.parameters["properties"]["petId"]["type"] == "integer"
    body = tools["pets_updatePet"].parameters["properties"]["body"]
    assert body["properties"]["tags"]["items"] == {"type": "string", "enum": ["cat", "dog"]}  # $ref resolved
    assert body["properties"]["parent"] == {"description": "(recursive: any value)"}  # a finite schema
    assert tools["pets_updatePet"].parameters["required"] == ["petId", "body"]


async def test_path_query_header_params_and_the_api_key(server: Served) -> None:
    result = await _tools(server)["pets_getPet"].invoke({"petId": 7, "verbose": True, "X-Trace": "t1"})
    assert result["status"] == 200
    seen = result["body"]
    assert seen["path"] == "/v1/pets/7"
    assert seen["query"] == [["verbose", "true"]]
    assert seen["headers"]["X-Trace"] == "t1"
    assert seen["headers"]["X-Api-Key"] == "k-123"
    assert result["url"] == f"http://pets.test:{server.port}/v1/pets/7"


async def test_json_body_arrays_and_public_operations(server: Served) -> None:
    tools = _tools(server)
    put = await tools["pets_updatePet"].invoke({"petId": 1, "body": {"name": "Rex", "tags": ["dog"]}})
    assert put["body"]["method"] == "PUT"
    assert put["body"]["headers"]["Content-Type"] == "application/json"
    assert json.loads(put["body"]["body"]) == {"name": "Rex", "tags": ["dog"]}
    listed = await tools["pets_get_pets"].invoke({"tag": ["a", "b"]})
    assert listed["body"]["query"] == [["tag", "a"], ["tag", "b"]]
    health = await tools["pets_health"].invoke({})
    assert "X-Api-Key" not in health["body"]["headers"]  # security: [] is public


async def test_path_parameters_cannot_climb_out_of_their_segment(server: Served) -> None:
    tool = _tools(server)["pets_getFile"]
    climbed = await tool.invoke({"name": "../../admin?x=1#y"})
    assert climbed["body"]["path"] == "/v1/files/..%2F..%2Fadmin%3Fx%3D1%23y"
    assert climbed["body"]["match"] == {"tail": "files/../../admin?x=1#y"}
    for bad in ("..", ".", ""):
        result = await tool.invoke({"name": bad})
        assert result["reason"] == "invalid_arguments"


async def test_bad_arguments_and_http_errors_are_readable_results(server: Served) -> None:
    tools = _tools(server)
    wrong_type = await tools["pets_getPet"].invoke({"petId": "seven"})
    assert wrong_type["reason"] == "invalid_arguments" and "petId" in wrong_type["error"]
    missing = await tools["pets_updatePet"].invoke({"petId": 1})
    assert missing["reason"] == "invalid_arguments" and "body" in missing["error"]
    bad_body = await tools["pets_updatePet"].invoke({"petId": 1, "body": {"name": "x", "tags": ["fish"]}})
    assert bad_body["reason"] == "invalid_arguments" and "fish" in bad_body["error"]
    outcome = await invoke_tool_call(
        tools["pets_getPet"], Content.from_tool_call("pets_getPet", {"petId": 1, "extra": 2}, call_id="c1")
    )
    assert outcome.result.is_error and "extra" in str(outcome.result.text)
    not_found = await tools["pets_getPet"].invoke({"petId": 404})
    assert not_found["status"] == 404 and not_found["body"] == {"message": "no such pet"}
    assert len([h for h in server.hits if "404" in h.path]) == 1


async def test_api_keys_in_query_and_cookie(server: Served) -> None:
    for placement, check in (
        ("{type: apiKey, in: query, name: api_key}", lambda seen: ["api_key", "k-123"] in seen["query"]),
        ("{type: apiKey, in: cookie, name: sid}", lambda seen: seen["headers"]["Cookie"] == "sid=k-123"),
        ("{type: http, scheme: bearer}", lambda seen: seen["headers"]["Authorization"] == "Bearer k-123"),
    ):
        spec = SPEC.replace("{type: apiKey, in: header, name: X-Api-Key}", placement)
        result = await _tools(server, spec)["pets_getPet"].invoke({"petId": 1})
        assert check(result["body"]), (placement, result["body"])
        assert "k-123" not in result["url"]


@dataclass
class _Token:
    token: str
    expires_on: int


class StandInCredential:
    """A stand-in for an azure.identity credential: Entra ID cannot run here."""

    def __init__(self, fail: bool = False) -> None:
        self.scopes: list[str] = []
        self.fail = fail

    async def get_token(self, *scopes: str) -> _Token:
        self.scopes += scopes
        if self.fail:
            raise RuntimeError("internal detail: tenant 1234 unreachable")
        return _Token("tok-1", 4_000_000_000)


async def test_managed_identity_sends_a_cached_bearer_token(server: Served) -> None:
    credential = StandInCredential()
    tools = _tools(server, auth=ManagedIdentityAuth("https://pets.example", credential))
    first = await tools["pets_getPet"].invoke({"petId": 1})
    second = await tools["pets_getPet"].invoke({"petId": 2})
    assert first["body"]["headers"]["Authorization"] == "Bearer tok-1"
    assert second["status"] == 200
    assert credential.scopes == ["https://pets.example/.default"]
    failing = _tools(server, auth=ManagedIdentityAuth("api://pets", StandInCredential(fail=True)))
    failed = await failing["pets_getPet"].invoke({"petId": 1})
    assert failed["reason"] == "auth_failed" and "1234" not in failed["error"]


async def test_definitions_of_the_agents_api_and_its_sdk(server: Served) -> None:
    from azure.ai.agents.models import (
        OpenApiConnectionAuthDetails,
        OpenApiConnectionSecurityScheme,
        OpenApiTool,
    )

    spec = json.loads(json.dumps(__import__("yaml").safe_load(SPEC.replace("PORT", str(server.port)))))
    sdk = OpenApiTool(
        name="pets",
        description="A pet store",
        spec=spec,
        auth=OpenApiConnectionAuthDetails(
            security_scheme=OpenApiConnectionSecurityScheme(connection_id="conn-1")
        ),
        default_parameters=[],
    )
    definition = sdk.definitions[0].as_dict()
    assert definition["type"] == "openapi"
    common: dict[str, Any] = {
        "require_https": False,
        "allow_addresses": LOOPBACK_V4,
        "resolve_host": fake_dns({"pets.test": ["127.0.0.1"]}),
    }
    tools = openapi_tools_from_definition(definition, connections={"conn-1": "from-conn"}, **common)
    result = await tools[0].invoke({"petId": 3})
    assert result["body"]["headers"]["X-Api-Key"] == "from-conn"
    assert "A pet store" in tools[0].description
    with pytest.raises(ValueError, match="conn-1"):
        openapi_tools_from_definition(definition, **common)
    managed = {
        "type": "openapi",
        "openapi": {
            "name": "pets",
            "spec": spec,
            "auth": {"type": "managed_identity", "security_scheme": {"audience": "api://pets"}},
        },
    }
    credential = StandInCredential()
    mi = openapi_tools_from_definition(managed, credential=credential, **common)
    assert (await mi[0].invoke({"petId": 3}))["body"]["headers"]["Authorization"] == "Bearer tok-1"
    anonymous = openapi_tools_from_definition(
        {"name": "pets", "spec": spec, "auth": {"type": "anonymous"}}, **common
    )
    assert "X-Api-Key" not in (await anonymous[0].invoke({"petId": 3}))["body"]["headers"]


async def test_default_params_are_sent_and_hidden(server: Served) -> None:
    spec = SPEC.replace(
        "{name: verbose, in: query, schema: {type: boolean}}",
        "{name: verbose, in: query, schema: {type: boolean, default: true}}",
    )
    tool = _tools(server, spec, default_params=["verbose"])["pets_getPet"]
    assert "verbose" not in tool.parameters["properties"]
    assert (await tool.invoke({"petId": 1}))["body"]["query"] == [["verbose", "true"]]


async def test_a_server_url_at_a_refused_address_is_refused_at_call_time() -> None:
    for url, dns, reason in (
        ("http://169.254.169.254/latest", {}, "metadata"),
        ("http://127.0.0.1:9/v1", {}, "loopback"),
        ("http://intranet.test/v1", {"intranet.test": ["10.0.0.7"]}, "private"),
        ("http://0x7f.1/v1", {}, "non_canonical_ip"),
    ):
        spec = SPEC.replace("http://{host}/v1", url)
        tools = openapi_tools(
            "pets", spec, auth=ApiKeyAuth("k"), require_https=False, resolve_host=fake_dns(dns)
        )
        result = await tools[0].invoke({"petId": 1})
        assert result["reason"] == reason, (url, result)
    https_only = openapi_tools(
        "pets", SPEC.replace("http://{host}/v1", "http://api.test/v1"), auth=ApiKeyAuth("k")
    )
    assert (await https_only[0].invoke({"petId": 1}))["reason"] == "https_required"


def test_specs_that_cannot_work_are_refused() -> None:
    spec = SPEC.replace("PORT", "8080")
    remote = spec.replace("$ref: '#/components/schemas/Tag'", "$ref: 'https://evil.test/tag.yaml#/Tag'")
    with pytest.raises(ValueError, match="remote \\$ref"):
        openapi_tools("pets", remote)
    with pytest.raises(ValueError, match="remote \\$ref"):
        openapi_tools("pets", spec.replace("$ref: '#/components/schemas/Tag'", "$ref: 'tag.yaml'"))
    with pytest.raises(ValueError, match="points at nothing"):
        openapi_tools("pets", spec.replace("#/components/schemas/Tag", "#/components/schemas/Nope"))
    with pytest.raises(ValueError, match="OpenAPI 3"):
        openapi_tools("pets", {"swagger": "2.0", "paths": {}})
    for server in ("/relative", "http://api.test:port/", "http://{unset}/"):
        with pytest.raises(ValueError, match="servers"):
            openapi_tools("pets", spec.replace("http://{host}/v1", server))
    with pytest.raises(ValueError, match="apiKey"):
        openapi_tools("pets", spec, auth=ApiKeyAuth("k", scheme="other"))
    with pytest.raises(ValueError, match="letters"):
        openapi_tools("pet store", spec)
    with pytest.raises(ValueError, match="not declared"):
        openapi_tools("pets", spec.replace("/health:", "/health/{id}:"))
    with pytest.raises(ValueError, match="unknown setting"):
        openapi_tools("pets", spec, max_bytes=3)
