"""Keys and principals at the Agents API's door, and its errors: shapes, statuses, precise messages."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agentskit import APP, APP_IDS, live_api
from azure.ai.agents.models import ThreadMessageOptions
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from serverkit import agent_md, write_app

from agentdown.app.catalog import load_app
from agentdown.client import agents_client, endpoint_of
from agentdown.exceptions import ConfigurationError
from agentdown.runtime import Runner
from agentdown.server import Keys, ServerSettings, create_app
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import ScriptedModel

FUNCTION_KEY = "function-key-0123456789"
MASTER_KEY = "master-key-0123456789ab"
KEYS = Keys(function=(FUNCTION_KEY,), master=MASTER_KEY)


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Mapping[str, str], Any]:
    kwargs: dict[str, Any] = {"headers": headers or {}}
    if isinstance(body, bytes | str):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    async with http.request(method, url, **kwargs) as response:
        return response.status, response.headers.copy(), json.loads(await response.text())


def keyed_scenario(url: str) -> None:
    with pytest.raises(ClientAuthenticationError, match="this endpoint needs an access key"):
        agents_client(url).get_agent("helper")
    with pytest.raises(ClientAuthenticationError, match="the key is not accepted here"):
        agents_client(url, "wrong-key-0123456789").threads.create()
    for key, visible in ((FUNCTION_KEY, APP_IDS), (MASTER_KEY, ["asst_app_boss", *APP_IDS])):
        client = agents_client(url, key)
        assert [a.id for a in client.list_agents(order="asc")] == visible
        thread = client.threads.create(messages=[ThreadMessageOptions(role="user", content="hi")])
        assert len(list(client.messages.list(thread.id))) == 1
    # An app agent is shown only to callers its own http_auth admits.
    with pytest.raises(ResourceNotFoundError):
        agents_client(url, FUNCTION_KEY).get_agent("asst_app_boss")
    assert agents_client(url, MASTER_KEY).get_agent("boss").name == "Boss"


async def test_keys_at_the_door(tmp_path: Path) -> None:
    settings = ServerSettings(port=0, keys=KEYS)
    files = {**APP, "boss.agent.md": agent_md("name: Boss\ndescription: Admins only.\nhttp_auth: admin")}
    async with live_api(tmp_path, settings=settings, files=files) as live, aiohttp.ClientSession() as http:
        await asyncio.to_thread(keyed_scenario, live.url)
        api = f"{live.url}/api/projects/p"
        status, _, body = await call(http, "GET", f"{api}/assistants?api-version=v1")
        assert status == 401
        assert body["error"]["code"] == "unauthorized"
        assert body["error"]["message"].startswith("this endpoint needs an access key")
        status, _, body = await call(
            http, "GET", f"{api}/assistants", headers={"authorization": "Bearer wrong"}
        )
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        # Unknown routes are behind the door too.
        assert (await call(http, "GET", f"{api}/nothing/here"))[0] == 401
        with_boss = [*APP_IDS[::-1], "asst_app_boss"]
        for headers, query, expected in [
            ({"authorization": f"Bearer {FUNCTION_KEY}"}, "", APP_IDS[::-1]),
            ({"api-key": FUNCTION_KEY}, "", APP_IDS[::-1]),
            ({"authorization": f"Bearer {MASTER_KEY}"}, "", with_boss),
            ({}, f"?code={FUNCTION_KEY}", APP_IDS[::-1]),
        ]:
            status, _, body = await call(http, "GET", f"{api}/assistants{query}", headers=headers)
            assert status == 200 and [a["id"] for a in body["data"]] == expected


def principal(oid: str) -> str:
    claims = [{"typ": "oid", "val": oid}, {"typ": "tid", "val": "t1"}]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()


async def test_threads_and_assistants_belong_to_their_principal(tmp_path: Path) -> None:
    settings = ServerSettings(port=0, trust_client_principal=True)
    async with live_api(tmp_path, settings=settings) as live, aiohttp.ClientSession() as http:
        api = f"{live.url}/api/projects/p"
        alice, bob = (
            {"x-ms-client-principal": principal("alice")},
            {"x-ms-client-principal": principal("bob")},
        )
        _, _, thread = await call(http, "POST", f"{api}/threads", {"metadata": {"who": "alice"}}, alice)
        _, _, assistant = await call(http, "POST", f"{api}/assistants", {"model": "m", "name": "mine"}, alice)
        message_url = f"{api}/threads/{thread['id']}/messages"
        assert (await call(http, "POST", message_url, {"role": "user", "content": "hi"}, alice))[0] == 200
        assert "_owner" not in thread and "_owner" not in assistant

        for method, url, body in [
            ("GET", f"{api}/threads/{thread['id']}", None),
            ("POST", f"{api}/threads/{thread['id']}", {"metadata": {"who": "bob"}}),
            ("DELETE", f"{api}/threads/{thread['id']}", None),
            ("GET", message_url, None),
            ("POST", message_url, {"role": "user", "content": "sneaky"}),
            ("GET", f"{api}/assistants/{assistant['id']}", None),
            ("POST", f"{api}/assistants/{assistant['id']}", {"name": "stolen"}),
            ("DELETE", f"{api}/assistants/{assistant['id']}", None),
        ]:
            status, _, answer = await call(http, method, url, body, bob)
            assert (status, answer["error"]["code"]) == (404, "not_found"), (method, url)
        assert (await call(http, "GET", f"{api}/threads", headers=bob))[2]["data"] == []
        _, _, bobs = await call(http, "GET", f"{api}/assistants", headers=bob)
        assert [a["id"] for a in bobs["data"]] == APP_IDS[::-1], "app agents are everyone's"
        # Nor does a caller without a principal see them.
        assert (await call(http, "GET", f"{api}/threads/{thread['id']}"))[0] == 404

        _, _, own = await call(http, "GET", f"{api}/threads/{thread['id']}", headers=alice)
        assert own["metadata"] == {"who": "alice"}
        _, _, page = await call(http, "GET", message_url, headers=alice)
        assert [m["content"][0]["text"]["value"] for m in page["data"]] == ["hi"]
        _, _, listed = await call(http, "GET", f"{api}/assistants?order=asc", headers=alice)
        assert [a["id"] for a in listed["data"]] == [*APP_IDS, assistant["id"]]


def bad_requests_scenario(url: str) -> None:
    client = agents_client(url)
    with pytest.raises(
        HttpResponseError, match=r"metadata: at most 16 key/value pairs are allowed, got 17"
    ) as e:
        client.threads.create(metadata={f"k{i}": "v" for i in range(17)})
    assert e.value.status_code == 400
    with pytest.raises(
        HttpResponseError,
        match=r"metadata\['long'\]: the value 'long' is 513 characters long; values are at most 512",
    ):
        client.create_agent(model="m", metadata={"long": "x" * 513})
    with pytest.raises(
        HttpResponseError, match=r"metadata: key 'kkkkkkkkkkkkkkkkkkkk'\.\.\. is 65 characters"
    ):
        client.messages.create(client.threads.create().id, role="user", content="x", metadata={"k" * 65: "v"})
    with pytest.raises(
        HttpResponseError, match=r"messages\[0\]\.content\[1\]\.type: expected 'text', 'image_url' "
    ):
        client.threads.create(
            body={
                "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "audio"}]}]
            }
        )
    with pytest.raises(
        HttpResponseError, match=r"messages\[0\]\.role: input should be 'user' or 'assistant'"
    ):
        client.threads.create(body={"messages": [{"role": "system", "content": "x"}]})
    with pytest.raises(HttpResponseError, match=r"model: is required"):
        client.create_agent(body={"name": "no model"})
    with pytest.raises(HttpResponseError, match=r"temperature: input should be less than or equal to 2"):
        client.create_agent(model="m", temperature=3.0)
    thread = client.threads.create()
    image_file = {"type": "image_file", "image_file": {"file_id": "assistant-abc"}}
    with pytest.raises(ResourceNotFoundError, match=r"no file with id 'assistant-abc'"):
        client.messages.create(thread.id, body={"role": "user", "content": [image_file]})
    ftp = {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}
    with pytest.raises(
        HttpResponseError, match=r"content\[0\]\.image_url\.url: expected an http\(s\) or data: URL"
    ):
        client.messages.create(thread.id, body={"role": "user", "content": [ftp]})
    data_url = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert (
        client.messages.create(thread.id, body={"role": "user", "content": [data_url]}).content[0].type
        == "image_url"
    )
    attachment = {"file_id": "assistant-1", "tools": [{"type": "file_search"}]}
    with pytest.raises(ResourceNotFoundError, match=r"no file with id 'assistant-1'"):
        client.messages.create(thread.id, body={"role": "user", "content": "x", "attachments": [attachment]})
    # Fields newer SDKs send are tolerated.
    assert client.threads.create(body={"metadata": {"a": "b"}, "some_future_field": 1}).metadata == {"a": "b"}
    with pytest.raises(ResourceNotFoundError, match="no thread with id 'thread_nope'"):
        client.threads.update("thread_nope", metadata={})


async def test_bad_requests_are_precise(tmp_path: Path) -> None:
    settings = ServerSettings(port=0, max_body_bytes=64 * 1024)
    async with live_api(tmp_path, settings=settings) as live, aiohttp.ClientSession() as http:
        await asyncio.to_thread(bad_requests_scenario, live.url)
        api = f"{live.url}/api/projects/p"
        status, _, body = await call(
            http, "POST", f"{api}/assistants", {"model": "m", "instructions": "x" * 70_000}
        )
        assert status == 413 and body["error"]["code"] == "body_too_large"
        status, _, body = await call(
            http, "POST", f"{api}/threads", b"{not json", {"content-type": "application/json"}
        )
        assert status == 400 and "not valid JSON" in body["error"]["message"]
        status, _, body = await call(http, "POST", f"{api}/threads", [1, 2])
        assert status == 400 and body["error"]["message"] == "expected a JSON object, got a JSON array"
        for query, message in [
            ("limit=0", "limit: expected an integer from 1 to 100, got '0'"),
            ("limit=101", "limit: expected an integer from 1 to 100, got '101'"),
            ("order=up", "order: expected 'asc' or 'desc', got 'up'"),
        ]:
            status, _, body = await call(http, "GET", f"{api}/threads?{query}")
            assert (status, body["error"]["message"]) == (400, message)
        status, _, body = await call(http, "GET", f"{api}/assistants?after=asst_app_nobody")
        assert (status, body["error"]["param"]) == (400, "after")
        status, _, body = await call(http, "GET", f"{api}/no/such/route")
        assert (status, body["error"]["code"]) == (404, "not_found")
        status, _, body = await call(http, "PUT", f"{api}/threads")
        assert (status, body["error"]["code"]) == (405, "method_not_allowed")

        live.store.fail = True
        status, headers, body = await call(http, "GET", f"{api}/threads")
        assert (status, headers["retry-after"], body["error"]["code"]) == (503, "2", "store_unavailable")
        live.store.fail, live.store.explode = False, True
        status, _, body = await call(http, "POST", f"{api}/threads", {})
        assert status == 500 and body["error"]["code"] == "internal_error"
        assert "error id" in body["error"]["message"] and "secret" not in json.dumps(body)
        live.store.explode = False


@pytest.mark.parametrize("route", ["projects/things", "api/projects/{id}", "Projects"])
def test_http_trigger_routes_under_projects_are_refused(tmp_path: Path, route: str) -> None:
    text = agent_md(f'name: T\ndescription: d\ntrigger: {{type: http_trigger, args: {{route: "{route}"}}}}')
    catalog = load_app(write_app(tmp_path, {**APP, "t.agent.md": text}), model=ScriptedModel([]), environ={})
    with pytest.raises(
        ConfigurationError, match=r"/api/projects/\.\.\. is the Azure AI Agents API of this server"
    ):
        create_app(catalog, Runner(catalog, SqliteSessionStore(":memory:")), ServerSettings())


def test_agents_client_endpoint_and_a_missing_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    assert endpoint_of("http://127.0.0.1:7071/") == "http://127.0.0.1:7071/api/projects/local"
    assert endpoint_of("http://h:1", "my project") == "http://h:1/api/projects/my%20project"
    assert endpoint_of("http://h:1/api/projects/p") == "http://h:1/api/projects/p"
    monkeypatch.setitem(sys.modules, "azure.ai.agents", None)
    monkeypatch.setitem(sys.modules, "azure.ai.agents.aio", None)
    for aio in (False, True):
        with pytest.raises(
            ImportError, match=r"needs the azure-ai-agents SDK: pip install 'agentdown\[client\]'"
        ):
            agents_client("http://127.0.0.1:7071", aio=aio)
