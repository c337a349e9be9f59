"""Run-loop overhead against a loopback fake model server.

A "turn" is one user prompt that makes the model call one tool, then answer:
two chat-completions requests. The same turn is made three ways:

  (a) agentdown: ``Agent(OpenAIChatModel(...), tools=[add]).run(prompt)``
  (b) the ``openai`` SDK, two requests by hand, tool run by hand
  (c) bare aiohttp, two requests by hand (the floor)

Part 1: sequential turns, zero model latency -> median / p95 per turn.
Part 2: 100 concurrent conversations, 50 ms model latency -> turns per second.

The fake servers run in separate processes so their CPU does not count here.
``--telemetry sdk`` turns agentdown's OpenTelemetry on (an SDK TracerProvider with a batch
processor and a discarding exporter, a MeterProvider with an in-memory reader) to price it;
the default ``off`` is what runs when nothing is configured. bench/telemetry_overhead.py
compares both with the main checkout's code, side by side.
Usage: python bench/overhead.py [--turns 300] [--concurrency 100] [--seconds 3] [--rounds 3]
       [--telemetry off|sdk]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from typing import Any

import aiohttp
import openai

from agentdown import Agent, tool
from agentdown.models.openai_compat import OpenAIChatModel

PROMPT = "What is 2 + 3? Use the add tool."
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    }
]


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool(name="add")
def add_sync(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@contextmanager
def fake_server(latency_ms: int) -> Any:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentdown.testing.fake_server",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--print-url",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"fake server did not start: {url!r}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


TurnFactory = Callable[[], Awaitable[None]]


async def make_agentdown(
    url: str, sync_tool: bool = False
) -> tuple[TurnFactory, Callable[[], Awaitable[None]]]:
    model = OpenAIChatModel(model="fake", base_url=url, api_key="bench")
    agent = Agent(model, tools=[add_sync if sync_tool else add])

    async def turn() -> None:
        result = await agent.run(PROMPT)
        assert result.text, result

    return turn, model.aclose


async def make_openai(url: str) -> tuple[TurnFactory, Callable[[], Awaitable[None]]]:
    client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0)

    async def turn() -> None:
        messages: list[Any] = [{"role": "user", "content": PROMPT}]
        first = await client.chat.completions.create(model="fake", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
        msg = first.choices[0].message
        calls = msg.tool_calls or []
        messages.append(msg.model_dump(exclude_none=True))
        for call in calls:
            args = json.loads(call.function.arguments)  # type: ignore[union-attr]
            messages.append({"role": "tool", "tool_call_id": call.id, "content": str(args["a"] + args["b"])})
        second = await client.chat.completions.create(model="fake", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
        assert second.choices[0].message.content

    return turn, client.close


async def make_aiohttp(url: str) -> tuple[TurnFactory, Callable[[], Awaitable[None]]]:
    session = aiohttp.ClientSession(headers={"Authorization": "Bearer bench"})
    endpoint = url.rstrip("/") + "/chat/completions"

    async def turn() -> None:
        messages: list[Any] = [{"role": "user", "content": PROMPT}]
        async with session.post(endpoint, json={"model": "fake", "messages": messages, "tools": TOOLS}) as r:
            first = await r.json()
        msg = first["choices"][0]["message"]
        messages.append(msg)
        for call in msg.get("tool_calls") or []:
            args = json.loads(call["function"]["arguments"])
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": str(args["a"] + args["b"])}
            )
        async with session.post(endpoint, json={"model": "fake", "messages": messages, "tools": TOOLS}) as r:
            second = await r.json()
        assert second["choices"][0]["message"]["content"]

    return turn, session.close


async def make_agentdown_sync(url: str) -> tuple[TurnFactory, Callable[[], Awaitable[None]]]:
    return await make_agentdown(url, sync_tool=True)


# "agentdown" runs an async tool, like the hand-written clients run the tool inline;
# "agentdown-sync" runs a plain `def` tool, which agentdown moves to a worker thread
# so a blocking tool can never stall the event loop: that hop is priced separately.
CLIENTS = {
    "agentdown": make_agentdown,
    "agentdown-sync": make_agentdown_sync,
    "openai-sdk": make_openai,
    "aiohttp": make_aiohttp,
}


async def sequential(url: str, turns: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for name, factory in CLIENTS.items():
        turn, close = await factory(url)
        for _ in range(30):  # warm up connections and caches
            await turn()
        gc.collect()
        samples = []
        for _ in range(turns):
            t0 = time.perf_counter()
            await turn()
            samples.append((time.perf_counter() - t0) * 1000)
        await close()
        samples.sort()
        out[name] = (statistics.median(samples), samples[int(len(samples) * 0.95) - 1])
    return out


async def concurrent(
    url: str, concurrency: int, seconds: float, rounds: int
) -> dict[str, tuple[float, float]]:
    """Turns/s and CPU ms per turn, the median of ``rounds`` interleaved rounds per client.

    Interleaving the clients round by round keeps a passing load on the machine from
    favouring whichever client happened to run at a quiet moment.
    """
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in CLIENTS}
    for _ in range(rounds):
        for name, factory in CLIENTS.items():
            turn, close = await factory(url)
            await asyncio.gather(*(turn() for _ in range(concurrency)))  # open the connection pool
            done = 0
            stop_at = time.perf_counter() + seconds

            async def conversation(turn: TurnFactory = turn, stop_at: float = stop_at) -> None:
                nonlocal done
                while time.perf_counter() < stop_at:
                    await turn()
                    done += 1

            cpu0, t0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(conversation() for _ in range(concurrency)))
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            await close()
            samples[name].append((done / wall, cpu / done * 1000))
    return {
        name: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs))
        for name, runs in samples.items()
    }


def enable_telemetry() -> None:
    """agentdown's telemetry to SDK providers that do all the work but send nothing."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from agentdown import telemetry

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    telemetry.install(provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one concurrent round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per client (median)")
    parser.add_argument("--telemetry", choices=["off", "sdk"], default="off")
    parser.add_argument("--only", help="comma-separated clients to run (default: all)")
    args = parser.parse_args()
    if args.telemetry == "sdk":
        enable_telemetry()
    if args.only:
        keep = set(args.only.split(",")) | {"aiohttp"}  # the floor every ratio is taken against
        for name in list(CLIENTS):
            if name not in keep:
                del CLIENTS[name]

    with fake_server(0) as url:
        seq = asyncio.run(sequential(url, args.turns))
    with fake_server(50) as url:
        conc = asyncio.run(concurrent(url, args.concurrency, args.seconds, args.rounds))

    floor_med = seq["aiohttp"][0]
    floor_tps = conc["aiohttp"][0]
    print(f"one-tool turns (2 model requests), {args.turns} sequential turns, 0 ms model latency")
    print(f"{'client':<12} {'median ms':>10} {'p95 ms':>8} {'vs aiohttp':>11}")
    for name, (med, p95) in seq.items():
        print(f"{name:<12} {med:>10.2f} {p95:>8.2f} {med - floor_med:>+10.2f}ms")
    print()
    print(
        f"{args.concurrency} concurrent conversations, 50 ms model latency, "
        f"median of {args.rounds} interleaved rounds of {args.seconds:.0f} s"
    )
    print(f"{'client':<12} {'turns/s':>10} {'CPU ms/turn':>12} {'vs aiohttp':>11}")
    for name, (tps, cpu) in conc.items():
        print(f"{name:<12} {tps:>10.1f} {cpu:>12.2f} {tps / floor_tps:>10.1%}")
    print()
    a_med = seq["agentdown"][0]
    print(f"agentdown median - aiohttp median = {a_med - floor_med:+.2f} ms (target <= +1.00 ms)")
    if "openai-sdk" in seq:
        print(f"agentdown median / openai-sdk median = {a_med / seq['openai-sdk'][0]:.2f} (target < 1)")
    print(
        f"agentdown throughput / aiohttp throughput = {conc['agentdown'][0] / floor_tps:.1%} (target >= 90%)"
    )


if __name__ == "__main__":
    main()
