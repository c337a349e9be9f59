"""``agentdown approve`` and ``sessions show`` on paused turns, against the fake model server.

The paused turns are made by the runtime's own :class:`Runner` on the SQLite store the
commands then open from the environment, as a trigger host or server would leave them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agentdown.app import load_app
from agentdown.cli import app
from agentdown.cli.approve_commands import parse_output_value
from agentdown.messages import Message
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.runtime import Runner
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import CallInfo, FakeModelServer, Reply, ToolCalls, tool_call

TOOLS = '''
from pathlib import Path

from agentdown import FunctionTool, tool

RAN = Path(__file__).resolve().parent.parent / "ran.log"


@tool(approval_mode="always_require")
def wipe(disk: str) -> str:
    """Wipe a disk (asks first)."""
    with RAN.open("a", encoding="utf-8") as log:
        log.write(disk + "\\n")
    return f"wiped {disk}"


ask_human = FunctionTool(
    name="ask_human",
    description="Ask a person.",
    schema={"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]},
)
'''

AGENT = "---\nname: Ops\ndescription: Does risky things.\nbuiltin_endpoints: true\n---\nBe careful.\n"


def model(messages: list[Message], info: CallInfo) -> Reply:
    last = messages[-1]
    prompt = next(m.text for m in reversed(messages) if m.role == "user")
    if last.role == "tool":
        if "twice" in prompt and sum(m.role == "tool" for m in messages) == 1:
            return [tool_call("wipe", {"disk": "sdb"}, call_id="call_second")]
        return "Results: " + " | ".join(c.text or "" for c in last.contents)
    if "both" in prompt:
        return ToolCalls(
            tool_call("wipe", {"disk": "sda"}, call_id="call_wipe"),
            tool_call("ask_human", {"question": "Which disk next?"}, call_id="call_ask"),
        )
    return [tool_call("wipe", {"disk": "sda"}, call_id="call_wipe")]


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer(model).in_thread() as srv:
        yield srv


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    (root / "tools").mkdir(parents=True)
    (root / "ops.agent.md").write_text(AGENT, encoding="utf-8")
    (root / "tools" / "ops.py").write_text(TOOLS, encoding="utf-8")
    return root


def env_for(server: FakeModelServer, tmp_path: Path) -> dict[str, str | None]:
    return {
        "AGENTDOWN_PROVIDER": None,
        "AZURE_OPENAI_ENDPOINT": None,
        "FOUNDRY_PROJECT_ENDPOINT": None,
        "AGENTDOWN_MODEL": None,
        "AGENTDOWN_SESSION_STORE": None,
        "AGENTDOWN_SESSION_CONNECTION": None,
        "AzureWebJobsStorage": None,
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "test",
        "AGENTDOWN_SESSION_PATH": str(tmp_path / "sessions.db"),
        "COLUMNS": "400",
    }


def pause(app_dir: Path, server: FakeModelServer, tmp_path: Path, prompt: str, *, ttl: float = 3600) -> str:
    """Run ``prompt`` with the runtime's runner until it pauses; the session id."""

    async def main() -> str:
        model = OpenAIChatModel("fake-model", base_url=server.base_url, api_key="test", max_retries=0)
        runner = Runner(
            load_app(app_dir, model=model), SqliteSessionStore(tmp_path / "sessions.db"), pending_ttl=ttl
        )
        try:
            turn = await runner.run("ops", prompt)
            assert turn.result.requires_action
            return turn.session_id
        finally:
            await runner.aclose()
            await model.aclose()

    return asyncio.run(main())


def history(tmp_path: Path, session_id: str) -> list[Message]:
    async def main() -> list[Message]:
        store = SqliteSessionStore(tmp_path / "sessions.db")
        try:
            return (await store.load("ops", session_id)).messages
        finally:
            await store.aclose()

    return asyncio.run(main())


def invoke(env: dict[str, str | None], *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def test_approve_resumes_the_turn_and_prints_the_answer(
    app_dir: Path, server: FakeModelServer, tmp_path: Path
) -> None:
    sid = pause(app_dir, server, tmp_path, "Wipe it")
    env = env_for(server, tmp_path)
    result = invoke(env, "approve", str(app_dir), "ops", sid, "call_wipe")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Results: wiped sda\n"
    assert "approved wipe [call_wipe]" in result.stderr
    assert "→ wipe" in result.stderr and f"session: {sid}" in result.stderr
    assert (app_dir / "ran.log").read_text() == "sda\n"
    assert history(tmp_path, sid)[-1].text == "Results: wiped sda"


def test_every_pending_call_needs_a_decision_and_only_pending_calls_get_one(
    app_dir: Path, server: FakeModelServer, tmp_path: Path
) -> None:
    sid = pause(app_dir, server, tmp_path, "Do both")
    env = env_for(server, tmp_path)
    where = f"session '{sid}' of agent 'ops'"

    nothing = invoke(env, "approve", str(app_dir), "ops", sid)
    assert nothing.exit_code == 2
    assert nothing.stderr == (
        f"error: {where}: every pending call needs a decision in this command; missing: "
        "call_wipe (wipe, needs approval), call_ask (ask_human, needs --output)\n"
    )
    partly = invoke(env, "approve", str(app_dir), "ops", sid, "call_wipe")
    assert partly.exit_code == 2
    assert "missing: call_ask (ask_human, needs --output)" in partly.stderr
    # A call id from another session (or made up) is refused, naming what does wait.
    forged = invoke(env, "approve", str(app_dir), "ops", sid, "call_wipe", "call_ask", "call_other")
    assert forged.exit_code == 2
    assert forged.stderr.startswith(f"error: {where}: not pending: call_other. It waits for: call_wipe")
    no_output = invoke(env, "approve", str(app_dir), "ops", sid, "call_wipe", "call_ask")
    assert no_output.exit_code == 2
    assert (
        "ask_human [call_ask] is a tool without code: give its result with --output JSON" in no_output.stderr
    )
    assert not (app_dir / "ran.log").exists()
    assert server.requests and len(server.requests) == 1  # nothing was resumed

    done = invoke(
        env,
        "approve",
        str(app_dir),
        "ops",
        sid,
        "call_wipe",
        "call_ask",
        "--deny",
        "--output",
        '{"disk": "sdc"}',
    )
    assert done.exit_code == 0, done.output
    assert "denied wipe [call_wipe]" in done.stderr and "gave ask_human [call_ask] its result" in done.stderr
    assert done.stdout.startswith("Results: The user rejected this tool call")
    assert done.stdout.endswith(' | {"disk":"sdc"}\n')  # parsed as JSON, not passed as the typed text
    assert not (app_dir / "ran.log").exists()


def test_flags_that_fit_no_listed_call_are_refused(
    app_dir: Path, server: FakeModelServer, tmp_path: Path
) -> None:
    sid = pause(app_dir, server, tmp_path, "Wipe it")
    env = env_for(server, tmp_path)
    result = invoke(env, "approve", str(app_dir), "ops", sid, "call_wipe", "--output", "42")
    assert result.exit_code == 2
    assert "--output was given, but none of the listed calls needs a result" in result.stderr


def test_a_run_that_pauses_again_exits_3_with_the_next_command(
    app_dir: Path, server: FakeModelServer, tmp_path: Path
) -> None:
    sid = pause(app_dir, server, tmp_path, "Wipe twice")
    env = env_for(server, tmp_path)
    first = invoke(env, "approve", str(app_dir), "ops", sid, "call_wipe")
    assert first.exit_code == 3, first.output
    assert "the run waits again for decisions on: call_second (wipe, needs approval)" in first.stderr
    assert f"answer with: agentdown approve {app_dir} ops {sid} call_second" in first.stderr
    second = invoke(env, "approve", str(app_dir), "ops", sid, "call_second")
    assert second.exit_code == 0, second.output
    assert second.stdout == "Results: wiped sdb\n"
    assert (app_dir / "ran.log").read_text() == "sda\nsdb\n"


def test_an_expired_turn_exits_4_and_is_closed(
    app_dir: Path, server: FakeModelServer, tmp_path: Path
) -> None:
    sid = pause(app_dir, server, tmp_path, "Wipe it", ttl=0.2)
    time.sleep(0.3)
    env = env_for(server, tmp_path)
    result = invoke(env, "approve", str(app_dir), "ops", sid, "call_wipe")
    assert result.exit_code == 4, result.output
    assert "expired; its calls were not run" in result.stderr
    assert not (app_dir / "ran.log").exists()
    assert history(tmp_path, sid)[-1].contents[0].text == (
        "Not run: the request for approval expired before anyone answered it."
    )
    again = invoke(env, "approve", str(app_dir), "ops", sid, "call_wipe")
    assert again.exit_code == 2 and "has no turn waiting for decisions" in again.stderr


def test_unknown_agent_or_session(app_dir: Path, server: FakeModelServer, tmp_path: Path) -> None:
    env = env_for(server, tmp_path)
    unknown_agent = invoke(env, "approve", str(app_dir), "nope", "sess_1", "call_1")
    assert unknown_agent.exit_code == 2 and "no agent 'nope'" in unknown_agent.stderr
    bad_id = invoke(env, "approve", str(app_dir), "ops", "../etc", "call_1")
    assert bad_id.exit_code == 2 and "invalid session id" in bad_id.stderr
    missing = invoke(env, "approve", str(app_dir), "ops", "sess_never", "call_1")
    assert missing.exit_code == 2 and "has no turn waiting for decisions" in missing.stderr


def test_sessions_show_lists_the_pending_calls(
    app_dir: Path, server: FakeModelServer, tmp_path: Path
) -> None:
    sid = pause(app_dir, server, tmp_path, "Do both")
    env = env_for(server, tmp_path)
    shown = invoke(env, "sessions", "show", "ops", sid)
    assert shown.exit_code == 0, shown.output
    tail = shown.stdout.splitlines()[-4:]
    assert tail[0].startswith("--- waiting for decisions (until ")
    assert tail[1:] == [
        '  wipe({"disk": "sda"}) [call_wipe] needs approval',
        '  ask_human({"question": "Which disk next?"}) [call_ask] needs its result (--output)',
        f"  answer with: agentdown approve APP ops {sid} call_wipe call_ask --output '<the tool result as JSON>'"
        " (--deny to refuse)",
    ]
    as_json = json.loads(invoke(env, "sessions", "show", "ops", sid, "--json").stdout)
    assert as_json["pending"]["expired"] is False
    assert [c["tool_call_id"] for c in as_json["pending"]["calls"]] == ["call_wipe", "call_ask"]


def test_output_values_are_json_when_they_parse() -> None:
    assert parse_output_value('{"a": 1}') == {"a": 1}
    assert parse_output_value("42") == 42
    assert parse_output_value('"quoted"') == "quoted"
    assert parse_output_value("plain words") == "plain words"
