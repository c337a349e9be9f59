"""``agentdown check`` imports the app's workflow graphs: a broken module is an error at its line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agentdown.cli import app

AGENT = "---\nname: A\ndescription: Does things.\nbuiltin_endpoints: true\n---\nHi.\n"
GOOD = """
from agentdown.workflows import WorkflowBuilder, executor


@executor(id="shout")
async def shout(text: str) -> str:
    return text.upper()


workflow = WorkflowBuilder(start_executor=shout, name="shouter").build()
"""


def test_check_reports_a_broken_workflow_module(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    (app_dir / "workflows").mkdir(parents=True)
    (app_dir / "a.agent.md").write_text(AGENT)
    (app_dir / "workflows" / "good.py").write_text(GOOD)
    env = {"OPENAI_API_KEY": "k"}
    ok = CliRunner().invoke(app, ["check", str(app_dir)], env=env)
    assert ok.exit_code == 0, ok.output
    (app_dir / "workflows" / "broken.py").write_text("import os\n\nraise RuntimeError('no config')\n")
    bad = CliRunner().invoke(app, ["check", str(app_dir)], env=env)
    assert bad.exit_code == 1, bad.output
    assert f"{app_dir / 'workflows' / 'broken.py'}:3: error:" in bad.output and "no config" in bad.output
