"""``queue_tools:`` in front matter and agents.config.yaml: diagnostics, merge, schema, report; the Functions scaffold."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from agentdown.app.catalog import check_app
from agentdown.app.report import app_report
from agentdown.app.schema import front_matter_schema
from agentdown.runtime.queue_tools import QueueTool

ENTRY = (
    "  - name: GetWeather\n    description: Weather.\n"
    "    parameters: {type: object, properties: {city: {type: string}}}\n"
    "    input_queue: weather-in\n    output_queue: weather-out\n"
)


def app_with(tmp_path: Path, front: str, config: str = "") -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "a.agent.md").write_text(f"---\nname: A\ndescription: An agent.\n{front}---\nDo it.\n")
    if config:
        (app / "agents.config.yaml").write_text(config)
    return app


def test_a_declaration_builds_a_queue_tool_and_shows_in_the_report(tmp_path: Path) -> None:
    app = app_with(tmp_path, "queue_tools:\n" + ENTRY + "    timeout: 5\n    encoding: none\n")
    catalog, problems = check_app(app, environ={"AGENTDOWN_DATA_DIR": str(tmp_path)}, check_models=False)
    assert catalog is not None, [str(p) for p in problems]
    (spec,) = catalog["a"].queue_tools
    assert (spec.name, spec.input_queue, spec.output_queue, spec.timeout, spec.encoding, spec.line) == (
        "GetWeather",
        "weather-in",
        "weather-out",
        5.0,
        "none",
        5,
    )
    report = app_report(app, catalog, problems)
    (entry,) = report["agents"][0]["queue_tools"]
    assert entry["declared_in"].endswith("a.agent.md:5") and entry["timeout"] == 5.0
    assert catalog.tool_names("a") == ["GetWeather"]
    assert "queue_tools" in front_matter_schema()["properties"]


def test_bad_entries_are_reported_at_their_lines(tmp_path: Path) -> None:
    front = (
        "queue_tools:\n"
        "  - name: bad name\n    description: x\n    input_queue: Bad_Queue\n    output_queue: ok-out\n"
        "  - name: T2\n    description: x\n    input_queue: t2-in\n    parameters: {type: string}\n    colour: red\n"
    )
    catalog, problems = check_app(app_with(tmp_path, front), check_models=False)
    assert catalog is None
    text = "\n".join(str(p) for p in problems.errors)
    assert "a.agent.md:5: error: queue_tools[0].name: expected the tool name" in text
    assert "a.agent.md:7: error: queue_tools[0].input_queue: invalid queue name" in text
    assert "a.agent.md:9: error: queue_tools[1].output_queue: required" in text
    assert "a.agent.md:12: error: queue_tools[1].parameters: expected an object schema" in text
    assert "a.agent.md:13: error: queue_tools[1].colour: unknown key 'colour' in a queue tool" in text


def test_config_declarations_reach_every_agent_unless_its_tools_exclude_them(tmp_path: Path) -> None:
    app = app_with(tmp_path, "tools: {exclude: [GetWeather]}\n", config="queue_tools:\n" + ENTRY)
    (app / "b.agent.md").write_text("---\nname: B\ndescription: B.\n---\nDo it.\n")
    catalog, problems = check_app(app, check_models=False)
    assert catalog is not None, [str(p) for p in problems]
    assert catalog.tool_names("a") == [] and catalog.tool_names("b") == ["GetWeather"]


def test_a_built_agent_gets_a_queue_tool_object(tmp_path: Path) -> None:
    from agentdown.testing import ScriptedModel

    app = app_with(tmp_path, "queue_tools:\n" + ENTRY)
    catalog, _ = check_app(
        app, environ={"AGENTDOWN_DATA_DIR": str(tmp_path)}, model=ScriptedModel([]), check_models=False
    )
    assert catalog is not None
    (tool,) = catalog.build_agent("a").tools
    assert isinstance(tool, QueueTool) and tool.account.kind == "embedded" and tool.timeout == 60.0


def test_the_functions_scaffold_registers_a_queue_trigger_that_replies(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentdown.cli",
            "init",
            str(tmp_path / "fn"),
            "--queue-function",
            "GetWeather",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "input_queue: getweather-input" in out
    folder = tmp_path / "fn"
    source = (folder / "function_app.py").read_text()
    compile(source, "function_app.py", "exec")
    assert (
        json.loads((folder / "host.json").read_text())["extensions"]["queues"]["messageEncoding"] == "base64"
    )
    assert (folder / "requirements.txt").read_text().strip() == "azure-functions"
    # The azure-functions package itself (a dev dependency): the scaffold registers what the host runs.
    import azure.functions as func

    spec = importlib.util.spec_from_file_location("scaffolded_function_app", folder / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.app, func.FunctionApp)
    (function,) = module.app.get_functions()
    assert function.get_function_name() == "GetWeather"
    bindings = {b.type: b for b in function.get_bindings()}
    assert bindings["queueTrigger"].queue_name == "getweather-input"
    assert bindings["queue"].queue_name == "getweather-output"
    assert bindings["queueTrigger"].connection == bindings["queue"].connection == "AzureWebJobsStorage"

    class Out(func.Out[str]):
        value: str = ""

        def set(self, val: str) -> None:
            self.value = val

        def get(self) -> str:
            return self.value

    reply = Out()
    message = func.QueueMessage(body=json.dumps({"city": "Oslo", "CorrelationId": "c1"}).encode())
    function.get_user_function()(message, reply)
    assert json.loads(reply.value) == {"Value": {"echo": {"city": "Oslo"}}, "CorrelationId": "c1"}
