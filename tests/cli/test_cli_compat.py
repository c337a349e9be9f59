"""``check --format json|github``, load warnings at ``serve`` start-up, one-line tool errors in ``run``."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentdown.cli import app
from agentdown.messages import Message
from agentdown.testing import CallInfo, FakeModelServer, Reply, tool_call

DEPLOYED = Path(__file__).parents[1] / "app" / "fixtures" / "functions_deployed_app"
CLEAN = {
    name: None
    for name in (
        "AGENTDOWN_PROVIDER",
        "AZURE_FUNCTIONS_AGENTS_PROVIDER",
        "AZURE_OPENAI_ENDPOINT",
        "FOUNDRY_PROJECT_ENDPOINT",
        "OPENAI_BASE_URL",
        "AGENTDOWN_MODEL",
        "AGENTDOWN_SESSION_STORE",
        "AGENTDOWN_SESSION_CONNECTION",
        "AzureWebJobsStorage",
        "MAIL_MCP_URL",
    )
}
ENV = {**CLEAN, "OPENAI_API_KEY": "k"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def deployed(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEPLOYED, tmp_path / "app"))


def test_check_json_prints_the_resolved_app(runner: CliRunner, deployed: Path) -> None:
    result = runner.invoke(app, ["check", str(deployed), "--format", "json"], env=ENV)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["format"], report["version"], report["ok"]) == ("agentdown-check", 1, True)
    assert report["summary"]["agents"] == 6
    agents = {a["slug"]: a for a in report["agents"]}
    inbox = agents["inbox"]
    assert inbox["file"] == str(deployed / "inbox.agent.md")
    assert inbox["trigger"] == {
        "type": "generic_trigger",
        "args": {"type": "connectorTrigger"},
        "runs": "azure_functions",
    }
    assert inbox["endpoints"]["routes"] == ["POST /agents/inbox/chat", "POST /agents/inbox/chatstream"]
    assert inbox["endpoints"]["http_auth"] == {"mode": "function", "entra": None}
    assert (inbox["timeout"], inbox["model"], inbox["mcp_servers"]) == (900.0, None, [])
    assert inbox["instructions"].startswith("Draft a polite reply")
    assert agents["main"]["mcp_servers"] == ["docs"]
    assert report["skipped_mcp_servers"] == {"mail": "its url names an unset environment variable"}
    digest = agents["digest"]
    assert (
        digest["trigger"]["runs"] == "everywhere" and digest["trigger"]["args"]["schedule"] == "0 0 9 * * 1"
    )
    assert digest["response_format"]["kind"] == "example_text"
    assert digest["structured_output"] == "native"
    assert agents["triage"]["workflows"] == {
        "enabled": True,
        "exclude": [],
        "subagents": ["digest"],
        "tools": [],
    }
    first = report["problems"][0]
    assert first == {
        "file": str(deployed / "Agents" / "digest.claude.md"),
        "line": 10,
        "severity": "warning",
        "message": first["message"],
    }
    assert first["message"].startswith("response_example: not valid JSON")


def test_check_json_of_a_broken_app(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "a.agent.md").write_text("---\nname: A\n---\nHi\n")
    result = runner.invoke(app, ["check", str(tmp_path), "-f", "json"], env=ENV)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["agents"], report["summary"]) == (False, [], None)
    assert report["problems"] == [
        {
            "file": str(tmp_path / "a.agent.md"),
            "line": 2,
            "severity": "error",
            "message": "description: required: expected what the agent does (a string)",
        }
    ]


def test_check_github_annotations(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "a.agent.md").write_text(
        "---\nname: A\ndescription: d\nbuiltin_endpoints: true\nruntime: x\n---\n"
    )
    (tmp_path / "b.agent.md").write_text("---\nname: B\n---\nHi\n")
    result = runner.invoke(app, ["check", str(tmp_path), "--format", "github"], env=ENV)
    assert result.exit_code == 1
    file_a = str(tmp_path / "a.agent.md").replace(":", "%3A").replace(",", "%2C")
    file_b = str(tmp_path / "b.agent.md").replace(":", "%3A").replace(",", "%2C")
    assert result.stdout.splitlines() == [
        f"::warning file={file_a},line=5::runtime: agentdown has a single agent loop; `runtime` is ignored",
        f"::warning file={file_a},line=7::the agent has no instructions: write them below the front matter",
        f"::error file={file_b},line=2::description: required: expected what the agent does (a string)",
    ]


def test_check_refuses_an_unknown_format(runner: CliRunner, deployed: Path) -> None:
    result = runner.invoke(app, ["check", str(deployed), "--format", "xml"], env=ENV)
    assert result.exit_code == 2 and "expected one of text, json, github" in result.output


def test_serve_prints_the_load_warnings_at_start_up(
    runner: CliRunner, deployed: Path, tmp_path: Path
) -> None:
    # The port is taken, so serve stops right after loading the app (exit 1): the warnings
    # were printed by then, exactly as `check` prints them.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {
            **ENV,
            "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
            "AGENTDOWN_SESSION_PATH": str(tmp_path / "s.db"),
        }
        served = runner.invoke(app, ["serve", str(deployed), "--port", str(port)], env=env)
    checked = runner.invoke(app, ["check", str(deployed)], env=ENV)
    assert served.exit_code == 1, served.output
    warnings = [line for line in checked.stdout.splitlines() if ": warning: " in line]
    assert len(warnings) == 7
    for line in warnings:
        assert line in served.stderr.splitlines()


BROKEN_TOOL = '''
from agentdown import tool

@tool
def explode(level: int) -> str:
    """Explode, to show what a failing tool looks like."""
    raise ValueError(f"boom at level {level}")
'''


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer().in_thread() as srv:
        yield srv


@pytest.mark.parametrize("verbose", [False, True])
def test_run_shows_a_failing_tool_in_one_line_and_the_trace_with_v(
    runner: CliRunner, server: FakeModelServer, tmp_path: Path, verbose: bool
) -> None:
    app_dir = tmp_path / "app"
    (app_dir / "tools").mkdir(parents=True)
    (app_dir / "main.agent.md").write_text(
        "---\nname: M\ndescription: d\nbuiltin_endpoints: true\n---\nGo.\n"
    )
    (app_dir / "tools" / "explode.py").write_text(BROKEN_TOOL)

    def reply(messages: list[Message], info: CallInfo) -> Reply:
        if messages[-1].role == "tool":
            return "It failed."
        return [tool_call("explode", {"level": 3})]

    server.handler = reply
    env = {**CLEAN, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
    args = ["run", str(app_dir), "Go", *(["-v"] if verbose else [])]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == "It failed.\n"
    # The tool's event line (what the model reads back), then one line with the error itself.
    lines = result.stderr.splitlines()
    assert "✗ explode (" in result.stderr
    failed = [line for line in lines if line.startswith("error: tool 'explode'")]
    assert len(failed) == 1
    assert failed[0].startswith("error: tool 'explode' (call ")
    if verbose:
        assert failed[0].endswith("failed")
        assert "Traceback (most recent call last):" in result.stderr
        assert 'raise ValueError(f"boom at level {level}")' in result.stderr
    else:
        assert failed[0].endswith("failed: ValueError: boom at level 3")
        assert "Traceback" not in result.stderr
