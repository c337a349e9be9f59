"""The Agents API ``code_interpreter`` tool through the real SDK: files in, a chart out.

The code runs in agentdown's local sandbox (namespaces; see docs/system-tools.md). A
CSV uploaded as ``tool_resources.code_interpreter.file_ids`` is in the working
directory; the matplotlib chart the code saves comes back as an ``assistants_output``
file, an ``image`` output of the run step and an ``image_file`` content of the answer,
which the SDK downloads.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from azure.ai.agents import models as m
from serverkit import agent_md, live_server, write_app

from agentdown.client.agents import agents_client
from agentdown.messages import Message
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call

POLL = 0.1
CODE = """
import csv
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open("sales.csv")))
total = sum(int(r["units"]) for r in rows)
plt.bar([r["month"] for r in rows], [int(r["units"]) for r in rows])
plt.savefig("chart.png")
print("total", total)
"""


def reply(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return "Here is the chart. " + (last.tool_results[0].text or "")[:200]
    assert "code_interpreter" in [t.name for t in info.tools]
    return ToolCalls(tool_call("code_interpreter", {"code": CODE}))


async def test_files_in_and_a_chart_out(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"plain.agent.md": agent_md("name: plain\ndescription: Plain.", "Answer.")})
    csv_file = tmp_path / "sales.csv"
    csv_file.write_text("month,units\njan,3\nfeb,5\n")
    async with live_server(app, reply, environ={"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            uploaded = client.files.upload_and_poll(file_path=str(csv_file), purpose=m.FilePurpose.AGENTS)
            tool = m.CodeInterpreterTool(file_ids=[uploaded.id])
            agent = client.create_agent(
                model="fake-model", name="c", tools=tool.definitions, tool_resources=tool.resources
            )
            thread = client.threads.create()
            client.messages.create(thread_id=thread.id, role="user", content="chart my sales")
            run = client.runs.create_and_process(
                thread_id=thread.id, agent_id=agent.id, polling_interval=POLL
            )
            assert run.status == "completed", run.last_error
            steps = list(client.run_steps.list(thread_id=thread.id, run_id=run.id))
            call = next(s for s in steps if s.type == "tool_calls").step_details.tool_calls[0]
            assert call.type == "code_interpreter" and "sales.csv" in call.code_interpreter.input
            kinds = [o.type for o in call.code_interpreter.outputs]
            assert kinds == ["logs", "image"], kinds
            assert "total 8" in call.code_interpreter.outputs[0].logs
            image_id = call.code_interpreter.outputs[1].image.file_id
            answer = next(iter(client.messages.list(thread_id=thread.id, order="desc")))
            assert [c.type for c in answer.content] == ["text", "image_file"]
            assert answer.content[1].image_file.file_id == image_id
            info = client.files.get(image_id)
            assert info.purpose == "assistants_output" and info.filename == "chart.png"
            target = tmp_path / "out"
            target.mkdir()
            client.files.save(file_id=image_id, file_name="chart.png", target_dir=str(target))
            assert (target / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        await asyncio.to_thread(scenario)


def reply_reading(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return "Read: " + (last.tool_results[0].text or "")
    return ToolCalls(tool_call("code_interpreter", {"code": "print(open('notes.txt').read())"}))


async def test_a_message_attachment_is_in_the_sandbox(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"plain.agent.md": agent_md("name: plain\ndescription: Plain.", "Answer.")})
    notes = tmp_path / "notes.txt"
    notes.write_text("the launch code is orange")
    async with live_server(
        app, reply_reading, environ={"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    ) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            uploaded = client.files.upload_and_poll(file_path=str(notes), purpose=m.FilePurpose.AGENTS)
            tool = m.CodeInterpreterTool()
            agent = client.create_agent(model="fake-model", name="c", tools=tool.definitions)
            thread = client.threads.create()
            attachment = m.MessageAttachment(file_id=uploaded.id, tools=tool.definitions)
            client.messages.create(
                thread_id=thread.id, role="user", content="read it", attachments=[attachment]
            )
            run = client.runs.create_and_process(
                thread_id=thread.id, agent_id=agent.id, polling_interval=POLL
            )
            assert run.status == "completed", run.last_error
            answer = next(iter(client.messages.list(thread_id=thread.id, order="desc")))
            assert "the launch code is orange" in answer.content[0].text.value

        await asyncio.to_thread(scenario)
