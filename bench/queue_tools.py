"""Queue-bound function tools: round trip per call and throughput, embedded and on Azurite.

The function side is a real ``agentdown worker APP --queue-tools`` process serving an
echo tool; the caller is a :class:`QueueTool` in this process. Per backend it prints:

* sequential calls: p50 / p95 milliseconds per round trip (send, the worker's
  receive -> tool -> reply, this process's reply reader);
* 50 calls in flight: calls per second, and p50 / p95 per call under that load;
* baseline, same run: bare ``send`` + ``receive`` + ``delete`` of one message on the
  same queue service in this process (what the two queue hops cost at the least);
* embedded only: the cost of the change probe that replaces polling (one ``stat``
  pair per 2 ms while a call waits).

Usage: python bench/queue_tools.py [--calls 200] [--load 1000] [--backends embedded,azurite]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from agentdown.runtime.queue_tools import QueueTool, aclose_shared  # noqa: E402
from agentdown.runtime.queues import open_queue_service, resolve_account  # noqa: E402
from azurite_peer import running_azurite  # noqa: E402

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
IN_FLIGHT = 50


def make_app(root: Path, inq: str, outq: str) -> Path:
    app = root / "app"
    (app / "tools").mkdir(parents=True)
    (app / "echo.agent.md").write_text(
        "---\nname: Echo\ndescription: Echoes.\nqueue_tools:\n  - name: Echo\n    description: Echo.\n"
        f"    parameters: {{type: object, properties: {{n: {{type: integer}}}}}}\n"
        f"    input_queue: {inq}\n    output_queue: {outq}\n---\nEcho.\n"
    )
    (app / "tools" / "echo.py").write_text(
        "from agentdown import tool\n\n@tool(name='Echo')\nasync def echo(n: int) -> int:\n"
        '    """Echo."""\n    return n\n'
    )
    return app


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def bare_baseline(env: dict[str, str], n: int) -> list[float]:
    service = open_queue_service(resolve_account("AzureWebJobsStorage", env))
    queue = service.queue(f"bare-{uuid.uuid4().hex[:8]}")
    await queue.create()
    times = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            await queue.send(str(i))
            (message,) = await queue.receive(1, 30)
            await queue.delete(message)
            times.append(time.perf_counter() - t0)
    finally:
        await service.aclose()
    return times


async def run_backend(name: str, env: dict[str, str], calls: int, load: int) -> None:
    inq, outq = f"bench-in-{uuid.uuid4().hex[:8]}", f"bench-out-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp), inq, outq)
        # The function server lives for the whole bench; Popen returns at once.
        worker = subprocess.Popen(  # noqa: ASYNC220
            [
                sys.executable,
                "-m",
                "agentdown.cli",
                "worker",
                str(app),
                "--queue-tools",
                "--no-agents-api",
                "--concurrency",
                str(IN_FLIGHT),
                "--log-level",
                "warning",
            ],
            env={**os.environ, **env, "PYTHONPATH": str(REPO / "src")},
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert worker.stderr is not None
            for line in worker.stderr:
                if "worker serving" in line:
                    break
            tool = QueueTool("Echo", "Echo.", SCHEMA, input_queue=inq, output_queue=outq, environ=env)
            for i in range(20):  # warm-up: clients open, queues exist
                await tool.invoke({"n": i})
            seq = []
            for i in range(calls):
                t0 = time.perf_counter()
                assert await tool.invoke({"n": i}) == i
                seq.append(time.perf_counter() - t0)
            sem = asyncio.Semaphore(IN_FLIGHT)
            loaded: list[float] = []

            async def one(i: int) -> None:
                async with sem:
                    t0 = time.perf_counter()
                    assert await tool.invoke({"n": i}) == i
                    loaded.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(load)))
            rate = load / (time.perf_counter() - t0)
            await aclose_shared()
            bare = await bare_baseline(env, min(calls, 100))
        finally:
            worker.terminate()
            worker.wait(30)
    print(
        f"{name:9} sequential p50 {pct(seq, 0.5):6.1f} ms  p95 {pct(seq, 0.95):6.1f} ms | "
        f"{IN_FLIGHT} in flight: {rate:7.0f} calls/s, p50 {pct(loaded, 0.5):6.1f} ms  p95 {pct(loaded, 0.95):6.1f} ms"
        f" | baseline send+receive+delete p50 {pct(bare, 0.5):5.1f} ms"
    )
    slow = sorted(t for t in loaded if t > 5)
    if slow:
        print(f"{'':9} {len(slow)} loaded calls over 5 s: {', '.join(f'{t:.1f}' for t in slow[:12])} ...")


def probe_cost() -> None:
    path = tempfile.mktemp()
    Path(path).write_bytes(b"x")
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        for p in (path + "-wal", path):
            with suppress(OSError):
                os.stat(p)
    per = (time.perf_counter() - t0) / n
    print(
        f"embedded change probe: {per * 1e6:.1f} us per probe, 500 probes/s while a call waits "
        f"= {per * 500 * 100:.2f}% of one core; none when nothing waits"
    )
    os.unlink(path)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--load", type=int, default=1000)
    parser.add_argument("--backends", default="embedded,azurite")
    args = parser.parse_args()
    backends = args.backends.split(",")
    print(f"queue tools: {args.calls} sequential calls, then {args.load} with {IN_FLIGHT} in flight")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as data:
        base = {"AGENTDOWN_DATA_DIR": data, "AGENTDOWN_QUEUE_MAX_POLLING_INTERVAL": "0.1"}
        if "embedded" in backends:
            await run_backend("embedded", {**base, "AzureWebJobsStorage": ""}, args.calls, args.load)
            probe_cost()
        if "azurite" in backends:
            azurite = stack.enter_context(running_azurite())
            env = {**base, "AzureWebJobsStorage": azurite.connection_string}
            await run_backend("azurite", env, args.calls, args.load)


if __name__ == "__main__":
    asyncio.run(main())
