"""What the Azure Functions agents runtime accepts loads here; what agentdown does not honour is
a warning with file:line (fixtures/functions_deployed_app)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp
import pytest
import uvicorn
from apphelpers import messages

from agentdown.app.catalog import check_app, load_app
from agentdown.app.diagnostics import Problems
from agentdown.app.spec import FunctionsTrigger, TimerTrigger, WorkflowSettings
from agentdown.runtime import Runner
from agentdown.server import ServerSettings, create_app
from agentdown.server.serving import bind_socket
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import ScriptedModel

FIXTURE = Path(__file__).parent / "fixtures" / "functions_deployed_app"
ENV = {"OPENAI_API_KEY": "test"}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "app"))


def test_it_loads_with_a_warning_for_each_thing_not_honoured(app: Path) -> None:
    catalog, problems = check_app(app, environ=ENV)
    assert catalog is not None, messages(problems)
    deployed = "runs when the app is deployed to Azure Functions; `agentdown serve` does not run it (the agent's other endpoints are served)"
    assert messages(problems) == [
        f"{app / 'Agents' / 'digest.claude.md'}:10: warning: response_example: not valid JSON (Expecting "
        "value: line 1 column 1 (char 0)), so answers are not checked against its shape: it is shown to the "
        "model as the answer's format, and an answer must be a JSON object",
        f"{app / 'Agents' / 'digest.claude.md'}:8: warning: trigger.args.timezone: unknown key 'timezone' in "
        "timer_trigger arguments; expected one of: schedule, run_on_startup, use_monitor; Azure Functions "
        "passes it to the trigger as a binding property; agentdown does not use it",
        f"{app / 'inbox.agent.md'}:5: warning: trigger.type: 'generic_trigger' {deployed}",
        f"{app / 'orders.agent.md'}:5: warning: trigger.type: 'service_bus_queue_trigger' {deployed}",
        f"{app / 'telemetry.agent.md'}:5: warning: trigger.type: 'event_hub_message_trigger' {deployed}",
        f"{app / 'mcp.json'}:9: warning: server 'mail': url: MAIL_MCP_URL is not set in the environment, so "
        "this server is skipped (as in the Azure Functions runtime) and agents run without its tools; set it "
        "to use the server",
        f"{app / 'main.agent.md'}:5: warning: mcp.exclude: no MCP server in mcp.json named 'ticketing'",
    ]


def test_triggers_only_azure_runs_are_kept_for_deployment(app: Path) -> None:
    catalog = load_app(app, environ=ENV)
    inbox, telemetry = catalog["inbox"], catalog["telemetry"]
    assert inbox.trigger is None
    assert inbox.functions_trigger == FunctionsTrigger("generic_trigger", {"type": "connectorTrigger"})
    assert telemetry.functions_trigger is not None
    assert telemetry.functions_trigger.args == {
        "event_hub_name": "devices",
        "connection": "EventHubConnection",
        "cardinality": "many",
    }
    assert catalog.summary().triggers == 4
    digest = catalog["digest"]  # a *.claude.md file in Agents/
    assert digest.trigger == TimerTrigger("0 0 9 * * 1")
    assert catalog["triage"].workflows == WorkflowSettings(
        enabled=True, subagents=(catalog["triage"].workflows.subagents[0],)
    )


def test_agents_run_without_the_skipped_server(app: Path) -> None:
    catalog = load_app(app, environ=ENV, model=ScriptedModel())
    assert list(catalog.mcp_servers) == ["docs"]
    assert [t.name for t in catalog.build_agent("main").toolsets] == ["docs"]


def test_structured_output_and_a_text_example(app: Path) -> None:
    catalog = load_app(app, environ=ENV, model=ScriptedModel())
    assert catalog["digest"].structured_output == "native"  # front matter
    assert catalog["main"].structured_output == "prompt"  # agents.config.yaml
    digest = catalog.build_agent("digest")
    # native: the provider is asked for JSON output; the example text is shown as the format.
    assert digest.options.response_format is not None
    assert 'A JSON object with "title" (a string)' in (digest.system_prompt or "")
    assert digest.output is not None and digest.output.schema == {"type": "object"}
    assert catalog.build_agent("main").options.response_format is None


def test_an_unknown_structured_output_mode_is_an_error(app: Path) -> None:
    (app / "agents.config.yaml").write_text("structured_output: json\n")
    _, problems = check_app(app, environ=ENV)
    assert messages(Problems(problems.errors)) == [
        f"{app / 'agents.config.yaml'}:1: error: structured_output: expected one of auto, native, prompt, "
        "got 'json'"
    ]


async def test_the_agents_with_azure_only_triggers_are_served(app: Path, tmp_path: Path) -> None:
    model = ScriptedModel(["Drafted."])
    catalog = load_app(app, environ=ENV, model=model)
    runner = Runner(catalog, SqliteSessionStore(tmp_path / "sessions.db"))
    server_app = create_app(catalog, runner, ServerSettings(port=0), environ={}, close_runner=True)
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(server_app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/agents/inbox/chat", json={"prompt": "Any mail?"}) as response,
        ):
            body = await response.json()
        assert (response.status, body["response"]) == (200, "Drafted.")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()
