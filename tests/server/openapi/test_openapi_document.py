"""``GET /openapi.json``: a valid OpenAPI 3.1 document naming exactly the routes the app serves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from openapikit import asgi_get, offline_app, write_full_app
from schemathesis.specs.openapi.definitions import OPENAPI_31
from serverkit import HELPER, agent_md, write_app

from agentdown.app.catalog import load_app
from agentdown.exceptions import ConfigurationError
from agentdown.runtime import Runner
from agentdown.server import ServerSettings, create_app
from agentdown.server.openapi import served_operations
from agentdown.server.settings import Keys
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import ScriptedModel

KEY = "fuzz-function-key-0123456789"


def _plain(template: str) -> str:
    return re.sub(r"\{([^{}:]+):[^{}]+\}", r"{\1}", template)


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}


@pytest.mark.parametrize("prefix", ["api", ""])
async def test_the_document_is_valid_openapi_31_and_names_every_served_route(
    tmp_path: Path, prefix: str
) -> None:
    app = offline_app(write_full_app(tmp_path), ServerSettings(api_prefix=prefix))
    status, doc = await asgi_get(app, "/openapi.json")
    assert status == 200
    assert doc["openapi"] == "3.1.0"
    errors = [e.message for e in jsonschema.Draft202012Validator(OPENAPI_31).iter_errors(doc)]
    assert errors == []
    served = {(method, _plain(path)) for method, path in served_operations(app.routes)}
    # Every kind of route is there: chat, prefixed chat, triggers, /v1, Agents API, graphs, MCP.
    for must in [
        ("POST", "/agents/{slug}/chat"),
        ("GET", "/items/{id}"),
        ("POST", "/summarize"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/api/projects/{project}/threads/{thread_id}/runs"),
        ("GET", "/api/projects/{project}/vector_stores/{vector_store_id}/file_batches/{batch_id}/files"),
        ("POST", "/workflows/{name}/runs/{run_id}/responses"),
        ("POST", "/mcp"),
        ("GET", "/openapi.json"),
    ]:
        assert must in served
    assert (("POST", "/api/agents/{slug}/chat") in served) == bool(prefix)
    assert documented(doc) == served
    schema = schemathesis.openapi.from_dict(doc)
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) == len(served)
    assert len({op["operationId"] for ops in doc["paths"].values() for op in ops.values()}) == len(served)


async def test_parameters_are_what_this_app_serves(tmp_path: Path) -> None:
    _, doc = await _doc(tmp_path)
    chat = doc["paths"]["/agents/{slug}/chat"]["post"]
    assert chat["parameters"][0]["schema"]["enum"] == ["weather"]
    graphs = doc["paths"]["/workflows/{name}/runs"]["post"]["parameters"][0]["schema"]["enum"]
    assert sorted(graphs) == ["chain", "triage"]
    item = doc["paths"]["/items/{id}"]["get"]["parameters"][0]
    assert item == {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    summarize = doc["paths"]["/summarize"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert summarize["required"] == ["text"]
    run = doc["paths"]["/api/projects/{project}/threads/{thread_id}/runs"]["post"]
    body = run["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert doc["components"]["schemas"][body]["required"] == ["assistant_id"]
    # /v1 answers 400 for an empty model: the document says it is required and non-empty.
    completion = doc["components"]["schemas"]["CompletionRequest"]
    assert "model" in completion["required"] and completion["properties"]["model"]["minLength"] == 1


async def _doc(tmp_path: Path, settings: ServerSettings | None = None) -> tuple[Any, dict[str, Any]]:
    app = offline_app(write_full_app(tmp_path), settings)
    status, doc = await asgi_get(app, "/openapi.json", {"x-functions-key": KEY})
    assert status == 200, doc
    return app, doc


async def test_security_is_what_the_server_checks(tmp_path: Path) -> None:
    keyed = ServerSettings(keys=Keys(function=(KEY,)))
    app, doc = await _doc(tmp_path, keyed)
    assert set(doc["components"]["securitySchemes"]) >= {"functionKey", "apiKey", "bearer", "code"}
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["paths"]["/summarize"]["post"]["security"] == []  # auth_level: anonymous
    needs_key = [{"apiKey": []}, {"bearer": []}, {"code": []}, {"functionKey": []}]
    assert doc["paths"]["/items/{id}"]["get"]["security"] == needs_key
    assert doc["paths"]["/api/projects/{project}/threads"]["post"]["security"] == needs_key
    # The document itself asks for the key the app's default http_auth asks for.
    status, body = await asgi_get(app, "/openapi.json")
    assert status == 401 and body["code"] == "unauthorized"
    status, _ = await asgi_get(app, "/openapi.json", {"api-key": "wrong"})
    assert status == 401
    # Without keys the server checks none, and the document says so.
    _, open_doc = await _doc(tmp_path / "open")
    assert open_doc["paths"]["/items/{id}"]["get"]["security"] == []


def test_a_trigger_route_cannot_take_the_documents_path(tmp_path: Path) -> None:
    text = agent_md('name: T\ndescription: d\ntrigger: {type: http_trigger, args: {route: "openapi.json"}}')
    catalog = load_app(write_app(tmp_path, {"t.agent.md": text}), model=ScriptedModel([]), environ={})
    with pytest.raises(ConfigurationError, match=r"starts with 'openapi\.json'"):
        create_app(catalog, Runner(catalog, SqliteSessionStore(":memory:")), ServerSettings())


async def test_an_app_without_graphs_or_mcp_documents_only_what_it_serves(tmp_path: Path) -> None:
    app = offline_app(write_app(tmp_path, {"helper.agent.md": HELPER}))
    _, doc = await asgi_get(app, "/openapi.json")
    assert not any(path.startswith("/workflows/") for path in doc["paths"])
    assert documented(doc) == {(m, _plain(p)) for m, p in served_operations(app.routes)}
