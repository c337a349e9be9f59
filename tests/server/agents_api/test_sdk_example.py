"""``examples/agents-sdk/main.py`` (the README's example) against the quickstart app, served live."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from serverkit import REPO, live_server

from agentdown.messages import Message
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call


def reply(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return "Here you go: " + (last.tool_results[0].text or "")
    names = {t.name for t in info.tools}
    if "weather" in last.text and "get_weather" in names:
        return ToolCalls(tool_call("get_weather", {"city": "Paris"}))
    if "pack" in last.text and "packing_list" in names:
        return ToolCalls(tool_call("packing_list", {"city": "Oslo", "days": 3}))
    return "I can help with that."


async def test_the_readme_example_runs(tmp_path: Path) -> None:
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    async with live_server(
        REPO / "examples" / "quickstart", reply, environ=env, store_path=tmp_path / "s.db"
    ) as live:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO / "examples" / "agents-sdk" / "main.py"),
            "--url",
            live.url,
            "--model",
            "fake-model",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ},
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "Quickstart assistant: run completed" in text and "packer: run completed" in text, text
    assert "step: get_weather" in text and "Here you go:" in text
    assert 'step: packing_list({"city": "Oslo", "days": 3})' in text
    assert '"3 shirts"' in text
