"""``openapi_tools:`` in front matter: spec files of the app become one tool per operation, checked at load."""

from __future__ import annotations

import json

from apphelpers import MakeApp, agent_md, messages, problems_of

from agentdown.app.catalog import load_app

BASE = "name: n\ndescription: d\nbuiltin_endpoints: true\n"
KEY = {"OPENAI_API_KEY": "k"}
SPEC = {
    "openapi": "3.0.0",
    "info": {"title": "Weather", "version": "1", "description": "Forecasts."},
    "servers": [{"url": "https://api.example.com"}],
    "paths": {
        "/forecast/{city}": {
            "get": {
                "operationId": "getForecast",
                "parameters": [
                    {"name": "city", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
    "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "x-api-key"}}},
}


def test_spec_files_become_tools(make_app: MakeApp) -> None:
    front = (
        BASE
        + "openapi_tools:\n  - apis/weather.json\n  - spec: apis/weather.json\n    name: w2\n    auth: {type: api_key, key: $WKEY}\n"
    )
    app = make_app({"a.agent.md": agent_md(front), "apis/weather.json": json.dumps(SPEC)})
    catalog = load_app(app, environ={**KEY, "WKEY": "secret"})
    tools = {t.name: t for t in catalog.build_agent("a").tools}
    assert {"weather_getForecast", "w2_getForecast"} <= set(tools)
    assert tools["weather_getForecast"].parameters["properties"]["city"]["type"] == "string"
    assert messages(problems_of(app, {**KEY, "WKEY": "secret"})) == []


def test_entries_that_cannot_work_are_errors_at_their_line(make_app: MakeApp) -> None:
    front = (
        BASE + "openapi_tools:\n"
        "  - ../outside.json\n"
        "  - apis/missing.json\n"
        "  - apis/swagger.json\n"
        "  - spec: apis/weather.json\n    auth: {type: api_key, key: $UNSET_KEY}\n"
    )
    files = {
        "a.agent.md": agent_md(front),
        "apis/weather.json": json.dumps(SPEC),
        "apis/swagger.json": json.dumps({"swagger": "2.0"}),
    }
    app = make_app(files)
    path = app / "a.agent.md"
    found = messages(problems_of(app, KEY))
    assert len(found) == 4, found
    assert found[0].startswith(f"{path}:6: error: openapi_tools[0]") and "inside the app folder" in found[0]
    assert found[1].startswith(f"{path}:7: error: openapi_tools[1]") and "does not exist" in found[1]
    assert found[2].startswith(f"{path}:8: error: openapi_tools[2]") and "swagger.json" in found[2]
    assert "openapi_tools[3].auth.key" in found[3] and "not set in the environment" in found[3]
