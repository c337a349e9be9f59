"""Invoking the HTTP functions with the package's own ``func.HttpRequest``."""

from __future__ import annotations

import base64
import json

import azure.functions as func
from _hosting_kit import SAMPLES, Hosted, http

from agentdown.hosting import create_function_app


def _json(response: func.HttpResponse) -> dict[str, object]:
    body: dict[str, object] = json.loads(response.get_body())
    return body


def _events(body: bytes) -> list[dict[str, object]]:
    lines = body.decode().splitlines()
    return [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]


async def test_a_chat_turn_with_a_tool_then_its_history(hosted: Hosted) -> None:
    response = await hosted.call(
        "agent_main_builtin_chat", http("POST", "/agents/main/chat", {"prompt": "time?"})
    )
    assert response.status_code == 200, response.get_body()
    body = _json(response)
    session = str(body["session_id"])
    assert response.headers["x-ms-session-id"] == session
    assert body["response"] == "Done. Tool results: clock: 12:00"
    assert [c["tool_name"] for c in body["tool_calls"]] == ["clock"]  # type: ignore[union-attr,index]
    assert body["model"] == "fake-model"

    again = http("POST", "/agents/main/chat", {"prompt": "again"}, {"x-ms-session-id": session})
    assert (await hosted.call("agent_main_builtin_chat", again)).status_code == 200
    history = await hosted.call(
        "agent_main_builtin_history",
        http("GET", "/agents/main/history", headers={"x-ms-session-id": session}),
    )
    entries = _json(history)["messages"]
    assert [(e["role"], e["text"]) for e in entries] == [  # type: ignore[union-attr,index]
        ("user", "time?"),
        ("assistant", "Done. Tool results: clock: 12:00"),
        ("user", "again"),
        ("assistant", "Done. Tool results: clock: 12:00"),
    ]


async def test_the_stream_answers_the_whole_event_stream(hosted: Hosted) -> None:
    response = await hosted.call(
        "agent_main_builtin_chatstream", http("POST", "/agents/main/chatstream", {"prompt": "t"})
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.get_body())
    kinds = [e["type"] for e in events]
    assert kinds[0] == "session" and kinds[-1] == "done"
    assert {"tool_start", "tool_end", "delta"} <= set(kinds)
    assert events[0]["session_id"] == response.headers["x-ms-session-id"]


async def test_bad_requests_get_our_errors(hosted: Hosted) -> None:
    response = await hosted.call("agent_main_builtin_chat", http("POST", "/agents/main/chat", {"nope": 1}))
    assert response.status_code == 400
    assert _json(response)["code"] == "missing_prompt"
    bad = http("GET", "/agents/main/history", headers={"x-ms-session-id": "no/slashes"})
    assert (await hosted.call("agent_main_builtin_history", bad)).status_code == 400
    empty = await hosted.call("agent_main_builtin_history", http("GET", "/agents/main/history"))
    assert _json(empty) == {"messages": [], "truncated": False}


async def test_the_chat_page(hosted: Hosted) -> None:
    response = await hosted.call("agent_main_builtin_chat_page", http("GET", "/agents/main/"))
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"Main" in response.get_body()
    assert "content-security-policy" in response.headers


async def test_an_http_trigger_validates_its_input(hosted: Hosted) -> None:
    refused = await hosted.call("summarize", http("POST", "/summarize", {"txt": "x"}))
    assert refused.status_code == 400
    body = _json(refused)
    assert body["error"] == "Input validation failed"
    assert "text" in str(body["details"])
    answered = await hosted.call("summarize", http("POST", "/summarize", {"text": "long text"}))
    assert answered.status_code == 200
    assert answered.headers["content-type"].startswith("text/plain")
    assert answered.get_body().decode().startswith("Echo: HTTP request data:")
    assert answered.headers["x-ms-session-id"]


async def test_routes_under_the_default_api_prefix(hosted: Hosted) -> None:
    response = await hosted.call(
        "agent_main_builtin_chat", http("POST", "/api/agents/main/chat", {"prompt": "x"})
    )
    assert response.status_code == 200


async def test_the_openai_compatible_api(hosted: Hosted) -> None:
    request = {"model": "main", "messages": [{"role": "user", "content": "time?"}]}
    response = await hosted.call("agentdown_openai_v1", http("POST", "/v1/chat/completions", request))
    assert response.status_code == 200, response.get_body()
    assert _json(response)["choices"][0]["message"]["content"] == "Done. Tool results: clock: 12:00"  # type: ignore[index]
    models = await hosted.call("agentdown_openai_v1", http("GET", "/v1/models"))
    assert [m["id"] for m in _json(models)["data"]] == ["main"]  # type: ignore[union-attr]


def _principal(tenant: str, audience: str) -> str:
    claims = [{"typ": "tid", "val": tenant}, {"typ": "aud", "val": audience}, {"typ": "oid", "val": "user-1"}]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()


async def test_entra_agents_trust_the_principal_only_behind_app_service_authentication(
    env: dict[str, str],
) -> None:
    settings = {
        **env,
        "FOUNDRY_MODEL": "fake-model",
        "ENTRA_TENANT_ID": "tenant-1",
        "ENTRA_AUDIENCE": "api://agents",
    }
    ask = {"prompt": "hi"}
    good = {"x-ms-client-principal": _principal("tenant-1", "api://agents")}
    untrusted = Hosted(create_function_app(SAMPLES / "secured-endpoints", environ=settings))
    try:
        refused = await untrusted.call(
            "agent_entra_builtin_chat", http("POST", "/agents/entra/chat", ask, good)
        )
        assert refused.status_code == 401
    finally:
        await untrusted.aclose()
    trusted = Hosted(
        create_function_app(
            SAMPLES / "secured-endpoints", environ={**settings, "WEBSITE_AUTH_ENABLED": "True"}
        )
    )
    try:
        missing = await trusted.call("agent_entra_builtin_chat", http("POST", "/agents/entra/chat", ask))
        assert missing.status_code == 401
        other = {"x-ms-client-principal": _principal("tenant-2", "api://agents")}
        forbidden = await trusted.call(
            "agent_entra_builtin_chat", http("POST", "/agents/entra/chat", ask, other)
        )
        assert forbidden.status_code == 403
        answered = await trusted.call(
            "agent_entra_builtin_chat", http("POST", "/agents/entra/chat", ask, good)
        )
        assert answered.status_code == 200, answered.get_body()
    finally:
        await trusted.aclose()
