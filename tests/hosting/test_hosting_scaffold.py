"""``agentdown init APP --azure-functions``: a new app, or the missing Functions files of an existing one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from _hosting_kit import SAMPLES, Hosted
from typer.testing import CliRunner

from agentdown.cli import app as cli
from agentdown.hosting import create_function_app

FILES = ["function_app.py", "host.json", "requirements.txt", "local.settings.json", ".funcignore"]


def test_a_new_app_gets_everything(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = CliRunner().invoke(cli, ["init", str(target), "--azure-functions"])
    assert result.exit_code == 0, result.output
    assert all((target / f).is_file() for f in [*FILES, "main.agent.md", "tools/dice.py"])
    host = json.loads((target / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    settings = json.loads((target / "local.settings.json").read_text())
    assert settings["Values"]["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    # Without it the Python worker (3.12 and earlier) serves no HTTP streams: chatstream buffers.
    assert settings["Values"]["PYTHON_ENABLE_INIT_INDEXING"] == "1"
    assert "from agentdown.hosting import create_function_app" in (target / "function_app.py").read_text()
    assert "agentdown[functions" in (target / "requirements.txt").read_text()


def test_an_existing_app_gets_only_what_is_missing(tmp_path: Path) -> None:
    target = tmp_path / "moved"
    shutil.copytree(SAMPLES / "basic-chat", target)
    (target / "function_app.py").write_text(
        "from azure_functions_agents import create_function_app\napp = create_function_app()\n"
    )
    result = CliRunner().invoke(cli, ["init", str(target), "--azure-functions"])
    assert result.exit_code == 0, result.output
    assert "change its import" in result.output
    assert "azure_functions_agents" in (target / "function_app.py").read_text()
    assert not (target / "tools").exists()  # the app itself is left as it is
    assert all((target / f).is_file() for f in FILES)


async def test_the_generated_entry_point_indexes(tmp_path: Path, env: dict[str, str]) -> None:
    target = tmp_path / "app"
    assert CliRunner().invoke(cli, ["init", str(target), "--azure-functions"]).exit_code == 0
    namespace: dict[str, object] = {}
    settings = {**env, "AzureWebJobsScriptRoot": str(target)}
    code = (
        (target / "function_app.py")
        .read_text()
        .replace("create_function_app()", "create_function_app(environ=settings)")
    )
    exec(
        compile(code, str(target / "function_app.py"), "exec"),
        {"settings": settings, "create_function_app": create_function_app},
        namespace,
    )
    hosted = Hosted(namespace["app"])  # type: ignore[arg-type]
    try:
        assert "agent_main_builtin_chat" in hosted.functions
    finally:
        await hosted.aclose()
