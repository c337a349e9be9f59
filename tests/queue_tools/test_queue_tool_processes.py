"""Both sides as real processes: ``agentdown worker --queue-tools`` answers; callers in two processes share
one output queue; a function server killed mid-call loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from _functions import unique
from _triggers_processes import Worker, process_environ
from test_queue_tool_calls import model_handler, weather_app

from agentdown.app.catalog import load_app
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.runtime.queue_tools import QueueTool, aclose_shared
from agentdown.runtime.runner import Runner
from agentdown.sessions import store_from_env
from agentdown.testing import FakeModelServer

HERE = Path(__file__).parent
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def functions(app: Path, env: dict[str, str], *extra: str) -> Worker:
    worker = Worker(app, env, "--queue-tools", "--no-agents-api", *extra)
    worker.wait_ready(marker="worker serving")
    return worker


def stop(worker: Worker) -> None:
    if worker.process.poll() is None:
        worker.process.send_signal(signal.SIGTERM)
    worker.finish()


async def test_a_markdown_agent_is_answered_by_agentdown_worker_queue_tools(
    environ: dict[str, str], tmp_path: Path
) -> None:
    inq, outq = unique("in"), unique("out")
    app = weather_app(tmp_path, inq, outq)
    async with FakeModelServer(model_handler) as fake:
        worker = functions(app, process_environ(environ, fake.base_url))
        try:
            assert f"GetWeather: {inq} -> {outq}" in worker.output
            model = OpenAIChatModel("fake-model", base_url=fake.base_url, api_key="test")
            runner = Runner(load_app(app, environ=environ, model=model), store_from_env(environ))
            try:
                turn = await runner.run("forecaster", "Weather in Oslo?")
            finally:
                await runner.aclose()
        finally:
            stop(worker)
    assert turn.result.text == 'answer: {"city":"Oslo","forecast":"sunny in Oslo"}'
    assert "GetWeather answered call qt1-" in worker.output


async def test_two_processes_sharing_one_output_queue_each_get_their_own_values(
    environ: dict[str, str], tmp_path: Path
) -> None:
    inq, outq = unique("in"), unique("out")
    app = weather_app(tmp_path, inq, outq)
    env = process_environ(environ, "http://127.0.0.1:9")
    worker = functions(app, env, "--concurrency", "16")
    tool = QueueTool(
        "GetWeather", "Weather.", SCHEMA, input_queue=inq, output_queue=outq, environ=environ, timeout=60
    )
    try:
        other = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "_caller.py"),
            inq,
            outq,
            "there",
            "100",
            env=env,
            stdout=subprocess.PIPE,
        )
        cities = [f"here{i}" for i in range(100)]
        values = await asyncio.gather(*(tool.invoke({"city": c}) for c in cities))
        out, _ = await asyncio.wait_for(other.communicate(), 90)
    finally:
        await aclose_shared()
        stop(worker)
    assert [v["city"] for v in values] == cities
    report = json.loads(out)
    assert report == {"ok": 100, "wrong": [], "pid": report["pid"]}
    # At least once: under load a message can come back after its visibility timeout and be
    # answered twice; the callers above ignored the second answer. Every call was answered.
    answered = re.findall(r"GetWeather answered call (\S+)", worker.output)
    assert len(set(answered)) == 200 and len(answered) >= 200


async def test_a_function_server_killed_mid_call_is_replaced_and_the_call_answered(
    environ: dict[str, str], tmp_path: Path
) -> None:
    inq, outq = unique("in"), unique("out")
    marker = tmp_path / "started"
    app = weather_app(tmp_path, inq, outq)
    (app / "tools" / "weather.py").write_text(
        "import pathlib, time\nfrom agentdown import tool\n\n@tool(name='GetWeather')\n"
        'def get_weather(city: str) -> dict:\n    """The weather."""\n'
        f"    marker = pathlib.Path({str(marker)!r})\n"
        "    if not marker.exists():\n        marker.write_text(str(__import__('os').getpid()))\n        time.sleep(120)\n"
        "    return {'city': city, 'pid': __import__('os').getpid()}\n"
    )
    env = process_environ(environ, "http://127.0.0.1:9")
    doomed = functions(app, env)
    tool = QueueTool(
        "GetWeather", "Weather.", SCHEMA, input_queue=inq, output_queue=outq, environ=environ, timeout=60
    )
    try:
        call = asyncio.create_task(tool.invoke({"city": "Oslo"}))
        for _ in range(300):
            if marker.exists():
                break
            await asyncio.sleep(0.05)
        assert marker.exists(), doomed.output
        os.kill(doomed.process.pid, signal.SIGKILL)
        doomed.finish()
        assert not call.done()
        rescuer = functions(app, env)
        try:
            value = await asyncio.wait_for(call, 45)
        finally:
            stop(rescuer)
    finally:
        await aclose_shared()
    assert value == {"city": "Oslo", "pid": rescuer.process.pid}
