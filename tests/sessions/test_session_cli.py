"""``agentdown sessions list|show|prune`` against a temporary data directory."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentdown.cli import app
from agentdown.cli.session_commands import parse_duration
from agentdown.messages import Content, Message
from agentdown.sessions import SqliteSessionStore

runner = CliRunner()


def seed(data_dir: Path) -> None:
    async def main() -> None:
        store = SqliteSessionStore(data_dir / "sessions.db")
        v = await store.append(
            "helper", "s1", [Message.user("hello"), Message.assistant("hi there")], expected_version=None
        )
        call = Content.from_tool_call("lookup", {"q": 1}, call_id="c1")
        await store.append(
            "helper",
            "s1",
            [
                Message.user("look it up"),
                Message(role="assistant", contents=[call]),
                Message(role="tool", contents=[Content.from_tool_result("c1", "found", name="lookup")]),
                Message.assistant("done"),
            ],
            expected_version=v,
        )
        await store.append("other", "s2", [Message.user("x")], expected_version=None)
        await store.aclose()

    asyncio.run(main())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    seed(tmp_path)
    return {"AGENTDOWN_DATA_DIR": str(tmp_path), "AGENTDOWN_SESSION_STORE": "", "AzureWebJobsStorage": ""}


def test_list(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["sessions", "list"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["AGENT", "SESSION", "TURNS", "MESSAGES", "UPDATED"]
    assert [line.split()[:4] for line in lines[1:]] == [["other", "s2", "1", "1"], ["helper", "s1", "2", "6"]]
    result = runner.invoke(app, ["sessions", "list", "--agent", "helper", "--json"], env=env)
    assert [i["session_id"] for i in json.loads(result.stdout)] == ["s1"]


def test_list_with_data_dir_option(tmp_path: Path) -> None:
    seed(tmp_path)
    result = runner.invoke(
        app,
        ["sessions", "list", "--data-dir", str(tmp_path), "--json"],
        env={"AGENTDOWN_DATA_DIR": "/nonexistent"},
    )
    assert len(json.loads(result.stdout)) == 2


def test_show(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["sessions", "show", "helper", "s1"], env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "--- turn 1" in out and "user: hello" in out and "assistant: hi there" in out
    assert 'assistant: -> lookup({"q": 1}) [c1]' in out and "tool: <- lookup[c1]: found" in out
    result = runner.invoke(app, ["sessions", "show", "helper", "s1", "--last", "1", "--json"], env=env)
    data = json.loads(result.stdout)
    assert [t["seq"] for t in data["turns"]] == [2] and len(data["turns"][0]["messages"]) == 4
    result = runner.invoke(app, ["sessions", "show", "helper", "s1", "-n", "1"], env=env)
    assert "1 older turn(s) not shown" in result.stdout


def test_show_errors(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["sessions", "show", "helper", "nope"], env=env)
    assert result.exit_code == 1 and "has no session 'nope'" in result.stderr
    result = runner.invoke(app, ["sessions", "show", "helper", "bad/id"], env=env)
    assert result.exit_code == 2 and "invalid session id" in result.output


def test_prune(env: dict[str, str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["sessions", "prune", "--older-than", "1h"], env=env)
    assert result.exit_code == 0 and "deleted 0 session(s)" in result.stdout
    time.sleep(0.05)
    result = runner.invoke(
        app, ["sessions", "prune", "--older-than", "0s", "--agent", "other", "--dry-run"], env=env
    )
    assert "would delete other/s2" in result.stdout and "would delete 1 session(s)" in result.stdout
    result = runner.invoke(app, ["sessions", "prune", "--older-than", "0s", "--agent", "other"], env=env)
    assert "deleted other/s2" in result.stdout
    result = runner.invoke(app, ["sessions", "list", "--json"], env=env)
    assert [i["session_id"] for i in json.loads(result.stdout)] == ["s1"]
    result = runner.invoke(app, ["sessions", "prune", "--older-than", "soon"], env=env)
    assert result.exit_code == 2 and "expected a duration" in result.output


def test_config_errors_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sessions", "list"], env={"AGENTDOWN_SESSION_STORE": "redis"})
    assert result.exit_code == 1 and "AGENTDOWN_SESSION_STORE" in result.stderr


def test_parse_duration() -> None:
    assert parse_duration("30d").total_seconds() == 30 * 86400
    assert parse_duration("1w2d3h4m5s").total_seconds() == 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5
    assert parse_duration(" 12H ").total_seconds() == 12 * 3600
