"""``agentdown workflows list|show|cancel APP``: what an operator sees of the store, across sessions."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentdown.app import load_app
from agentdown.app.workflow_tools import workflow_policy
from agentdown.cli import app
from agentdown.runtime.workflows import WorkflowHost
from agentdown.workflows.planned import validate_plan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "workflows"))

from wfkit import write_triage_app


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, dict[str, str], list[str]]:
    folder = write_triage_app(tmp_path)
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), "OPENAI_API_KEY": "test"}
    catalog = load_app(folder, environ=env)
    policy = workflow_policy(catalog, catalog["main"])

    async def make() -> list[str]:
        host = WorkflowHost(catalog)
        await host.start(consume=False)
        try:
            nap = validate_plan({"tasks": [{"id": "nap", "type": "wait", "duration": "PT1H"}]}, policy)
            first = await host.service.start_workflow("main", "sess-one", None, nap)
            second = await host.service.start_workflow("main", "sess-two", None, nap)
            return [first, second]
        finally:
            await host.aclose()

    return folder, env, asyncio.run(make())


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_list_show_and_cancel(setup: tuple[Path, dict[str, str], list[str]]) -> None:
    folder, env, (first, second) = setup
    code, out, err = invoke(env, "workflows", "list", str(folder), "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["workflow_id"] for r in rows} == {first, second}
    assert {r["session_id"] for r in rows} == {"sess-one", "sess-two"}
    assert all(r["runtime_status"] == "Running" and r["agent"] == "main" for r in rows)

    code, out, _ = invoke(env, "workflows", "list", str(folder), "--session", "sess-two")
    assert code == 0 and second in out and first not in out

    code, out, _ = invoke(env, "workflows", "show", str(folder), first)
    assert code == 0
    assert f"workflow {first} of agent main (session sess-one)" in out
    assert "  nap (wait) running" in out

    code, out, _ = invoke(env, "workflows", "cancel", str(folder), first, "--reason", "maintenance")
    assert code == 0 and out.strip() == f"workflow {first}: Canceled"
    code, out, _ = invoke(env, "workflows", "show", str(folder), first, "--json")
    view = json.loads(out)
    assert view["runtime_status"] == "Canceled" and view["output"]["reason"] == "maintenance"
    assert view["notification"].startswith("<workflow-notification>")

    code, out, _ = invoke(env, "workflows", "cancel", str(folder), second, "--terminate")
    assert code == 0 and out.strip() == f"workflow {second}: Terminated"
    # Cancelling an ended workflow changes nothing.
    code, out, _ = invoke(env, "workflows", "cancel", str(folder), second)
    assert code == 0 and out.strip() == f"workflow {second}: Terminated"

    code, out, _ = invoke(env, "workflows", "list", str(folder), "--active")
    assert code == 0 and out.strip() == "no workflows"


def test_unknown_ids_are_an_error(setup: tuple[Path, dict[str, str], list[str]]) -> None:
    folder, env, _ = setup
    for command in ("show", "cancel"):
        code, _, err = invoke(env, "workflows", command, str(folder), "0" * 12 + "-" + "0" * 32)
        assert code == 1 and "no workflow" in err
