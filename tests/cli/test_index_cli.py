"""``agentdown index APP``: what it prints per agent; ``run`` indexes before the turn."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentdown.cli import app
from agentdown.messages import Message
from agentdown.testing import CallInfo, FakeModelServer, Reply, tool_call

AGENT = "---\nname: Helper\ndescription: Helps.\nknowledge: [docs/]\n---\nAnswer from the docs.\n"
PLAIN = "---\nname: Plain\ndescription: No knowledge.\n---\nHi.\n"


def env(tmp_path: Path) -> dict[str, str | None]:
    return {
        "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        "AGENTDOWN_EMBEDDING_MODEL": "none",
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": None,
        "AGENTDOWN_SESSION_STORE": None,
        "AGENTDOWN_SESSION_PATH": str(tmp_path / "sessions.db"),
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    files = {
        "main.agent.md": AGENT,
        "plain.agent.md": PLAIN,
        "docs/a.md": "Refunds take 14 days.",
        "docs/b.md": "Shipping is free over 50 euros.",
        "docs/broken.docx": "not a zip",
        "docs/logo.png": "x",
    }
    app_dir = tmp_path / "app"
    for rel, text in files.items():
        (app_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / rel).write_text(text, encoding="utf-8")
    return app_dir


def test_index_prints_what_was_indexed_then_only_changes(root: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["index", str(root)], env=env(tmp_path))
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0].startswith(
        "main (docs): 2 files, 2 chunks · 2 added, 0 updated, 0 unchanged, 0 removed, 1 failed · "
    )
    assert lines[1] == "    added: docs/a.md, docs/b.md"
    assert lines[2].startswith("    failed: docs/broken.docx: ") and "docx" in lines[2]
    assert lines[3] == "    ignored: 1 file of types that cannot be indexed (png)"
    assert "plain" not in first.stdout
    assert "indexing into" in first.stderr and str(tmp_path / "data" / "knowledge") in first.stderr

    (root / "docs" / "b.md").unlink()
    (root / "docs" / "a.md").write_text("Refunds take 30 days now.")
    later = time.time() + 5
    os.utime(root / "docs" / "a.md", (later, later))
    (root / "docs" / "c.md").write_text("Warranty: two years.")
    second = runner.invoke(app, ["index", str(root), "--format", "json"], env=env(tmp_path))
    assert second.exit_code == 0, second.output
    agents = json.loads(second.stdout)["agents"]
    assert len(agents) == 1
    record = agents[0]
    assert record["agent"] == "main" and record["paths"] == ["docs"]
    assert (record["added"], record["updated"], record["removed"]) == (
        ["docs/c.md"],
        ["docs/a.md"],
        ["docs/b.md"],
    )
    assert record["unchanged"] == 0 and record["files"] == 2 and record["chunks"] == 2
    assert [f["file"] for f in record["failed"]] == ["docs/broken.docx"]

    third = runner.invoke(app, ["index", str(root), "--agent", "main"], env=env(tmp_path))
    assert "0 added, 0 updated, 2 unchanged, 0 removed, 1 failed" in third.stdout


def test_index_errors(root: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["index", str(root), "--agent", "nope"], env=env(tmp_path))
    assert unknown.exit_code == 2 and "no agent 'nope'" in unknown.stderr
    plain = runner.invoke(app, ["index", str(root), "--agent", "plain"], env=env(tmp_path))
    assert plain.exit_code == 2 and "agent 'plain' has no knowledge" in plain.stderr
    (root / "main.agent.md").write_text(AGENT.replace("[docs/]", "[../docs]"))
    bad = runner.invoke(app, ["index", str(root)], env=env(tmp_path))
    assert bad.exit_code == 1 and "leaves the app folder" in bad.stderr


def test_index_with_no_knowledge(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.agent.md").write_text(PLAIN)
    result = CliRunner().invoke(app, ["index", str(tmp_path / "app")], env=env(tmp_path))
    assert result.exit_code == 0 and "no agent has knowledge" in result.stdout


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    def reply(messages: list[Message], info: CallInfo) -> Reply:
        if messages[-1].role == "tool":
            return "Refunds take 14 days 【0†docs/a.md】."
        return [tool_call("file_search", {"query": "refunds"})]

    with FakeModelServer(reply).in_thread() as srv:
        yield srv


def test_run_indexes_then_searches(root: Path, tmp_path: Path, server: FakeModelServer) -> None:
    variables = {**env(tmp_path), "OPENAI_BASE_URL": server.base_url}
    result = CliRunner().invoke(
        app, ["run", str(root), "--agent", "main", "How long do refunds take?"], env=variables
    )
    assert result.exit_code == 0, result.output
    assert "Refunds take 14 days" in result.stdout
    assert "knowledge: 2 files, 2 chunks (3 indexed now, 1 failed" in result.output
    tool_result = server.requests[-1].body["messages"][-1]["content"]
    assert "【0†docs/a.md】" in tool_result and "Refunds take 14 days." in tool_result
    # The answer's source is shown beside it, on stderr: stdout stays the answer alone.
    assert "【0†docs/a.md】 docs/a.md: Refunds take 14 days." in result.stderr
    assert "docs/a.md:" not in result.stdout
