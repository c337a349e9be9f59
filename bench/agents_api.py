"""The Agents API's cost against the chat API of the same agent, on one ``agentdown serve``.

A real ``agentdown serve`` process (SQLite stores, the embedded runs queue) serves
one agent whose model is a loopback OpenAI-compatible endpoint in this process.
Three measurements, each side by side with the chat API in the same run:

1. **CPU per operation** of the server process (user + system time from
   ``/proc/<pid>/stat``): a run through the Agents API as ``create_and_process`` does
   it (``POST /threads/runs`` with one message, then ``GET`` until it ended) against
   a ``/chat`` turn with a fresh session (target: at most 1.5 ms more per run); and a
   streamed run (read to ``done``) against a ``/chatstream`` turn.
2. **Throughput** with 50 concurrent clients: streamed runs/s against ``/chat``
   turns/s. Target: at least 70 %.
3. **First-token latency**: the model endpoint writes its first token, waits, then
   the rest; the time from that write to the client reading the first
   ``thread.message.delta`` (``/chatstream``'s first text chunk beside it), p50 and
   p90. Target: p50 at most 2 ms.

Usage: python bench/agents_api.py [--ops 300] [--concurrency 50] [--latency-samples 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

AGENT = "---\nname: bench\ndescription: Benchmarks.\nbuiltin_endpoints: true\n---\nAnswer briefly.\n"
PROJECT = "/api/projects/bench"


class Model:
    """A streaming chat-completions endpoint; ``gap`` seconds after the first token when set."""

    def __init__(self) -> None:
        self.gap = 0.0
        self.first_token_at: list[float] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        words = ["Hello", " there,", " friend."]
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(words)}
            return web.json_response(
                {
                    "id": "c",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                }
            )
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None, usage: bool = False) -> bytes:
            data: dict[str, Any] = {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage:
                data = {
                    **data,
                    "choices": [],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                }
            return f"data: {json.dumps(data)}\n\n".encode()

        await out.write(chunk({"role": "assistant", "content": words[0]}))
        if self.gap:
            self.first_token_at.append(time.perf_counter())
            await asyncio.sleep(self.gap)
        await out.write(
            b"".join(chunk({"content": w}) for w in words[1:]) + chunk({}, "stop") + chunk({}, usage=True)
        )
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def chat_turn(http: aiohttp.ClientSession, url: str) -> None:
    async with http.post(f"{url}/agents/bench/chat", json={"prompt": "hi"}) as r:
        assert r.status == 200, await r.text()
        await r.read()


async def streamed_run(http: aiohttp.ClientSession, url: str, first: list[float] | None = None) -> None:
    body = {
        "assistant_id": "bench",
        "stream": True,
        "thread": {"messages": [{"role": "user", "content": "hi"}]},
    }
    async with http.post(f"{url}{PROJECT}/threads/runs?api-version=v1", json=body) as r:
        assert r.status == 200, await r.text()
        seen = False
        buffer = b""
        async for data in r.content.iter_any():
            buffer += data
            if first is not None and not seen and b"event: thread.message.delta" in buffer:
                first.append(time.perf_counter())
                seen = True
        assert b"event: thread.run.completed" in buffer, buffer[-500:]


async def polled_run(http: aiohttp.ClientSession, url: str, polls: list[int]) -> None:
    """What ``create_and_process`` does: create (not streamed), then GET until the run ended."""
    body = {"assistant_id": "bench", "thread": {"messages": [{"role": "user", "content": "hi"}]}}
    async with http.post(f"{url}{PROJECT}/threads/runs?api-version=v1", json=body) as r:
        assert r.status == 200, await r.text()
        run = await r.json()
    count = 0
    while run["status"] in ("queued", "in_progress"):
        await asyncio.sleep(0.005)
        async with http.get(
            f"{url}{PROJECT}/threads/{run['thread_id']}/runs/{run['id']}?api-version=v1"
        ) as r:
            run = await r.json()
        count += 1
    assert run["status"] == "completed", run
    polls.append(count)


async def chatstream_turn(http: aiohttp.ClientSession, url: str) -> None:
    async with http.post(f"{url}/agents/bench/chatstream", json={"prompt": "hi"}) as r:
        assert r.status == 200
        await r.read()


async def chatstream_first(http: aiohttp.ClientSession, url: str, first: list[float]) -> None:
    async with http.post(f"{url}/agents/bench/chatstream", json={"prompt": "hi"}) as r:
        seen = False
        async for data in r.content.iter_any():
            if not seen and b"Hello" in data:
                first.append(time.perf_counter())
                seen = True


async def per_op_cpu(pid: int, op: Any, n: int) -> float:
    start = cpu_seconds(pid)
    for _ in range(n):
        await op()
    return (cpu_seconds(pid) - start) / n * 1000


async def throughput(op: Any, n: int, concurrency: int) -> float:
    queue = list(range(n))

    async def client() -> None:
        while queue:
            queue.pop()
            await op()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-samples", type=int, default=100)
    args = parser.parse_args()
    model = Model()
    await model.start()
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        app.mkdir()
        (app / "bench.agent.md").write_text(AGENT)
        env = {
            **os.environ,
            "AGENTDOWN_PROVIDER": "openai_compatible",
            "OPENAI_BASE_URL": model.url,
            "OPENAI_API_KEY": "bench",
            "AGENTDOWN_MODEL": "m",
            "AGENTDOWN_DATA_DIR": str(Path(tmp) / "data"),
        }
        # The server runs for the whole bench; reading its start-up lines blocks only before any timing.
        proc = subprocess.Popen(  # noqa: ASYNC220
            [
                sys.executable,
                "-m",
                "agentdown.cli",
                "serve",
                str(app),
                "--port",
                "0",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.search(r"serving .* at (http://\S+)", line)
            if found:
                url = found.group(1)
            if line.startswith("Press Ctrl+C"):
                break
        assert url, "the server did not start"
        try:
            connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
            async with aiohttp.ClientSession(connector=connector) as http:
                for _ in range(20):  # warm up both paths
                    await chat_turn(http, url)
                    await streamed_run(http, url)
                chat_cpu, run_cpu, stream_cpu, polled_cpu = [], [], [], []
                polls: list[int] = []
                for _ in range(3):  # interleaved rounds: a passing load lands on all of them
                    n = args.ops // 3
                    chat_cpu.append(await per_op_cpu(proc.pid, lambda: chat_turn(http, url), n))
                    polled_cpu.append(await per_op_cpu(proc.pid, lambda: polled_run(http, url, polls), n))
                    stream_cpu.append(await per_op_cpu(proc.pid, lambda: chatstream_turn(http, url), n))
                    run_cpu.append(await per_op_cpu(proc.pid, lambda: streamed_run(http, url), n))
                chat_rate = await throughput(lambda: chat_turn(http, url), args.ops, args.concurrency)
                run_rate = await throughput(lambda: streamed_run(http, url), args.ops, args.concurrency)
                model.gap = 0.02
                run_first: list[float] = []
                chat_first: list[float] = []
                run_lat: list[float] = []
                chat_lat: list[float] = []
                for _ in range(args.latency_samples):
                    model.first_token_at.clear()
                    await streamed_run(http, url, run_first)
                    run_lat.append((run_first[-1] - model.first_token_at[0]) * 1000)
                    model.first_token_at.clear()
                    await chatstream_first(http, url, chat_first)
                    chat_lat.append((chat_first[-1] - model.first_token_at[0]) * 1000)
        finally:
            proc.terminate()
            proc.wait(20)
    await model.stop()
    chat_ms, run_ms = statistics.median(chat_cpu), statistics.median(run_cpu)
    stream_ms, polled_ms = statistics.median(stream_cpu), statistics.median(polled_cpu)
    print(
        f"server CPU per op   /chat turn {chat_ms:6.2f} ms   Agents API run, created + polled "
        f"({statistics.mean(polls):.1f} GETs) {polled_ms:6.2f} ms   difference {polled_ms - chat_ms:+.2f} ms "
        "(target <= +1.50)"
    )
    print(
        f"                    /chatstream turn {stream_ms:6.2f} ms   Agents API streamed run {run_ms:6.2f} ms   "
        f"difference {run_ms - stream_ms:+.2f} ms"
    )
    print(
        f"throughput at {args.concurrency}   /chat {chat_rate:7.1f}/s   Agents API runs {run_rate:7.1f}/s   "
        f"ratio {run_rate / chat_rate:.0%} (target >= 70%)"
    )

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[int(q * (len(values) - 1))]

    print(
        f"first token -> client   /chatstream p50 {pct(chat_lat, 0.5):.2f} ms p90 {pct(chat_lat, 0.9):.2f} ms   "
        f"Agents API first delta p50 {pct(run_lat, 0.5):.2f} ms p90 {pct(run_lat, 0.9):.2f} ms (target p50 <= 2)"
    )


if __name__ == "__main__":
    asyncio.run(main())
