"""timer_trigger through TriggerHost: the schedule, run_on_startup, past_due catch-up, one run per occurrence."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _triggers_apps import agent_file, eventually, make_app, prompt_type, trigger_data

from agentdown.app import load_app
from agentdown.messages import Message
from agentdown.runtime import Runner
from agentdown.runtime.queues import resolve_account
from agentdown.runtime.triggers import TriggerHost
from agentdown.runtime.triggers.state import open_state_store
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import CallInfo, FunctionModel


def timer_app(tmp_path: Path, schedule: str, *, startup: bool = False, monitor: bool = True) -> Path:
    trigger = (
        f"  type: timer_trigger\n  args:\n    schedule: '{schedule}'\n"
        f"    run_on_startup: {str(startup).lower()}\n    use_monitor: {str(monitor).lower()}\n"
    )
    return make_app(tmp_path, {"worker": agent_file(trigger)})


class Calls:
    def __init__(self) -> None:
        self.data: list[dict[str, Any]] = []

    def __call__(self, messages: list[Message], info: CallInfo) -> str:
        assert prompt_type(messages) == "timer_trigger"
        self.data.append(trigger_data(messages))
        return "tick"


def host_for(
    app: Path, calls: Calls, tmp_path: Path, environ: dict[str, str], name: str = "s"
) -> TriggerHost:
    runner = Runner(load_app(app, model=FunctionModel(calls)), SqliteSessionStore(tmp_path / f"{name}.db"))
    return TriggerHost(runner, environ=environ)


async def test_fires_on_schedule(tmp_path: Path, environ: dict[str, str]) -> None:
    calls = Calls()
    host = host_for(timer_app(tmp_path, "* * * * * *"), calls, tmp_path, environ)
    [description] = host.triggers
    assert description.args["schedule"] == "* * * * * *" and description.concurrency == 1
    async with host:
        await eventually(lambda: len(calls.data) >= 2, timeout=6)
    first, second = calls.data[:2]
    assert first["past_due"] is False and first["schedule"] == {"AdjustForDST": True}
    due = [datetime.fromisoformat(d["schedule_status"]["Next"]) for d in (first, second)]
    assert due[1] - due[0] == timedelta(seconds=1)
    assert second["schedule_status"]["Last"] == first["schedule_status"]["Next"]


async def test_run_on_startup(tmp_path: Path, environ: dict[str, str]) -> None:
    calls = Calls()
    async with host_for(
        timer_app(tmp_path, "0 0 0 1 1 *", startup=True, monitor=False), calls, tmp_path, environ
    ):
        await eventually(lambda: len(calls.data) == 1, timeout=5)
        await asyncio.sleep(0.3)
    assert calls.data == [{"past_due": False, "schedule_status": None, "schedule": {"AdjustForDST": True}}]


async def test_a_missed_occurrence_runs_once_at_start_as_past_due(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    store = open_state_store(
        resolve_account("AzureWebJobsStorage", environ), environ["AGENTDOWN_HOSTS_CONTAINER"]
    )
    missed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    try:
        await store.start()
        status = {
            "Last": (missed - timedelta(days=1)).isoformat(),
            "Next": missed.isoformat(),
            "LastUpdated": None,
        }
        assert await store.create("timers/worker/status", status) is not None
    finally:
        await store.aclose()
    app = timer_app(tmp_path, "0 0 0 1 1 *")  # yearly: nothing else is due during the test
    calls = Calls()
    async with host_for(app, calls, tmp_path, environ):
        await eventually(lambda: len(calls.data) == 1, timeout=5)
    [data] = calls.data
    assert data["past_due"] is True and data["schedule_status"]["Next"] == missed.isoformat()
    # The status now points at the next real occurrence: a restart has nothing to catch up.
    again = Calls()
    async with host_for(app, again, tmp_path, environ, "t"):
        await asyncio.sleep(0.5)
    assert again.data == []


async def test_two_hosts_run_each_occurrence_once(tmp_path: Path, environ: dict[str, str]) -> None:
    app = timer_app(tmp_path, "* * * * * *")
    calls = [Calls(), Calls()]
    hosts = [host_for(app, c, tmp_path, environ, f"s{i}") for i, c in enumerate(calls)]
    for host in hosts:
        await host.start()
    try:
        await eventually(lambda: sum(len(c.data) for c in calls) >= 4, timeout=8)
    finally:
        for host in hosts:
            await host.stop()
    occurrences = Counter(d["schedule_status"]["Next"] for c in calls for d in c.data)
    assert occurrences and max(occurrences.values()) == 1
