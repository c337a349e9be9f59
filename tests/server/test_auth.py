"""Auth levels (anonymous / function / admin / entra), where keys come from, exposure checks."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from serverkit import agent_md, live_server, post_json, write_app

from agentdown.exceptions import ConfigurationError
from agentdown.server import Keys, ServerSettings
from agentdown.server.settings import load_keys

FUNCTION_KEY = "function-key-0123456789"
MASTER_KEY = "master-key-0123456789ab"
KEYS = Keys(function=(FUNCTION_KEY,), master=MASTER_KEY)


def agents() -> dict[str, str]:
    def agent(mode: str) -> str:
        return agent_md(f"name: {mode}\ndescription: d\nbuiltin_endpoints: true\nhttp_auth: {mode}")

    return {f"{mode}.agent.md": agent(mode) for mode in ("anonymous", "function", "admin", "entra")}


async def test_levels_and_ways_to_present_a_key(tmp_path: Path) -> None:
    settings = ServerSettings(port=0, keys=KEYS)
    async with (
        live_server(write_app(tmp_path, agents()), settings=settings) as live,
        aiohttp.ClientSession() as http,
    ):

        async def status(slug: str, headers: dict[str, str] | None = None, query: str = "") -> int:
            url = f"{live.url}/agents/{slug}/chat{query}"
            code, _, body = await post_json(http, url, {"prompt": "hi"}, headers)
            if code == 401:
                assert body["code"] == "unauthorized"
            return code

        assert await status("anonymous") == 200
        assert await status("function") == 401
        assert await status("function", {"x-functions-key": FUNCTION_KEY}) == 200
        assert await status("function", {"authorization": f"Bearer {FUNCTION_KEY}"}) == 200
        assert await status("function", query=f"?code={FUNCTION_KEY}") == 200
        assert await status("function", {"x-functions-key": MASTER_KEY}) == 200
        assert await status("function", {"x-functions-key": "wrong-key-0123456789"}) == 401
        assert await status("admin", {"x-functions-key": FUNCTION_KEY}) == 401
        assert await status("admin", {"x-functions-key": MASTER_KEY}) == 200
        # entra fails closed unless a front end that validates tokens is declared.
        assert await status("entra", {"x-functions-key": MASTER_KEY}) == 401

        _, _, body = await post_json(http, f"{live.url}/agents/function/chat", {"prompt": "hi"})
        assert body["error"].startswith(
            "this endpoint needs an access key: send it as the x-functions-key header"
        )
        _, _, body = await post_json(
            http, f"{live.url}/agents/admin/chat", {"prompt": "hi"}, {"x-functions-key": FUNCTION_KEY}
        )
        assert body["error"] == "the key is not accepted here: this endpoint needs the master key"

        # The chat page itself is anonymous (as in the Azure runtime); it asks for the key.
        async with http.get(f"{live.url}/agents/function/") as r:
            assert r.status == 200 and '"key_needed": true' in await r.text()
        async with http.get(f"{live.url}/agents/function/history", headers={"x-ms-session-id": "s"}) as r:
            assert r.status == 401
        async with http.get(f"{live.url}/healthz") as r:
            assert r.status == 200


def principal(**claims: str) -> str:
    body = {"auth_typ": "aad", "claims": [{"typ": k, "val": v} for k, v in claims.items()]}
    return base64.b64encode(json.dumps(body).encode()).decode()


async def test_entra_behind_a_trusted_front_end(tmp_path: Path) -> None:
    files = {
        "entra.agent.md": agent_md(
            "name: E\ndescription: d\nbuiltin_endpoints: {chat_api: true, http_auth: {mode: entra, "
            "entra: {tenant_id: t1, allowed_client_ids: [app1]}}}"
        )
    }
    settings = ServerSettings(port=0, keys=KEYS, trust_client_principal=True)
    async with (
        live_server(write_app(tmp_path, files), settings=settings) as live,
        aiohttp.ClientSession() as http,
    ):
        url = f"{live.url}/agents/entra/chat"

        async def call(header: str | None) -> tuple[int, str]:
            headers = {"x-ms-client-principal": header} if header is not None else {}
            code, _, body = await post_json(http, url, {"prompt": "hi"}, headers)
            return code, body.get("error", "")

        assert await call(principal(tid="t1", appid="app1")) == (200, "")
        assert await call(None) == (401, "Entra authentication required: no X-MS-CLIENT-PRINCIPAL")
        assert await call("not base64!") == (401, "invalid X-MS-CLIENT-PRINCIPAL header")
        assert await call(principal(tid="t2", appid="app1")) == (403, "the token's tenant is not allowed")
        assert await call(principal(tid="t1", azp="other")) == (403, "the calling application is not allowed")


def test_keys_from_environment_and_files(tmp_path: Path) -> None:
    assert not load_keys({}).configured
    keys = load_keys(
        {
            "AGENTDOWN_FUNCTION_KEYS": f" {FUNCTION_KEY}, other-key-0123456789 ",
            "AGENTDOWN_MASTER_KEY": MASTER_KEY,
        }
    )
    assert keys == Keys(function=(FUNCTION_KEY, "other-key-0123456789"), master=MASTER_KEY)

    host = tmp_path / "host.json"
    host.write_text(
        json.dumps(
            {
                "masterKey": {"name": "master", "value": MASTER_KEY, "encrypted": False},
                "functionKeys": [{"name": "default", "value": FUNCTION_KEY, "encrypted": False}],
            }
        )
    )
    assert load_keys({"AGENTDOWN_KEYS_FILE": str(host)}) == KEYS
    assert load_keys({}, host) == KEYS
    # A self-hosted Azure Functions container's secrets folder works as is.
    functions_env = {"AzureWebJobsSecretStorageType": "files", "FUNCTIONS_SECRETS_PATH": str(tmp_path)}
    assert load_keys(functions_env) == KEYS

    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        load_keys({"AGENTDOWN_MASTER_KEY": "short"})
    with pytest.raises(ConfigurationError, match="masterKey differs from AGENTDOWN_MASTER_KEY"):
        load_keys({"AGENTDOWN_MASTER_KEY": "another-master-key-0123"}, host)
    bad = tmp_path / "bad.json"
    bad.write_text('{"functionKeys": {"x": 1}}')
    with pytest.raises(ConfigurationError, match=r"bad.json: functionKeys: expected a list"):
        load_keys({}, bad)
    with pytest.raises(ConfigurationError, match="cannot read the keys file"):
        load_keys({}, tmp_path / "missing.json")


def test_exposure_rules() -> None:
    ServerSettings(host="127.0.0.1").check_exposure()
    ServerSettings(host="::1").check_exposure()
    ServerSettings(host="0.0.0.0", keys=KEYS).check_exposure()
    ServerSettings(host="0.0.0.0", insecure=True).check_exposure()
    with pytest.raises(
        ConfigurationError, match=r"refusing to listen on 0\.0\.0\.0 with no access key configured"
    ):
        ServerSettings(host="0.0.0.0").check_exposure()


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    app = write_app(
        tmp_path, {"helper.agent.md": agent_md("name: H\ndescription: d\nbuiltin_endpoints: true")}
    )
    env = {"AGENTDOWN_FUNCTION_KEYS": "", "AGENTDOWN_MASTER_KEY": "", "AGENTDOWN_KEYS_FILE": "", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "agentdown.cli", "serve", str(app), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "HOME": str(tmp_path)},
    )
    assert done.returncode == 1
    assert "refusing to listen on 0.0.0.0 with no access key configured" in done.stderr
    assert "--insecure" in done.stderr and "Traceback" not in done.stderr


async def test_loopback_server_refuses_foreign_hosts_and_origins(tmp_path: Path) -> None:
    app = write_app(
        tmp_path, {"helper.agent.md": agent_md("name: H\ndescription: d\nbuiltin_endpoints: true")}
    )
    async with live_server(app) as live, aiohttp.ClientSession() as http:
        url = f"{live.url}/agents/helper/chat"
        for headers in (
            {"host": "rebound.example:7071"},
            {"origin": "https://evil.example"},
            {"origin": "null"},
        ):
            status, _, body = await post_json(http, url, {"prompt": "hi"}, headers)
            assert status == 403 and body["code"] == "forbidden_origin", headers
        port = live.url.rsplit(":", 1)[1]
        for origin in (live.url, f"http://localhost:{port}"):
            status, _, _ = await post_json(http, url, {"prompt": "hi"}, {"origin": origin})
            assert status == 200
    assert len(live.fake.requests) == 2
