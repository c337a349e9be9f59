"""Three ``agentdown worker`` processes share one app's Agents-API runs on one storage account.

Real worker processes, Azurite (queues and tables, as in Azure), the loopback fake
model. This process only creates the runs (it does not consume the runs queue); the
workers take them from ``agentdown-runs``, lease them in their records and execute
them. Every run must be done by exactly one worker (its tool ran once, the model was
asked exactly twice for it), none may be lost, and all three workers must have had a
share. Azurite's request log gives what the work cost in storage operations, the
numbers ``docs/scaling.md`` builds its ceilings on.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentdown.app.catalog import load_app
from agentdown.messages import Message
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.runtime import Runner
from agentdown.runtime.agents_api.config import open_agents_store
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.objects import message_object, text_block, thread_object
from agentdown.runtime.agents_api.runs.host import RunHost
from agentdown.runtime.agents_api.runs.schemas import RunCreate
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import FakeModelServer
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call
from azurite_peer import Azurite, running_azurite

WORKERS = 3
RUNS = 36

MARK_TOOL = '''
import os, time
from agentdown import tool

@tool
def mark(tag: str) -> str:
    """Record that this job ran here."""
    # One short O_APPEND write per call: lines from several processes never interleave.
    fd = os.open(os.environ["MARKER_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{os.getpid()} {tag}\\n".encode())
    finally:
        os.close(fd)
    time.sleep(0.2)
    return "marked " + tag
'''

AGENT = (
    "---\nname: jobs\ndescription: Runs jobs.\ntools: {include: [mark]}\n---\nMark the job you are given.\n"
)
READY = "worker executing Agents API runs"
OPERATION = re.compile(r"DispatchMiddleware: Operation=(\w+)")
# A table request names its partition in its URL, its filter or its body; a queue request its queue.
PARTITION = re.compile(r"PartitionKey(?:='|%20eq%20'|\"\s*:\s*\")([a-z_]+)(?:%7C|\|)")
QUEUE = re.compile(r"RequestURL=http://[^/\s]+/devstoreaccount1/([a-z0-9-]+)/messages")


def _tag(messages: list[Message]) -> str:
    return next(m.text for m in messages if m.role == "user")


def reply(messages: list[Message], info: CallInfo) -> Any:
    if messages[-1].role == "tool":
        return "done: " + (messages[-1].tool_results[0].text or "")
    return ToolCalls(tool_call("mark", {"tag": _tag(messages)}))


@pytest.fixture
def azurite_logged(tmp_path: Path) -> Iterator[tuple[Azurite, Path]]:
    log = tmp_path / "azurite-requests.log"
    with running_azurite(debug_log=log) as server:
        yield server, log


def start_worker(app: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentdown.cli", "worker", str(app), "--log-level", "warning"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(worker: subprocess.Popen[str], seen: list[str], timeout: float) -> None:
    """Read the worker's output into ``seen`` until it says it consumes the runs queue,
    then keep reading it in a thread (a full pipe would block the worker)."""
    assert worker.stdout is not None
    stream = worker.stdout
    deadline = time.monotonic() + timeout
    for line in stream:
        seen.append(line)
        if READY in line:
            threading.Thread(target=lambda: seen.extend(stream), daemon=True).start()
            return
        if time.monotonic() > deadline:
            break
    raise AssertionError("a worker did not start:\n" + "".join(seen))


def stop(workers: list[subprocess.Popen[str]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def operations(log: Path) -> collections.Counter[tuple[str, str]]:
    """``(operation, where)`` of every request in Azurite's log: ``where`` is the table
    partition's kind (``run`` for ``run|<thread>``) or the queue's name."""
    ops: dict[str, str] = {}
    where: dict[str, str] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        request = parts[1]
        found = OPERATION.search(line)
        if found:
            ops[request] = found.group(1)
        if request not in where:
            place = PARTITION.search(line) or QUEUE.search(line)
            if place:
                where[request] = place.group(1)
    return collections.Counter((op, where.get(request, "-")) for request, op in ops.items())


async def settled(
    log: Path, before: collections.Counter[tuple[str, str]]
) -> collections.Counter[tuple[str, str]]:
    """The operations since ``before`` once Azurite has logged them all (it writes its log
    behind the requests): every run's job deleted, and the count still for a moment."""

    def work(ops: collections.Counter[tuple[str, str]]) -> dict[tuple[str, str], int]:
        # Idle workers keep polling (receives): those never settle.
        return {key: n for key, n in ops.items() if key[0] != "Messages_Dequeue"}

    cost: collections.Counter[tuple[str, str]] = collections.Counter()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        latest = operations(log) - before
        deleted = sum(n for (op, _), n in latest.items() if op == "MessageId_Delete")
        if deleted >= RUNS and work(latest) == work(cost):
            return latest
        cost = latest
        await asyncio.sleep(0.5)
    return cost


def by_place(cost: collections.Counter[tuple[str, str]], prefixes: tuple[str, ...]) -> dict[str, int]:
    places: collections.Counter[str] = collections.Counter()
    for (op, place), n in cost.items():
        if op.startswith(prefixes):
            places[place] += n
    return dict(places.most_common())


async def test_three_workers_share_the_runs_each_run_once_none_lost(
    tmp_path: Path, azurite_logged: tuple[Azurite, Path]
) -> None:
    azurite, log = azurite_logged
    app = tmp_path / "app"
    (app / "tools").mkdir(parents=True)
    (app / "jobs.agent.md").write_text(AGENT)
    (app / "tools" / "mark.py").write_text(MARK_TOOL)
    marker = tmp_path / "marks.txt"
    async with FakeModelServer(reply) as fake:
        env = {
            "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
            "AzureWebJobsStorage": azurite.connection_string,
            "AGENTDOWN_PROVIDER": "openai_compatible",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "AGENTDOWN_MODEL": "fake-model",
            # A few runs at a time per worker, so the queue has work left for the others.
            "AGENTDOWN_RUN_CONCURRENCY": "4",
            "AGENTDOWN_RUN_POLL_SECONDS": "0.2",
            "MARKER_FILE": str(marker),
        }
        model = OpenAIChatModel("fake-model", base_url=fake.base_url, api_key="test", max_retries=0)
        catalog = load_app(app, model=model, environ=env)
        store = open_agents_store(env)
        api = AgentsApi(store, Runner(catalog, SqliteSessionStore(tmp_path / "s.db")))
        host = RunHost(api, env)
        await host.start(consume=False)  # this process only creates runs
        workers = [start_worker(app, env) for _ in range(WORKERS)]
        try:
            outputs: list[list[str]] = [[] for _ in workers]
            for worker, seen in zip(workers, outputs, strict=True):
                await asyncio.to_thread(wait_ready, worker, seen, 60)
            before = operations(log)
            started = time.monotonic()
            runs: dict[str, tuple[str, str]] = {}

            async def submit(tag: str) -> None:
                thread = thread_object()
                await store.create("thread", "", thread["id"], thread)
                first = message_object(thread["id"], "user", [text_block(tag)])
                await store.create("message", thread["id"], first["id"], first)
                run = await host.service.create(thread["id"], RunCreate(assistant_id="jobs"))
                runs[tag] = (thread["id"], run["id"])

            await asyncio.gather(*(submit(f"job-{i:02d}") for i in range(RUNS)))
            submitted = time.monotonic() - started

            # Wait on the model's side (no storage reads of our own while the workers work),
            # then read each run's status until all have ended.
            deadline = time.monotonic() + 90
            while len(fake.requests) < 2 * RUNS and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            statuses: dict[str, str] = {}
            reads = 0
            while time.monotonic() < deadline:
                for tag, (thread_id, run_id) in runs.items():
                    if statuses.get(tag) in (None, "queued", "in_progress"):
                        record = await store.get("run", thread_id, run_id)
                        reads += 1
                        assert record is not None
                        statuses[tag] = record.body["status"]
                if all(s not in ("queued", "in_progress") for s in statuses.values()):
                    break
                await asyncio.sleep(0.1)
            elapsed = time.monotonic() - started
            cost = await settled(log, before)
        finally:
            stop(workers)
            await host.aclose()
            await store.aclose()
            await model.aclose()

    logs = "".join(f"--- worker {w.pid}:\n{''.join(out)}" for w, out in zip(workers, outputs, strict=True))
    # Nothing lost: every run completed.
    assert statuses == dict.fromkeys(runs, "completed"), f"{statuses}\n{logs}"
    # Nothing done twice: each run's tool ran once, and the model was asked twice per run
    # (the tool call, then the answer): a run executed again would ask again.
    marks = [line.split() for line in marker.read_text().splitlines()]
    assert sorted(tag for _, tag in marks) == sorted(runs)
    asked = collections.Counter(
        next(m["content"] for m in r.body["messages"] if m["role"] == "user") for r in fake.requests
    )
    assert asked == dict.fromkeys(runs, 2)
    # Spread over all three workers.
    share = collections.Counter(int(pid) for pid, _ in marks)
    assert set(share) == {w.pid for w in workers}, share
    assert min(share.values()) >= 1

    table_ops = ("Table_",)
    queue_ops = ("Messages_", "MessageId_")
    ops: collections.Counter[str] = collections.Counter()
    for (op, _), n in cost.items():
        ops[op] += n
    tables = sum(n for op, n in ops.items() if op.startswith(table_ops))
    print(
        f"\n{RUNS} runs over {WORKERS} workers in {elapsed:.1f} s ({RUNS / elapsed:.1f} runs/s; "
        f"submitting took {submitted:.1f} s); runs per worker {sorted(share.values())}\n"
        f"operations: {dict(sorted(ops.items()))}\n"
        f"table operations {tables} ({(tables - reads) / RUNS:.1f} per run without this test's {reads} "
        f"status reads) by partition kind: {by_place(cost, table_ops)}\n"
        f"queue operations by queue: {by_place(cost, queue_ops)}"
    )
