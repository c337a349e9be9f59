"""HTTP-trigger agents: body -> prompt, input_schema, validated JSON answers, text answers, routes."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from serverkit import agent_md, live_server, post_json, write_app

from agentdown.app.catalog import load_app
from agentdown.exceptions import ConfigurationError
from agentdown.messages import Message
from agentdown.runtime import Runner
from agentdown.server import Keys, ServerSettings, create_app
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import CallInfo, Reply, ScriptedModel

SUMMARIZER = agent_md(
    """
name: Summarizer
description: Summarizes text.
trigger:
  type: http_trigger
  args: {route: summarize, methods: [POST], auth_level: anonymous}
input_schema:
  type: object
  properties: {text: {type: string}}
  required: [text]
response_schema:
  type: object
  properties: {summary: {type: string}, words: {type: integer}}
  required: [summary, words]
"""
)
ECHO = agent_md(
    """
name: Echo
description: Answers in text.
trigger: {type: http_trigger, args: {route: "items/{id:int}", methods: [GET, POST], auth_level: function}}
"""
)


def summarize(messages: list[Message], info: CallInfo) -> Reply:
    prompt = next(m.text for m in messages if m.role == "user")
    if not any(m.role == "assistant" for m in messages):
        return "Sure! Here is a summary."  # not JSON: the run loop asks again
    data = json.loads(prompt.split("```json\n")[1].split("\n```")[0])
    return json.dumps({"summary": data["text"][:5], "words": len(data["text"].split())})


async def test_structured_answer_through_the_retry(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"summarizer.agent.md": SUMMARIZER})
    async with live_server(app, summarize) as live, aiohttp.ClientSession() as http:
        status, headers, body = await post_json(http, f"{live.url}/summarize", {"text": "one two three"})
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert body == {"summary": "one t", "words": 3}
        assert headers["x-ms-session-id"]
        first_prompt = live.fake.requests[0].body["messages"][-1]["content"]
        assert first_prompt == 'HTTP request data:\n```json\n{"text": "one two three"}\n```'
        assert len(live.fake.requests) == 2  # the invalid first answer was retried

        status, _, error = await post_json(http, f"{live.url}/summarize", {"txt": "x"})
        assert status == 400
        # The Azure Functions agents runtime's shape: a fixed "error", the reason in "details".
        assert error == {
            "error": "Input validation failed",
            "code": "invalid_input",
            "details": "'text' is a required property",
        }
        status, _, error = await post_json(http, f"{live.url}/summarize", {"text": 5})
        assert status == 400 and error["details"] == "5 is not of type 'string' at text"
        async with http.post(
            f"{live.url}/summarize", data="{bad", headers={"content-type": "application/json"}
        ) as r:
            assert r.status == 400 and (await r.json())["code"] == "invalid_json"
        async with http.get(f"{live.url}/summarize") as r:
            assert r.status == 405
        # The Azure Functions route prefix serves it too.
        status, _, body = await post_json(http, f"{live.url}/api/summarize", {"text": "a b"})
        assert status == 200 and body["words"] == 2


async def test_structured_answer_that_never_validates(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"summarizer.agent.md": SUMMARIZER})
    async with (
        live_server(app, lambda messages, info: "no JSON, ever") as live,
        aiohttp.ClientSession() as http,
    ):
        status, _, error = await post_json(http, f"{live.url}/summarize", {"text": "x"})
    # As the Azure Functions agents runtime answers it: 500 with the model's raw answer.
    assert status == 500 and error["error"] == "Agent returned invalid JSON"
    assert error["raw_response"] == "no JSON, ever" and error["code"] == "invalid_output"
    assert "Traceback" not in str(error)


async def test_text_answers_route_parameters_query_and_auth(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"echo.agent.md": ECHO})
    settings = ServerSettings(port=0, keys=Keys(function=("function-key-0123456789",)))

    def echo(messages: list[Message], info: CallInfo) -> Reply:
        return messages[-1].text

    async with live_server(app, echo, settings=settings) as live, aiohttp.ClientSession() as http:
        key = {"x-functions-key": "function-key-0123456789"}
        async with http.get(f"{live.url}/items/7?q=a") as r:
            assert r.status == 401
        async with http.get(f"{live.url}/items/7?q=a&code=function-key-0123456789") as r:
            assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
            text = await r.text()
        assert text == (
            'HTTP request data:\n```json\n{}\n```\n\nRoute parameters:\n```json\n{"id": 7}\n```'
            '\n\nQuery parameters:\n```json\n{"q": "a"}\n```'
        )
        async with http.post(f"{live.url}/items/8", data="plain words", headers=key) as r:
            assert await r.text() == (
                'HTTP request data:\n```json\nplain words\n```\n\nRoute parameters:\n```json\n{"id": 8}\n```'
            )
            session_id = r.headers["x-ms-session-id"]
        async with http.post(
            f"{live.url}/items/8", data="again", headers={**key, "x-ms-session-id": session_id}
        ) as r:
            assert r.headers["x-ms-session-id"] == session_id
        assert len(await live.runner.history("echo", session_id)) == 4
        async with http.get(f"{live.url}/items/x", headers=key) as r:
            assert r.status == 404


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ("agents/x", "starts with 'agents', which the server's own endpoints use"),
        ("v1/things", "starts with 'v1'"),
        ("a/{id?}", "route parameter {id?} is not supported"),
    ],
)
def test_bad_routes_fail_at_start(tmp_path: Path, route: str, message: str) -> None:
    text = agent_md(f'name: T\ndescription: d\ntrigger: {{type: http_trigger, args: {{route: "{route}"}}}}')
    catalog = load_app(write_app(tmp_path, {"t.agent.md": text}), model=ScriptedModel([]), environ={})
    with pytest.raises(ConfigurationError, match=message.replace("{", r"\{").replace("?", r"\?")):
        create_app(catalog, Runner(catalog, SqliteSessionStore(":memory:")), ServerSettings())


def test_two_agents_on_one_route_fail_at_start(tmp_path: Path) -> None:
    text = agent_md("name: T\ndescription: d\ntrigger: {type: http_trigger, args: {route: same}}")
    files = {"a.agent.md": text, "b.agent.md": text}
    catalog = load_app(write_app(tmp_path, files), model=ScriptedModel([]), environ={})
    with pytest.raises(ConfigurationError, match=r"POST /same is already the route of agent 'a'"):
        create_app(catalog, Runner(catalog, SqliteSessionStore(":memory:")), ServerSettings())


TEXT_EXAMPLE = agent_md(
    """
name: Triage
description: Triage a ticket.
trigger: {type: http_trigger, args: {route: triage, methods: [POST], auth_level: anonymous}}
response_example: a JSON object with the ticket's priority and a one-line reason
"""
)


async def test_a_text_response_example_still_answers_json(tmp_path: Path) -> None:
    """A response_example that is not JSON describes the format (as in Azure Functions): the answer is JSON."""
    app = write_app(tmp_path, {"triage.agent.md": TEXT_EXAMPLE})
    reply = '```json\n{"priority": "P1", "reason": "outage"}\n```'
    async with live_server(app, lambda messages, info: reply) as live, aiohttp.ClientSession() as http:
        status, headers, body = await post_json(http, f"{live.url}/triage", {"ticket": "site down"})
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == {"priority": "P1", "reason": "outage"}
