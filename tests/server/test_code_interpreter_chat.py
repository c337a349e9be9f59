"""A Markdown agent with the code interpreter switched on, through the chat API.

The real local sandbox runs the code (user, mount, pid and network namespaces; see
docs/system-tools.md); the loopback fake model asks for it. Files persist within the
session and the session's variables too; another session starts empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from serverkit import agent_md, live_server, post_json, write_app

from agentdown.messages import Message
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call

AGENT = agent_md(
    "name: Calc\ndescription: Computes.\nbuiltin_endpoints: true\n"
    "system_tools:\n  dynamic_sessions_code_interpreter: true"
)


def reply(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return "Ran: " + (last.tool_results[0].text or "")
    assert "execute_python" in [t.name for t in info.tools]
    return ToolCalls(tool_call("execute_python", {"code": last.text}))


async def test_code_runs_in_the_sessions_sandbox(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"calc.agent.md": AGENT})
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    async with live_server(app, reply, environ=env) as live, aiohttp.ClientSession() as http:
        url = f"{live.url}/agents/calc/chat"
        code = "x = 6 * 7\nopen('note.txt', 'w').write('kept')\nprint(x)"
        status, _, first = await post_json(http, url, {"prompt": code})
        assert status == 200 and "42" in first["response"], first
        sid = first["session_id"]
        again = "print(x, open('note.txt').read())"
        status, _, second = await post_json(http, url, {"prompt": again}, {"x-ms-session-id": sid})
        assert status == 200 and "42 kept" in second["response"], second
        # Another session: neither the variable nor the file.
        status, _, other = await post_json(http, url, {"prompt": "import os; print(os.listdir('.'))"})
        assert status == 200 and "note.txt" not in other["response"], other
        status, _, escape = await post_json(
            http, url, {"prompt": f"print(open({str(app / 'calc.agent.md')!r}).read())"}
        )
        assert status == 200 and "Computes." not in escape["response"], escape
