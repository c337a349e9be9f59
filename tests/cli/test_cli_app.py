"""``agentdown check | schema | init | run | chat`` against the project's fake model server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentdown.cli import app
from agentdown.messages import Message
from agentdown.testing import CallInfo, FakeModelServer, Reply, tool_call

ROOT = Path(__file__).parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
# Variables a developer's shell might set that would change what the commands see.
_CLEARED = {
    name: None
    for name in (
        "AGENTDOWN_PROVIDER",
        "AZURE_FUNCTIONS_AGENTS_PROVIDER",
        "AZURE_OPENAI_ENDPOINT",
        "FOUNDRY_PROJECT_ENDPOINT",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AGENTDOWN_MODEL",
        "AGENTDOWN_SESSION_STORE",
        "AGENTDOWN_SESSION_CONNECTION",
        "AzureWebJobsStorage",
    )
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer().in_thread() as srv:
        yield srv


def model_env(server: FakeModelServer, tmp_path: Path) -> dict[str, str | None]:
    return {
        **_CLEARED,
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "test",
        "AGENTDOWN_SESSION_PATH": str(tmp_path / "sessions.db"),
    }


def write_app(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


# -- check / schema / init ---------------------------------------------------------------------


def test_check_quickstart(runner: CliRunner) -> None:
    result = runner.invoke(app, ["check", str(QUICKSTART)], env={**_CLEARED, "OPENAI_API_KEY": "k"})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{QUICKSTART}: OK · 1 agent, 2 tools, 0 skills, 0 MCP servers, 0 triggers, 1 agent with endpoints",
        "  quickstart: Quickstart assistant · endpoints: chat page, chat API, MCP · tools: current_time, get_weather",
    ]
    assert result.stderr == ""


def test_check_without_provider_warns_and_passes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["check", str(QUICKSTART)], env=_CLEARED)
    assert result.exit_code == 0
    assert result.stdout.startswith(
        f"{QUICKSTART / 'quickstart.agent.md'}: warning: agent 'quickstart' cannot run here yet: "
        "no model provider configured"
    )
    assert f"{QUICKSTART}: OK" in result.stdout
    strict = runner.invoke(app, ["check", str(QUICKSTART), "--require-model"], env=_CLEARED)
    assert strict.exit_code == 1
    assert "error: agent 'quickstart' cannot run here yet" in strict.stdout


def test_check_prints_every_problem_and_fails(runner: CliRunner, tmp_path: Path) -> None:
    app_dir = write_app(
        tmp_path,
        {
            "a.agent.md": "---\nname: a\nbuiltin_endpoints: true\ncolour: red\n---\nHi.\n",
            "b.agent.md": "---\nname: b\ndescription: d\ntrigger:\n  type: timer_trigger\n---\nHi.\n",
        },
    )
    result = runner.invoke(app, ["check", str(app_dir)], env={**_CLEARED, "OPENAI_API_KEY": "k"})
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{app_dir / 'a.agent.md'}:4: error: colour: unknown key 'colour' in the front matter; expected one of: "
        "name, description, trigger, output, session_key, builtin_endpoints, http_auth, model, timeout, logger, "
        "substitute_variables, "
        "system_tools, mcp, skills, tools, subagents, queue_tools, openapi_tools, input_schema, response_example, "
        "response_schema, "
        "agent_configuration, structured_output, workflows, knowledge, metadata, runtime",
        f"{app_dir / 'a.agent.md'}:2: error: description: required: expected what the agent does (a string)",
        f"{app_dir / 'b.agent.md'}:4: error: trigger.schedule: required: expected an NCRONTAB schedule such as "
        "'0 0 9 * * *' (6 fields, or 5 with seconds omitted)",
    ]
    assert result.stderr.strip() == f"{app_dir}: 3 errors, 0 warnings"


def test_schema_command(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "trigger" in schema["properties"]
    out = tmp_path / "agent.schema.json"
    assert runner.invoke(app, ["schema", "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == schema


def test_init_then_check(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "my-app"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "README.md",
        "agents.config.yaml",
        "main.agent.md",
        "tools/dice.py",
    ]
    check = runner.invoke(app, ["check", str(target)], env={**_CLEARED, "OPENAI_API_KEY": "k"})
    assert check.exit_code == 0, check.output
    assert check.stderr == "" and "warning" not in check.stdout
    assert "1 agent, 1 tool" in check.stdout and "main: Assistant" in check.stdout
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 1 and "already exist" in again.stderr
    assert runner.invoke(app, ["init", str(target), "--force"]).exit_code == 0


def test_init_scaffold_runs(runner: CliRunner, server: FakeModelServer, tmp_path: Path) -> None:
    target = tmp_path / "dice"
    runner.invoke(app, ["init", str(target)])
    result = runner.invoke(app, ["run", str(target), "Roll a die"], env=model_env(server, tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Done. Tool results: roll_dice: [")
    assert "→ roll_dice {}" in result.stderr


# -- run -----------------------------------------------------------------------------------------


def test_run_streams_the_answer_and_shows_tool_calls(
    runner: CliRunner, server: FakeModelServer, tmp_path: Path
) -> None:
    def reply(messages: list[Message], info: CallInfo) -> Reply:
        if messages[-1].role == "tool":
            return "It is " + messages[-1].tool_results[0].text + "."
        return [tool_call("get_weather", {"city": "Paris"})]

    server.handler = reply
    result = runner.invoke(
        app, ["run", str(QUICKSTART), "Weather in Paris?"], env=model_env(server, tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "It is Paris: sunny, 18°C.\n"
    lines = result.stderr.splitlines()
    assert lines[0] == '→ get_weather {"city": "Paris"}'
    assert lines[1].startswith("✓ get_weather (") and lines[1].endswith("ms): Paris: sunny, 18°C")
    assert server.requests[0].body["stream"] is True  # streamed from the server, not just printed
    system = server.requests[0].body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith(
        "You are a concise, friendly assistant."
    )


def test_run_with_a_session_keeps_the_conversation(
    runner: CliRunner, server: FakeModelServer, tmp_path: Path
) -> None:
    env = model_env(server, tmp_path)
    first = runner.invoke(
        app, ["run", str(QUICKSTART), "--session", "s-1", "-a", "quickstart", "Hi"], env=env
    )
    assert first.exit_code == 0, first.output
    assert "session: s-1" in first.stderr
    second = runner.invoke(app, ["run", str(QUICKSTART), "--session", "s-1", "And again"], env=env)
    assert second.exit_code == 0, second.output
    sent = [m for m in server.requests[-1].body["messages"] if m["role"] == "user"]
    assert [m["content"] for m in sent] == ["Hi", "And again"]


def test_run_reads_the_prompt_from_stdin(runner: CliRunner, server: FakeModelServer, tmp_path: Path) -> None:
    server.handler = lambda messages, info: "Echo: " + messages[-1].text
    result = runner.invoke(
        app, ["run", str(QUICKSTART), "-"], input="from stdin\n", env=model_env(server, tmp_path)
    )
    assert result.stdout == "Echo: from stdin\n"


def test_run_errors(runner: CliRunner, server: FakeModelServer, tmp_path: Path) -> None:
    env = model_env(server, tmp_path)
    unknown = runner.invoke(app, ["run", str(QUICKSTART), "-a", "nope", "Hi"], env=env)
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == f"error: no agent 'nope' in {QUICKSTART}; its agents are: quickstart"
    empty = runner.invoke(app, ["run", str(QUICKSTART), "  "], env=env)
    assert (empty.exit_code, empty.stderr.strip()) == (2, "error: the prompt is empty")
    bad_session = runner.invoke(app, ["run", str(QUICKSTART), "-s", "no spaces", "Hi"], env=env)
    assert bad_session.exit_code == 2 and "invalid session id" in bad_session.output
    no_model = runner.invoke(app, ["run", str(QUICKSTART), "Hi"], env=_CLEARED)
    assert no_model.exit_code == 1
    assert "agent 'quickstart' has no usable model: no model provider configured" in no_model.stderr
    server.fail_next(400, times=1)
    failed = runner.invoke(app, ["run", str(QUICKSTART), "Hi"], env=env)
    assert failed.exit_code == 1 and "HTTP 400" in failed.stderr


def test_run_broken_app_prints_its_problems(runner: CliRunner, tmp_path: Path) -> None:
    app_dir = write_app(tmp_path, {"a.agent.md": "no front matter\n"})
    result = runner.invoke(app, ["run", str(app_dir), "Hi"], env=_CLEARED)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{app_dir / 'a.agent.md'}:1: error: expected YAML front matter")


def test_run_asks_before_tools_that_need_approval(
    runner: CliRunner, server: FakeModelServer, tmp_path: Path
) -> None:
    tool = (
        "from agentdown import tool\n\n@tool(approval_mode='always_require')\n"
        "def delete_everything() -> str:\n    return 'deleted'\n"
    )
    app_dir = write_app(
        tmp_path / "app",
        {
            "main.agent.md": "---\nname: m\ndescription: d\nbuiltin_endpoints: true\n---\nHi.\n",
            "tools/t.py": tool,
        },
    )
    env = model_env(server, tmp_path)
    denied = runner.invoke(app, ["run", str(app_dir), "Clean up"], env=env)
    assert denied.exit_code == 0, denied.output
    assert "denied delete_everything {}: it needs approval (pass --approve-tools)" in denied.stderr
    approved = runner.invoke(app, ["run", str(app_dir), "Clean up", "--approve-tools"], env=env)
    assert approved.stdout == "Done. Tool results: delete_everything: deleted\n"


# -- chat ----------------------------------------------------------------------------------------


def test_chat_keeps_its_session(runner: CliRunner, server: FakeModelServer, tmp_path: Path) -> None:
    server.handler = lambda messages, info: (
        f"Turn {sum(m.role == 'user' for m in messages)}: {messages[-1].text}"
    )
    result = runner.invoke(
        app,
        ["chat", str(QUICKSTART)],
        input="first\n\nsecond\n/exit\nnever sent\n",
        env=model_env(server, tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "Turn 1: first\nTurn 2: second\n"
    assert result.stderr.startswith("Quickstart assistant (quickstart) · /exit to quit\n")
    assert len(server.requests) == 2
    users = [m["content"] for m in server.requests[1].body["messages"] if m["role"] == "user"]
    assert users == ["first", "second"]


def test_chat_with_a_stored_session_resumes_it(
    runner: CliRunner, server: FakeModelServer, tmp_path: Path
) -> None:
    server.handler = lambda messages, info: f"{sum(m.role == 'user' for m in messages)} user messages"
    env = model_env(server, tmp_path)
    runner.invoke(app, ["chat", str(QUICKSTART), "-s", "chat-1"], input="one\ntwo\n", env=env)
    again = runner.invoke(app, ["chat", str(QUICKSTART), "-s", "chat-1"], input="three\n", env=env)
    assert again.stdout == "3 user messages\n"
    assert again.stderr.rstrip().endswith("session: chat-1")


def test_chat_survives_a_failed_turn(runner: CliRunner, server: FakeModelServer, tmp_path: Path) -> None:
    server.handler = lambda messages, info: "ok"
    server.fail_next(400)
    result = runner.invoke(
        app, ["chat", str(QUICKSTART)], input="bad\ngood\n", env=model_env(server, tmp_path)
    )
    assert result.exit_code == 0
    assert "error: model request" in result.stderr and result.stdout == "ok\n"


def test_cli_as_a_process(server: FakeModelServer, tmp_path: Path) -> None:
    """The real entry point, in a subprocess: streaming output arrives through a pipe."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update({k: v for k, v in model_env(server, tmp_path).items() if v is not None})
    done = subprocess.run(
        [sys.executable, "-m", "agentdown.cli", "run", str(QUICKSTART), "What time is it?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Done. Tool results: current_time: ")
    assert "→ current_time {}" in done.stderr
