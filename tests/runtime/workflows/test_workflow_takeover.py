"""A worker killed (SIGKILL) mid-workflow: another worker finishes it and every task runs exactly once.

The chat server only queues steps (``AGENTDOWN_WORKFLOW_EXECUTE=false``); real
``agentdown worker`` processes execute them, on each queue backend (the embedded
SQLite queue and store; Azure Storage queues and tables on Azurite). The first worker
runs the fetches and the retried check, and is killed while the plan waits (a delayed
message, no worker holds it); the second fires the timer, runs the sub-agent and the
summary. A second scenario kills the worker inside a tool call: that attempt is
reported interrupted and the task's retry policy runs it again (at least once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from serverkit import live_server, post_json
from wfkit import marks, model, wait_for, write_triage_app

from agentdown.runtime.workflows import INTERRUPTED


@pytest.fixture(params=["sqlite", "azurite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    if request.param == "sqlite":
        yield env
        return
    azurite = request.getfixturevalue("azurite")
    suffix = uuid.uuid4().hex[:12]
    yield {
        **env,
        "AzureWebJobsStorage": azurite.connection_string,
        "AGENTDOWN_AGENTS_TABLE": f"wf{suffix}",
        "AGENTDOWN_AGENTS_CONTAINER": f"wf-{suffix}",
        "AGENTDOWN_WORKFLOWS_QUEUE": f"wf-{suffix}",
    }


def start_worker(app: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentdown.cli",
            "worker",
            str(app),
            "--log-level",
            "warning",
            "--no-agents-api",
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(*procs: subprocess.Popen[str] | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def status(http: aiohttp.ClientSession, url: str, session_id: str, workflow_id: str) -> Any:
    async with http.get(
        f"{url}/agents/main/workflow-status?workflow_id={workflow_id}",
        headers={"x-ms-session-id": session_id},
    ) as response:
        assert response.status == 200
        return json.loads(await response.text())


def base_env(tmp_path: Path, backend: dict[str, str], fake_url: str) -> dict[str, str]:
    return {
        **backend,
        "AGENTDOWN_PROVIDER": "openai_compatible",
        "OPENAI_BASE_URL": fake_url,
        "OPENAI_API_KEY": "test",
        "AGENTDOWN_MODEL": "fake-model",
        "AGENTDOWN_WORKFLOW_LEASE_SECONDS": "2",
        "AGENTDOWN_WORKFLOW_POLL_SECONDS": "0.2",
        "AGENTDOWN_WORKFLOW_EXECUTE": "false",
        "MARKER_FILE": str(tmp_path / "marks.txt"),
    }


async def test_a_killed_worker_loses_no_step_and_repeats_none(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    app = write_triage_app(tmp_path)
    marker = tmp_path / "marks.txt"
    server_env = base_env(tmp_path, backend, "")
    async with live_server(app, model, environ=server_env) as live, aiohttp.ClientSession() as http:
        env = {**server_env, "OPENAI_BASE_URL": live.fake.base_url}
        worker_a = start_worker(app, env)
        worker_b: subprocess.Popen[str] | None = None
        try:
            _, _, started = await post_json(
                http, f"{live.url}/agents/main/chat", {"prompt": "triage checkout wait PT4S"}
            )
            session_id = started["session_id"]
            workflow_id = json.loads(started["tool_calls"][0]["result"])["workflow_id"]

            async def waiting() -> bool:
                view = await status(http, live.url, session_id, workflow_id)
                states = {t["id"]: t["status"] for t in view["tasks"]}
                return states["settle"] == "running" and states["check"] == "succeeded"

            await wait_for(waiting, 60, "the first worker to reach the wait")
            os.kill(worker_a.pid, signal.SIGKILL)
            worker_a.wait(10)
            worker_b = start_worker(app, env)

            async def ended() -> bool:
                view = await status(http, live.url, session_id, workflow_id)
                return bool(view["runtime_status"] != "Running")

            await wait_for(ended, 60, "the second worker to finish the workflow")
        finally:
            stop(worker_a, worker_b)
        view = await status(http, live.url, session_id, workflow_id)
        assert view["runtime_status"] == "Completed", view
        runs = [line.split() for line in marker.read_text().splitlines()]
        by_tool: dict[str, list[int]] = {}
        for name, pid in runs:
            by_tool.setdefault(name, []).append(int(pid))
        assert by_tool == {
            "fetch_logs": [worker_a.pid],
            "fetch_metrics": [worker_a.pid],
            "fetch_deploys": [worker_a.pid],
            "flaky_check": [worker_a.pid, worker_a.pid],  # failed once, retried: two attempts
            "summarize_findings": [worker_b.pid],
        }
        assert view["output"]["results"]["summary"]["report"].startswith(
            "REPORT: Write the report for checkout"
        )


SLOW_TOOL = """

import time


@workflow_tool(description="A slow export.")
def slow_export(args: dict[str, Any]) -> dict[str, Any]:
    _mark("slow_export")
    if not os.path.exists(os.environ["MARKER_FILE"] + ".slow"):
        open(os.environ["MARKER_FILE"] + ".slow", "a").close()
        time.sleep(120)  # the first worker is killed in here
    return {"exported": True}
"""


async def test_a_call_cut_short_by_a_kill_is_interrupted_and_retried(tmp_path: Path) -> None:
    backend = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    app = write_triage_app(tmp_path)
    with (app / "tools" / "incident_tools.py").open("a") as f:
        f.write(SLOW_TOOL)
    marker = tmp_path / "marks.txt"
    plan = {
        "tasks": [
            {"id": "export", "tool": "slow_export", "retry": {"max_attempts": 2, "first_interval": "PT0.1S"}}
        ]
    }
    server_env = base_env(tmp_path, backend, "")
    async with live_server(app, model, environ=server_env) as live, aiohttp.ClientSession() as http:
        env = {**server_env, "OPENAI_BASE_URL": live.fake.base_url}
        worker_a = start_worker(app, env)
        worker_b: subprocess.Popen[str] | None = None
        try:
            _, _, started = await post_json(
                http, f"{live.url}/agents/main/chat", {"prompt": "plan " + json.dumps(plan)}
            )
            session_id = started["session_id"]
            workflow_id = json.loads(started["tool_calls"][0]["result"])["workflow_id"]

            async def running() -> bool:
                return marks(marker) == ["slow_export"]

            await wait_for(running, 60, "the slow export to start")
            os.kill(worker_a.pid, signal.SIGKILL)
            worker_a.wait(10)
            worker_b = start_worker(app, env)

            async def ended() -> bool:
                view = await status(http, live.url, session_id, workflow_id)
                return bool(view["runtime_status"] != "Running")

            await wait_for(ended, 60, "the second worker to finish the workflow")
        finally:
            stop(worker_a, worker_b)
        view = await status(http, live.url, session_id, workflow_id)
        assert view["runtime_status"] == "Completed", view
        assert view["output"]["results"]["export"] == {"exported": True}
        [task] = view["tasks"]
        assert task["attempts"] == 2  # the interrupted attempt, then the retry
        pids = [int(line.split()[1]) for line in marker.read_text().splitlines()]
        assert pids == [worker_a.pid, worker_b.pid]
        assert INTERRUPTED.startswith("interrupted")


GENTLE_TOOL = """

import time


@workflow_tool(description="A short export.")
def short_export(args: dict[str, Any]) -> dict[str, Any]:
    _mark("short_export")
    time.sleep(2)
    return {"exported": True}
"""


async def test_a_stopped_worker_finishes_the_call_in_progress(tmp_path: Path) -> None:
    backend = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    app = write_triage_app(tmp_path)
    with (app / "tools" / "incident_tools.py").open("a") as f:
        f.write(GENTLE_TOOL)
    marker = tmp_path / "marks.txt"
    plan = {"tasks": [{"id": "export", "tool": "short_export"}]}  # no retry: an interruption would fail it
    server_env = base_env(tmp_path, backend, "")
    async with live_server(app, model, environ=server_env) as live, aiohttp.ClientSession() as http:
        env = {**server_env, "OPENAI_BASE_URL": live.fake.base_url}
        worker = start_worker(app, env)
        try:
            _, _, started = await post_json(
                http, f"{live.url}/agents/main/chat", {"prompt": "plan " + json.dumps(plan)}
            )
            session_id = started["session_id"]
            workflow_id = json.loads(started["tool_calls"][0]["result"])["workflow_id"]

            async def running() -> bool:
                return marks(marker) == ["short_export"]

            await wait_for(running, 60, "the export to start")
            worker.send_signal(signal.SIGTERM)  # a deploy: the call in progress is drained
            assert worker.wait(30) == 0
        finally:
            stop(worker)
        view = await status(http, live.url, session_id, workflow_id)
        assert view["runtime_status"] == "Completed", view
        assert view["tasks"][0]["attempts"] == 1
        assert marks(marker) == ["short_export"]
