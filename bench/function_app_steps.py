"""Per-step latency of workflow graph steps on the Azure Functions path, against Azurite.

A ``workflows/`` chain of N supersteps (an executor with an edge to itself, doing nothing)
under ``create_function_app()``; the bench plays the Functions host: it receives each
step's message from Azurite's ``agentdown-workflow-steps`` queue, binds it with the
``azure-functions`` package's own converter and calls ``agentdown_workflow_steps``, until
the run is idle. A next step of one target runs at once under the message of the step
before (still held), so a chain is one message and N supersteps. Reported: ms per
superstep (its records and checkpoint on Azurite's table and blob services), the
messages the host delivered and the time to receive one. The host's polling delay is not in it: on Azure the queue trigger
looks again at once after a message (then backs off up to ``maxPollingInterval``), and
Durable Functions' Azure Storage backend polls its control and work-item queues the same way.

Usage: python bench/function_app_steps.py [--steps 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import azure.functions as func
from azure.storage.queue.aio import QueueClient

from agentdown.hosting import create_function_app
from agentdown.testing import FakeModelServer
from azurite_peer import running_azurite

AGENT = "---\nname: Helper\ndescription: Helps.\nbuiltin_endpoints: true\n---\nHelp.\n"
CHAIN = """
from agentdown.workflows import Executor, WorkflowBuilder, WorkflowContext, handler


class Count(Executor):
    @handler
    async def step(self, n: int, ctx: WorkflowContext[int, int]) -> None:
        if n >= {steps}:
            await ctx.yield_output(n)
        else:
            await ctx.send_message(n + 1)


def build_workflow():
    count = Count("count")
    return WorkflowBuilder(start_executor=count, name="chain", max_iterations={limit}).add_edge(count, count).build()
"""


def bound(item: Any) -> func.QueueMessage:
    import base64

    from azure.functions.meta import Datum
    from azure.functions.queue import QueueMessageInConverter

    metadata = {
        "Id": Datum(item.id, "string"),
        "PopReceipt": Datum(item.pop_receipt, "string"),
        "DequeueCount": Datum(item.dequeue_count, "int"),
    }
    message: func.QueueMessage = QueueMessageInConverter.decode(
        Datum(base64.b64decode(item.content), "bytes"), trigger_metadata=metadata
    )
    return message


async def run(steps: int) -> dict[str, Any]:
    with running_azurite() as azurite, tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        (app / "workflows").mkdir(parents=True)
        (app / "helper.agent.md").write_text(AGENT)
        (app / "workflows" / "chain.py").write_text(CHAIN.format(steps=steps, limit=steps + 5))
        async with FakeModelServer() as fake:
            env = {
                "AGENTDOWN_PROVIDER": "openai_compatible",
                "OPENAI_BASE_URL": fake.base_url,
                "OPENAI_API_KEY": "bench",
                "AGENTDOWN_MODEL": "bench",
                "AGENTDOWN_DATA_DIR": str(Path(tmp) / "data"),
                "AzureWebJobsStorage": azurite.connection_string,
            }
            function_app = create_function_app(app, environ=env)
            functions = {f.get_function_name(): f.get_user_function() for f in function_app.get_functions()}
            step = functions["agentdown_workflow_steps"]
            runs = functions["agentdown_workflow_runs"]
            request = func.HttpRequest(
                "POST",
                "http://localhost/workflows/chain/runs",
                headers={},
                body=json.dumps({"input": 0}).encode(),
            )
            started = json.loads((await runs(request)).get_body())
            receive_ms: list[float] = []
            step_ms: list[float] = []
            async with QueueClient.from_connection_string(
                azurite.connection_string, "agentdown-workflow-steps"
            ) as queue:
                begin = time.perf_counter()
                while True:
                    t0 = time.perf_counter()
                    items = [i async for i in queue.receive_messages(max_messages=1, visibility_timeout=30)]
                    if not items:
                        show = func.HttpRequest(
                            "GET",
                            f"http://localhost/workflows/chain/runs/{started['id']}",
                            headers={},
                            body=b"",
                        )
                        status = json.loads((await runs(show)).get_body())["status"]
                        if status in ("IDLE", "FAILED"):
                            break
                        await asyncio.sleep(0.005)
                        continue
                    t1 = time.perf_counter()
                    await step(bound(items[0]))
                    t2 = time.perf_counter()
                    receive_ms.append((t1 - t0) * 1000)
                    step_ms.append((t2 - t1) * 1000)
                total = time.perf_counter() - begin
            await function_app.agentdown.aclose()  # type: ignore[attr-defined]
    return {
        "supersteps": steps + 1,
        "messages": len(step_ms),
        "status": status,
        "ms_per_superstep": round(total * 1000 / (steps + 1), 2),
        "receive_ms_median": round(statistics.median(receive_ms), 2),
        "function_s_total": round(sum(step_ms) / 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.steps)), indent=2))


if __name__ == "__main__":
    main()
