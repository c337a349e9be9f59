"""A worker killed (SIGKILL) while it ingests a store file: another worker ingests it, and it counts once.

Real ``agentdown worker`` processes on each queue backend (the embedded SQLite
queue, and Azure Storage queues on Azurite with the Table store). ``ingest_file``
is wrapped in the workers to mark when it starts and, in the first worker, to hang
until the worker is killed. The second takes the job over once the lease and the
job's visibility run out, ingests the file from scratch, and the store counts it once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentdown.app.catalog import load_app
from agentdown.runtime import Runner
from agentdown.runtime.agents_api.config import open_agents_store
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.runs.host import RunHost
from agentdown.runtime.agents_api.vector_stores import FILE_KIND, STORE_KIND
from agentdown.runtime.agents_api.vector_stores_files import StoreFiles, check_chunking
from agentdown.runtime.agents_api.vector_stores_sources import Source
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import ScriptedModel

HERE = Path(__file__).resolve().parent

LAUNCHER = f"""
import asyncio, os, runpy, sys
sys.path.insert(0, {str(HERE)!r})
sys.path.insert(0, {str(HERE.parent)!r})
import filekit

knowledge = filekit.KNOWLEDGE
real = knowledge.ingest_file

async def marked(index, path, **kwargs):
    with open(os.environ["MARKER_FILE"], "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    if os.environ.get("HANG_INGEST"):
        await asyncio.sleep(600)
    return await real(index, path, **kwargs)

knowledge.ingest_file = marked
sys.argv = ["agentdown", "worker", sys.argv[1], "--log-level", "warning"]
runpy.run_module("agentdown.cli", run_name="__main__")
"""

AGENT = "---\nname: idle\ndescription: Never called here.\n---\nBe brief.\n"


@pytest.fixture(params=["sqlite", "azurite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    if request.param == "sqlite":
        yield env
        return
    azurite = request.getfixturevalue("azurite")
    suffix = os.urandom(4).hex()
    yield {
        **env,
        "AzureWebJobsStorage": azurite.connection_string,
        "AGENTDOWN_AGENTS_TABLE": f"takeover{suffix}",
        "AGENTDOWN_INGEST_QUEUE": f"ingest-{suffix}",
        "AGENTDOWN_RUNS_QUEUE": f"runs-{suffix}",
    }


def start_worker(launcher: Path, app: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(launcher), str(app)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(*procs: subprocess.Popen[str] | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def wait_for(predicate: Any, timeout: float, what: str, *procs: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(
                    f"a worker exited ({proc.returncode}): {proc.stdout.read() if proc.stdout else ''}"
                )
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_killed_ingest_worker_file_completes_elsewhere_exactly_once(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "idle.agent.md").write_text(AGENT)
    launcher = tmp_path / "launch_worker.py"
    launcher.write_text(LAUNCHER)
    marker = tmp_path / "ingesting.txt"
    env = {
        **backend,
        "AGENTDOWN_INGEST_LEASE_SECONDS": "2",
        "AGENTDOWN_INGEST_POLL_SECONDS": "0.2",
        "MARKER_FILE": str(marker),
    }
    store = open_agents_store(env)
    api = AgentsApi(
        store,
        Runner(load_app(app, model=ScriptedModel([]), environ=env), SqliteSessionStore(tmp_path / "s.db")),
        environ=env,
    )
    host = RunHost(api, env)
    await host.start(consume=False)  # this process only adds the file; the workers ingest it
    files = api.files()
    file_id = files.new_id()
    writer = await files.writer(file_id)
    await writer.write(b"Tulips are planted in autumn and bloom in spring.")
    await writer.commit()
    await files.add(file_id, "", "tulips.txt", "assistants", 49)
    stores = api.vector_stores()
    body = stores.new_body("", "takeover", None, None, None)
    record = await store.create(STORE_KIND, "", body["id"], body)
    await StoreFiles(api, stores).add(
        record, [Source(file_id, "tulips.txt")], check_chunking(None, "chunking_strategy")
    )

    worker_a = start_worker(launcher, app, {**env, "HANG_INGEST": "1"})
    worker_b: subprocess.Popen[str] | None = None
    try:

        async def started() -> bool:
            return marker.exists() and marker.read_text().strip() != ""

        await wait_for(started, 60, "the first worker to start ingesting", worker_a)
        os.kill(worker_a.pid, signal.SIGKILL)
        worker_a.wait(10)
        worker_b = start_worker(launcher, app, env)

        async def ended() -> bool:
            file = await store.get(FILE_KIND, record.id, file_id)
            assert file is not None
            return file.body["status"] != "in_progress"

        await wait_for(ended, 60, "the second worker to ingest the file", worker_b)

        async def drained() -> bool:
            # At least once: a job whose receipt went stale (a visibility renewal cut short on a
            # loaded machine) comes back after its timeout and is deleted as already done.
            return await host.ingest.queue.approximate_count() == 0

        await wait_for(drained, 30, "the ingest queue to drain", worker_b)
    finally:
        stop(worker_a, worker_b)
    assert worker_b is not None
    file = await store.get(FILE_KIND, record.id, file_id)
    assert file is not None and file.body["status"] == "completed", file.body if file else None
    assert "_lease" not in file.body
    assert marker.read_text().split() == [str(worker_a.pid), str(worker_b.pid)]
    view = await stores.view(await stores.require(record.id, None))
    assert view["status"] == "completed"
    assert view["file_counts"] == {"in_progress": 0, "completed": 1, "failed": 0, "cancelled": 0, "total": 1}
    assert view["usage_bytes"] == file.body["usage_bytes"] > 0
    hits = await api.search_stores([record.id], "tulips autumn", 5, 0.0)
    assert [h.file_id for h in hits] == [file_id], "indexed once"
    await host.aclose()
    await api.aclose()
