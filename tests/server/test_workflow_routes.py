"""``/agents/{slug}/workflows`` and ``/workflow-status``: shapes, 400s, and every way to reach another's workflow.

Attacker tests: another session's id, a forged id carrying the attacker's own prefix,
malformed ids, another principal holding the victim's session id, and the management
tools asked for the victim's workflow. All answer "not found"; nothing is changed.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from serverkit import HELPER, live_server, post_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "workflows"))

from wfkit import model, wait_for, write_triage_app

from agentdown.server import ServerSettings
from agentdown.workflows.planned.ownership import session_prefix


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("MARKER_FILE", str(tmp_path / "marks.txt"))
    return {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), "AGENTDOWN_WORKFLOW_POLL_SECONDS": "0.1"}


async def get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.get(url, headers=headers or {}) as response:
        return response.status, json.loads(await response.text())


def principal(oid: str) -> dict[str, str]:
    claims = [
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid},
        {"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": "tenant-1"},
    ]
    raw = json.dumps({"auth_typ": "aad", "claims": claims}).encode()
    return {"x-ms-client-principal": base64.b64encode(raw).decode()}


async def start(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[str, str]:
    status, _, body = await post_json(
        http, f"{url}/agents/main/chat", {"prompt": "triage checkout wait PT1H"}, headers
    )
    assert status == 200, body
    return body["session_id"], json.loads(body["tool_calls"][0]["result"])["workflow_id"]


async def test_status_needs_the_session_header_and_an_id(tmp_path: Path, env: dict[str, str]) -> None:
    app = write_triage_app(tmp_path)
    async with live_server(app, model, environ=env) as live, aiohttp.ClientSession() as http:
        session_id, workflow_id = await start(http, live.url)
        base = f"{live.url}/agents/main"
        code, body = await get(http, f"{base}/workflow-status?workflow_id={workflow_id}")
        assert code == 400 and body["code"] == "missing_session_id"
        code, body = await get(http, f"{base}/workflow-status", {"x-ms-session-id": session_id})
        assert code == 400 and body["code"] == "missing_workflow_id"
        # Without a session the list is empty (as the other runtime answers), not an error.
        assert await get(http, f"{base}/workflows") == (200, {"workflows": []})
        code, body = await get(
            http, f"{base}/workflow-status?workflow_id={workflow_id}", {"x-ms-session-id": session_id}
        )
        assert code == 200 and body["workflow_id"] == workflow_id and body["runtime_status"] == "Running"
        assert body["output"] is None and "notification" not in body
        code, body = await get(
            http, f"{base}/workflow-status?workflow_id={workflow_id}", {"x-ms-session-id": "bad id!"}
        )
        assert code == 400


async def test_another_sessions_workflow_is_not_found(tmp_path: Path, env: dict[str, str]) -> None:
    app = write_triage_app(tmp_path)
    async with live_server(app, model, environ=env) as live, aiohttp.ClientSession() as http:
        victim, workflow_id = await start(http, live.url)
        _, _, mine = await post_json(http, f"{live.url}/agents/main/chat", {"prompt": "hello"})
        attacker = mine["session_id"]
        base = f"{live.url}/agents/main"
        as_attacker = {"x-ms-session-id": attacker}
        forged = session_prefix(attacker) + workflow_id[12:]  # the attacker's prefix on the victim's id
        for wid in (
            workflow_id,
            forged,
            workflow_id.upper(),
            "../" + workflow_id,
            "x" * 500,
            workflow_id[:20],
        ):
            code, body = await get(http, f"{base}/workflow-status?workflow_id={wid}", as_attacker)
            assert code == 404 and body["code"] == "workflow_not_found", wid
            assert workflow_id not in json.dumps(body)
        assert await get(http, f"{base}/workflows", as_attacker) == (200, {"workflows": []})
        # A session id nobody has used sees nothing either.
        assert await get(http, f"{base}/workflows", {"x-ms-session-id": "sess_unused"}) == (
            200,
            {"workflows": []},
        )
        # Through the tools: status and cancel of the victim's id are "not found", and nothing is cancelled.
        for prompt in (f"status {workflow_id}", f"cancel {workflow_id}", f"status {forged}"):
            status, _, body = await post_json(http, f"{base}/chat", {"prompt": prompt}, as_attacker)
            assert status == 200
            answer = json.loads(body["tool_calls"][0]["result"])
            assert answer["status"] == 404 and "not found" in answer["error"]
        status, _, body = await post_json(http, f"{base}/chat", {"prompt": "list"}, as_attacker)
        assert json.loads(body["tool_calls"][0]["result"]) == {"workflows": []}
        code, body = await get(
            http, f"{base}/workflow-status?workflow_id={workflow_id}", {"x-ms-session-id": victim}
        )
        assert code == 200 and body["runtime_status"] == "Running"


async def test_another_principal_with_the_session_id_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    app = write_triage_app(tmp_path)
    text = (
        (app / "main.agent.md")
        .read_text()
        .replace("builtin_endpoints: true\n", "builtin_endpoints: true\nhttp_auth: entra\n")
    )
    (app / "main.agent.md").write_text(text)
    settings = ServerSettings(port=0, trust_client_principal=True)
    async with (
        live_server(app, model, environ=env, settings=settings) as live,
        aiohttp.ClientSession() as http,
    ):
        alice, mallory = principal("alice"), principal("mallory")
        session_id, workflow_id = await start(http, live.url, alice)
        # A second workflow from a later turn records Alice as its owner too.
        _status, _, body = await post_json(
            http,
            f"{live.url}/agents/main/chat",
            {"prompt": "triage billing wait PT1H"},
            {**alice, "x-ms-session-id": session_id},
        )
        second = json.loads(body["tool_calls"][0]["result"])["workflow_id"]
        base = f"{live.url}/agents/main"
        for wid in (workflow_id, second):
            code, _ = await get(
                http, f"{base}/workflow-status?workflow_id={wid}", {**mallory, "x-ms-session-id": session_id}
            )
            assert code == 404
            code, body = await get(
                http, f"{base}/workflow-status?workflow_id={wid}", {**alice, "x-ms-session-id": session_id}
            )
            assert code == 200 and body["workflow_id"] == wid
        code, _ = await get(http, f"{base}/workflows", {**mallory, "x-ms-session-id": session_id})
        assert code == 404
        code, body = await get(http, f"{base}/workflows", {**alice, "x-ms-session-id": session_id})
        assert code == 200 and {w["workflow_id"] for w in body["workflows"]} == {workflow_id, second}
        # No principal at all: entra refuses before anything is looked up.
        code, _ = await get(http, f"{base}/workflows", {"x-ms-session-id": session_id})
        assert code == 401


async def test_agents_without_workflows_have_none(tmp_path: Path, env: dict[str, str]) -> None:
    app = write_triage_app(tmp_path)
    (app / "helper.agent.md").write_text(HELPER)
    async with live_server(app, model, environ=env) as live, aiohttp.ClientSession() as http:
        session_id, workflow_id = await start(http, live.url)
        headers = {"x-ms-session-id": session_id}
        assert await get(http, f"{live.url}/agents/helper/workflows", headers) == (200, {"workflows": []})
        code, _ = await get(
            http, f"{live.url}/agents/helper/workflow-status?workflow_id={workflow_id}", headers
        )
        assert code == 404
        code, _ = await get(http, f"{live.url}/agents/nobody/workflows", headers)
        assert code == 404


async def test_the_list_is_newest_first_and_shows_the_notification_once_ended(
    tmp_path: Path, env: dict[str, str]
) -> None:
    app = write_triage_app(tmp_path)
    async with live_server(app, model, environ=env) as live, aiohttp.ClientSession() as http:
        session_id, slow = await start(http, live.url)
        headers = {"x-ms-session-id": session_id}
        status_url = f"{live.url}/agents/main/workflow-status?workflow_id={slow}"

        async def slow_idle() -> bool:  # every task before the hour-long wait is done
            _, view = await get(http, status_url, headers)
            states = {t["id"]: t["status"] for t in view["tasks"]}
            return states["settle"] == "running" and states["check"] == "succeeded"

        await wait_for(slow_idle, 60, "the long workflow to reach its wait")
        _status, _, body = await post_json(
            http, f"{live.url}/agents/main/chat", {"prompt": "triage search wait PT0.1S"}, headers
        )
        fast = json.loads(body["tool_calls"][0]["result"])["workflow_id"]
        url = f"{live.url}/agents/main/workflows"

        async def fast_done() -> bool:
            _, listed = await get(http, url, headers)
            return any(
                w["workflow_id"] == fast and w["runtime_status"] == "Completed" for w in listed["workflows"]
            )

        await wait_for(fast_done, 60, "the short workflow to complete")
        _, listed = await get(http, url, headers)
        assert [w["workflow_id"] for w in listed["workflows"]] == [fast, slow]
        done, running = listed["workflows"]
        assert done["notification"].startswith("<workflow-notification>") and fast in done["notification"]
        assert "notification" not in running and running["output"] is None
