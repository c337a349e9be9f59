"""``execute_python`` on the local sandbox as the run loop calls it: session keys, files per
session, charts as image content, the pool's cap and reaper, closing."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agentdown.messages import Content
from agentdown.sessions import Session
from agentdown.tools import FunctionInvocationContext, Tool, ToolUsage, normalize_tools, tool_definition
from agentdown.tools.system.code_interpreter import (
    LocalCodeInterpreter,
    SandboxLimits,
    SandboxPool,
    local_code_interpreter,
)
from agentdown.tools.system.code_interpreter.tool import clean_code

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(sys.platform != "linux", reason="the local sandbox is Linux-only"),
]

LIMITS = SandboxLimits(wall_seconds=10, memory_bytes=1536 * 2**20, output_chars=4000, startup_seconds=30)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data") / "sandboxes"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def interpreter(root: Path) -> AsyncIterator[LocalCodeInterpreter]:
    tool = local_code_interpreter(root, limits=LIMITS)
    yield tool
    await tool.aclose()


def _context(
    tool: Any, session_id: str | None = None, usage: ToolUsage | None = None
) -> FunctionInvocationContext:
    session = Session(id=session_id) if session_id is not None else None
    return FunctionInvocationContext(tool=tool, arguments={}, session=session, usage=usage)


async def _call(tool: Any, code: str, **context: Any) -> tuple[dict[str, Any], list[Content]]:
    out = await tool.invoke({"code": code}, _context(tool, **context))
    if isinstance(out, str):
        return json.loads(out), []
    assert out[0].type == "text" and out[0].text is not None
    return json.loads(out[0].text), out[1:]


async def test_the_tool_shape_is_the_other_runtimes(interpreter: LocalCodeInterpreter) -> None:
    assert isinstance(interpreter, Tool)
    assert normalize_tools([interpreter]) == [interpreter]
    definition = tool_definition(interpreter)
    assert definition.name == "execute_python" and definition.parameters == interpreter.parameters
    assert interpreter.name == "execute_python"
    assert interpreter.parameters == {
        "type": "object",
        "properties": {"code": {"type": "string", "description": "Python code to execute"}},
        "required": ["code"],
    }
    assert "State persists across calls" in interpreter.description
    assert "numpy" in interpreter.description  # what is installed is named
    interpreter.parameters["required"].append("x")  # a copy: the tool's own is unchanged
    assert interpreter.parameters["required"] == ["code"]


async def test_state_and_files_persist_within_a_session_only(interpreter: LocalCodeInterpreter) -> None:
    first, _ = await _call(interpreter, "x = 7\n_ = open('mine.txt', 'w').write('A')", session_id="sess-a")
    assert first == {"result": None, "stdout": "", "stderr": "", "files": ["mine.txt"]}
    again, _ = await _call(interpreter, "x, open('mine.txt').read()", session_id="sess-a")
    assert again["result"] == "(7, 'A')"
    other, _ = await _call(
        interpreter,
        "import os\n'x' in globals(), os.path.exists('mine.txt'), os.listdir('.')",
        session_id="sess-b",
    )
    assert other["result"] == "(False, False, [])"


async def test_a_session_key_never_becomes_a_path(interpreter: LocalCodeInterpreter, root: Path) -> None:
    pool = interpreter.pool
    for key in ("../../etc", "/etc/passwd", "a/../../b", "..", "x" * 5000, "\x00", "session:..\\..\\x"):
        directory = pool.directory(key)
        assert directory.parent == root and len(directory.name) == 32
        assert all(c in "0123456789abcdef" for c in directory.name)
    assert pool.directory("a") != pool.directory("b")


async def test_runs_without_a_session_get_their_own_sandbox(
    interpreter: LocalCodeInterpreter, root: Path
) -> None:
    run_one, run_two = ToolUsage(), ToolUsage()
    await _call(interpreter, "y = 'run one'", usage=run_one)
    same, _ = await _call(interpreter, "y", usage=run_one)
    assert same["result"] == "'run one'"
    other, _ = await _call(interpreter, "'y' in globals()", usage=run_two)
    assert other["result"] == "False"
    # With no context at all, a call is its own sandbox and leaves nothing behind.
    before = set(root.iterdir())
    lone = json.loads(await interpreter.invoke({"code": "open('t.txt', 'w').write('t')\n1"}, None))  # type: ignore[arg-type]
    assert lone["result"] == "1"
    assert set(root.iterdir()) == before


async def test_a_matplotlib_chart_comes_back_as_an_image(interpreter: LocalCodeInterpreter) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('chart')\nplt.show()"
    payload, images = await _call(interpreter, code, session_id="charts")
    assert payload["files"] == ["figure_1.png"] and payload["stderr"] == ""
    assert len(images) == 1 and images[0].type == "data" and images[0].media_type == "image/png"
    assert images[0].data is not None and images[0].data.startswith(b"\x89PNG\r\n\x1a\n")
    # A figure left open is saved too; and a PNG written by plain code comes back as well.
    left_open, more = await _call(
        interpreter,
        "fig, ax = plt.subplots()\nax.bar([1, 2], [3, 4])\nfig.savefig('bars.png')",
        session_id="charts",
    )
    assert sorted(left_open["files"]) == ["bars.png", "figure_2.png"]
    assert [c.additional_properties["file"] for c in more] == ["bars.png", "figure_2.png"]


async def test_data_libraries_are_importable(interpreter: LocalCodeInterpreter) -> None:
    pytest.importorskip("pandas", reason="pandas is not installed")
    payload, _ = await _call(
        interpreter,
        "import numpy as np, pandas as pd\nint(pd.DataFrame({'a': np.arange(4)})['a'].sum())",
        session_id="data",
    )
    assert payload["result"] == "6", payload


async def test_inputs_the_model_gets_wrong(interpreter: LocalCodeInterpreter) -> None:
    for code in ("", "   \n", None):
        out = await interpreter.invoke({"code": code}, _context(interpreter, "bad"))
        assert json.loads(out) == {"error": "No code provided"}  # type: ignore[arg-type]
    fenced, _ = await _call(interpreter, "```python\nprint('fenced')\n```", session_id="bad")
    assert fenced["stdout"] == "fenced\n"
    assert clean_code("python_version = 3") == "python_version = 3"
    assert clean_code("```\n1 + 1\n```") == "1 + 1"
    huge = await interpreter.invoke({"code": "#" * 1_000_001}, _context(interpreter, "bad"))
    assert "at most 1000000" in json.loads(huge)["error"]  # type: ignore[arg-type]


async def test_a_killed_interpreter_is_reported_to_the_model(interpreter: LocalCodeInterpreter) -> None:
    payload, _ = await _call(interpreter, "import os\nos._exit(9)", session_id="dies")
    assert "exited (status 9)" in payload["error"] and "restarted" in payload["error"]
    payload, _ = await _call(interpreter, "'back'", session_id="dies")
    assert payload["result"] == "'back'"


async def test_the_cap_on_live_sandboxes_and_the_reaper(tmp_path: Path) -> None:
    pool = SandboxPool(tmp_path, SandboxLimits(max_sessions=1, idle_seconds=0.3, startup_seconds=30))
    try:
        await pool.run("one", "a = 1")
        first = pool.sandbox("one")
        assert first.alive
        await pool.run("two", "b = 2")  # the cap: the least recently used idle one is stopped
        assert not first.alive and pool.sandbox("two").alive and pool.live == 1
        assert (tmp_path / pool.directory("one").name).is_dir()  # its files stay
        second = pool.sandbox("two")
        for _ in range(40):
            if not second.alive:
                break
            await _sleep(0.1)
        assert not second.alive  # reaped when idle
    finally:
        await pool.aclose()


async def test_aclose_kills_every_interpreter(root: Path) -> None:
    tool = local_code_interpreter(root / "closing", limits=LIMITS)
    await _call(tool, "import os\npid = os.getpid()", session_id="c1")
    await _call(tool, "1", session_id="c2")
    sandboxes = [tool.pool.sandbox("session:c1"), tool.pool.sandbox("session:c2")]
    pids = [s._proc.pid for s in sandboxes if s._proc is not None]
    assert len(pids) == 2
    await tool.aclose()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    out = await tool.invoke({"code": "1"}, _context(tool, "c1"))
    assert "closed" in str(out)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def test_the_agents_api_reaches_a_sessions_sandbox(interpreter: LocalCodeInterpreter) -> None:
    box = interpreter.sandbox("thread-1")
    box.put_file("data.csv", b"n\n1\n2\n")
    payload, _ = await _call(interpreter, "open('data.csv').read().split()", session_id="thread-1")
    assert payload["result"] == "['n', '1', '2']"
    assert interpreter.sandbox("thread-1") is box


async def test_notebook_behaviour(interpreter: LocalCodeInterpreter) -> None:
    awaited, _ = await _call(interpreter, "import asyncio\nawait asyncio.sleep(0)\n5", session_id="nb")
    assert awaited["result"] == "5"
    coroutine, _ = await _call(interpreter, "async def f():\n    return 6\nawait f()", session_id="nb")
    assert coroutine["result"] == "6"
    long, _ = await _call(interpreter, "'x' * 10_000", session_id="nb")
    assert len(long["result"]) == LIMITS.result_chars + 1 and long["result"].endswith("…")
    failed, _ = await _call(interpreter, "def g():\n    return 1 / 0\ng()", session_id="nb")
    assert failed["error"] == "ZeroDivisionError: division by zero"
    assert 'File "<cell>", line 2, in g' in failed["stderr"] and "_worker.py" not in failed["stderr"]


async def test_a_sandbox_that_cannot_start_is_a_clear_result(tmp_path: Path) -> None:
    tool = local_code_interpreter(tmp_path, limits=SandboxLimits(startup_seconds=0.001))
    try:
        out = await tool.invoke({"code": "1"}, _context(tool, "slow"))
        assert isinstance(out, str) and json.loads(out)["error"].startswith("the sandbox did not start")
    finally:
        await tool.aclose()


async def test_the_description_says_what_isolation_there_is(tmp_path: Path) -> None:
    plain = local_code_interpreter(tmp_path, limits=SandboxLimits(isolation="rlimits"))
    assert plain.additional_properties["isolation"] == "rlimits"
    assert "no network" not in plain.description and "/mnt/data" not in plain.description
    await plain.aclose()


async def test_without_namespaces_the_tool_is_refused_unless_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentdown.tools.system.code_interpreter import SandboxError
    from agentdown.tools.system.code_interpreter import launch as launch_module
    from agentdown.tools.system.code_interpreter import local as local_module

    monkeypatch.setattr(local_module, "namespaces_available", lambda: False)
    monkeypatch.setattr(launch_module, "namespaces_available", lambda: False)
    with pytest.raises(SandboxError, match=r"isolation='rlimits'"):
        local_code_interpreter(tmp_path)
    box = SandboxPool(tmp_path).sandbox("k")
    with pytest.raises(SandboxError, match="needs Linux user namespaces"):
        await box.run("1")
