"""The routes of ``workflows/`` graphs: over a live server, and under real ``serve`` + ``worker`` processes.

The process test runs the fan-out/fan-in graph of ``graphapp`` through HTTP with one
checker slow on its first invocation; the process running it is SIGKILLed mid-step,
another one runs the job again after its visibility timeout, the request_info is
answered over HTTP, and the marker file shows every completed target ran exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from serverkit import ServeProcess, live_server, post_json, serve_args

from agentdown.server import ServerSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "workflow_graphs"))
from graphapp import write_graph_app


def principal(oid: str) -> dict[str, str]:
    doc = {"auth_typ": "aad", "claims": [{"typ": "oid", "val": oid}, {"typ": "tid", "val": "t1"}]}
    return {"x-ms-client-principal": base64.b64encode(json.dumps(doc).encode()).decode()}


async def get_json(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.get(url, headers=headers) as response:
        return response.status, await response.json()


async def wait_run(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        status, body = await get_json(http, url, headers)
        assert status == 200, body
        if body["status"] != "IN_PROGRESS":
            return dict(body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run did not pause or end: {body}")


async def test_routes_ownership_and_forged_ids(tmp_path: Path) -> None:
    app = write_graph_app(tmp_path)
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), "AGENTDOWN_WORKFLOW_STEP_POLL_SECONDS": "0.1"}
    settings = ServerSettings(port=0, trust_client_principal=True)
    alice, mallory = principal("alice"), principal("mallory")
    async with live_server(app, settings=settings, environ=env) as live, aiohttp.ClientSession() as http:
        base = f"{live.url}/workflows/triage/runs"
        status, _, created = await post_json(http, base, {"input": "disk full"}, alice)
        assert status == 202 and created["status"] == "IN_PROGRESS", created
        run_url = f"{base}/{created['id']}"
        paused = await wait_run(http, run_url, alice)
        assert paused["status"] == "IDLE_WITH_PENDING_REQUESTS"
        [request] = paused["pending_requests"]
        # Another caller: the run does not exist for them, its answers are refused, their list is empty.
        assert (await get_json(http, run_url, mallory))[0] == 404
        status, _, body = await post_json(
            http, f"{run_url}/responses", {"responses": {request["request_id"]: True}}, mallory
        )
        assert status == 404, body
        assert (await get_json(http, base, mallory))[1]["data"] == []
        # Forged and stale input.
        assert (await get_json(http, f"{base}/wfrun_0000000000000000000000", alice))[0] == 404
        assert (await get_json(http, f"{base}/../../etc", alice))[0] == 404
        assert (await get_json(http, f"{live.url}/workflows/nope/runs/{created['id']}", alice))[0] == 404
        assert (await get_json(http, f"{live.url}/workflows/chain/runs/{created['id']}", alice))[0] == 404
        status, _, body = await post_json(
            http, f"{run_url}/responses", {"responses": {"forged": True}}, alice
        )
        assert status == 400 and "no pending request has the id 'forged'" in body["error"], body
        status, _, body = await post_json(http, base, {"inputs": 1}, alice)
        assert status == 400, body
        status, _, body = await post_json(http, f"{live.url}/workflows/chain/runs", {"input": "x"}, alice)
        assert status == 400 and "takes no str input" in body["error"], body
        # The owner answers; the run completes.
        status, _, body = await post_json(
            http, f"{run_url}/responses", {"responses": {request["request_id"]: True}}, alice
        )
        assert status == 202, body
        done = await wait_run(http, run_url, alice)
        assert done["status"] == "IDLE" and done["outputs"][0].startswith("disk full: approved"), done
        status, _, body = await post_json(
            http, f"{run_url}/responses", {"responses": {request["request_id"]: True}}, alice
        )
        assert status == 409, body  # answered already
        listing = (await get_json(http, base, alice))[1]["data"]
        assert [r["id"] for r in listing] == [created["id"]]
        assert all(not k.startswith("_") for k in listing[0])


async def test_keys_are_required_when_configured(tmp_path: Path) -> None:
    from agentdown.server.settings import Keys

    app = write_graph_app(tmp_path)
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    settings = ServerSettings(port=0, keys=Keys(function=("k1",)))
    async with live_server(app, settings=settings, environ=env) as live, aiohttp.ClientSession() as http:
        status, _, body = await post_json(http, f"{live.url}/workflows/chain/runs", {"input": 0})
        assert status == 401, body
        status, _, body = await post_json(
            http, f"{live.url}/workflows/chain/runs", {"input": 0}, {"x-functions-key": "k1"}
        )
        assert status == 202, body


# --- real processes ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "azurite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    if request.param == "sqlite":
        yield env
        return
    from azurite_peer import running_azurite

    with running_azurite() as azurite:
        yield {**env, "AzureWebJobsStorage": azurite.connection_string}


def start_worker(app: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentdown.cli", "worker", str(app), "--log-level", "warning"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen[str] | ServeProcess | None) -> str:
    if isinstance(proc, ServeProcess):
        return proc.stop() if proc.process.poll() is None else ""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
            return out or ""
        except subprocess.TimeoutExpired:
            proc.kill()
    return ""


async def test_a_sigkilled_worker_mid_step_and_every_target_once(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    app = write_graph_app(tmp_path)
    marker = tmp_path / "marker.txt"
    env = {
        **backend,
        "MARKER_FILE": str(marker),
        "SLOW_security": "60",
        "AGENTDOWN_WORKFLOW_STEP_VISIBILITY_SECONDS": "2",
        "AGENTDOWN_WORKFLOW_STEP_POLL_SECONDS": "0.2",
        "AGENTDOWN_PROVIDER": "openai_compatible",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "unused",
        "AGENTDOWN_MODEL": "unused",
    }
    serve: ServeProcess | None = ServeProcess(serve_args(app), env)
    worker: subprocess.Popen[str] | None = start_worker(app, env)
    spare: Any = None
    try:
        assert serve is not None and worker is not None
        async with aiohttp.ClientSession() as http:
            status, _, created = await post_json(
                http, f"{serve.url}/workflows/triage/runs", {"input": "outage"}
            )
            assert status == 202, created
            run_path = f"/workflows/triage/runs/{created['id']}"
            deadline = time.monotonic() + 60
            while "security " not in (marker.read_text() if marker.exists() else ""):
                assert time.monotonic() < deadline, "the slow checker never started"
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)
            [line] = [x for x in marker.read_text().splitlines() if x.startswith("security ")]
            victim = int(line.split()[1])
            # SIGKILL whichever process runs the slow target; a fresh one of its kind takes its place.
            os.kill(victim, signal.SIGKILL)
            if victim == serve.process.pid:
                serve.process.wait(10)
                spare = serve = ServeProcess(serve_args(app), env)
            else:
                worker.wait(10)
                spare = worker = start_worker(app, env)
            paused = await wait_run(http, serve.url + run_path)
            assert paused["status"] == "IDLE_WITH_PENDING_REQUESTS", paused
            [request] = paused["pending_requests"]
            status, _, body = await post_json(
                http, f"{serve.url}{run_path}/responses", {"responses": {request["request_id"]: True}}
            )
            assert status == 202, body
            done = await wait_run(http, serve.url + run_path)
        assert done["status"] == "IDLE", done
        assert done["outputs"] == ["outage: approved [billing:outage + security:outage + product:outage]"]
    finally:
        output = stop(worker) + stop(serve)
    assert spare is not None
    names = [x.split()[0] for x in marker.read_text().splitlines()]
    # Every target that completed ran once; the killed one twice (at least once: the first never finished).
    assert sorted(names) == sorted(
        ["split", "billing", "product", "security", "security", "join", "answered"]
    ), names
    pids = [int(x.split()[1]) for x in marker.read_text().splitlines() if x.startswith("security ")]
    assert pids[0] == victim and pids[1] != victim
    assert "Traceback" not in output, output


def test_a_broken_workflow_module_fails_the_server_at_start(tmp_path: Path) -> None:
    from agentdown.app.catalog import load_app
    from agentdown.app.diagnostics import AppLoadError
    from agentdown.runtime import Runner
    from agentdown.server import create_app
    from agentdown.sessions import SqliteSessionStore

    app = write_graph_app(tmp_path)
    (app / "workflows" / "broken.py").write_text("import nowhere_to_be_found\n")
    catalog = load_app(app, environ={})
    runner = Runner(catalog, SqliteSessionStore(tmp_path / "s.db"))
    with pytest.raises(AppLoadError) as caught:
        create_app(catalog, runner, ServerSettings(port=0), environ={})
    [problem] = caught.value.problems
    assert (problem.file.name, problem.line) == ("broken.py", 1)
    assert "No module named 'nowhere_to_be_found'" in problem.message
