"""Trigger front matter (both forms), schedules, and the trigger prompt."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from apphelpers import MakeApp, agent_md

from agentdown.app.catalog import load_app
from agentdown.app.spec import BlobTrigger, HttpAuth, HttpTrigger, QueueTrigger, TimerTrigger
from agentdown.app.triggers import normalize_schedule, trigger_prompt

KEY = {"OPENAI_API_KEY": "k"}


def load_trigger(make_app: MakeApp, trigger: str, environ: dict[str, str] | None = None) -> object:
    app = make_app({"a.agent.md": agent_md("name: n\ndescription: d\n" + trigger)})
    return load_app(app, environ={**KEY, **(environ or {})})["a"].trigger


def test_timer_trigger(make_app: MakeApp) -> None:
    trigger = load_trigger(
        make_app,
        "trigger:\n  type: timer_trigger\n  args:\n    schedule: '0 0 9 * * *'\n    run_on_startup: true",
    )
    assert trigger == TimerTrigger(schedule="0 0 9 * * *", run_on_startup=True, use_monitor=True)
    assert trigger.type == "timer_trigger"  # type: ignore[attr-defined]


def test_timer_trigger_flat_form_and_five_field_cron(make_app: MakeApp) -> None:
    # The earlier form of the Azure Functions runtime: arguments next to `type`.
    trigger = load_trigger(
        make_app, "trigger:\n  type: timer_trigger\n  schedule: 30 14 * * 1-5\n  use_monitor: false"
    )
    assert trigger == TimerTrigger(schedule="0 30 14 * * 1-5", run_on_startup=False, use_monitor=False)


def test_queue_trigger(make_app: MakeApp) -> None:
    trigger = load_trigger(
        make_app,
        "trigger:\n  type: queue_trigger\n  args:\n    queue_name: $QUEUE\n    connection: STORAGE",
        {"QUEUE": "new-orders"},
    )
    assert trigger == QueueTrigger(queue_name="new-orders", connection="STORAGE")
    default = load_trigger(make_app, "trigger:\n  type: queue_trigger\n  args:\n    queue_name: tasks")
    assert default == QueueTrigger(queue_name="tasks", connection="AzureWebJobsStorage")


def test_blob_trigger(make_app: MakeApp) -> None:
    trigger = load_trigger(
        make_app,
        "trigger:\n  type: blob_trigger\n  args:\n    path: uploads/{name}.txt\n    source: EventGrid",
    )
    assert trigger == BlobTrigger(
        path="uploads/{name}.txt", connection="AzureWebJobsStorage", source="EventGrid"
    )
    assert trigger.args == {
        "path": "uploads/{name}.txt",
        "connection": "AzureWebJobsStorage",
        "source": "EventGrid",
    }  # type: ignore[attr-defined]


def test_http_trigger(make_app: MakeApp) -> None:
    trigger = load_trigger(
        make_app,
        "trigger:\n  type: http_trigger\n  args:\n    route: /summarize\n    methods: [post, GET]\n    auth_level: FUNCTION",
    )
    assert trigger == HttpTrigger(route="summarize", methods=("POST", "GET"), http_auth=HttpAuth("function"))
    assert load_trigger(make_app, "trigger:\n  type: http_trigger") == HttpTrigger(
        route="a"
    )  # route defaults to the slug
    entra = load_trigger(
        make_app, "trigger:\n  type: http_trigger\n  args:\n    route: r\n    http_auth: entra"
    )
    assert entra == HttpTrigger(route="r", http_auth=HttpAuth("entra"))


@pytest.mark.parametrize(
    ("schedule", "normalized"),
    [
        ("0 0 9 * * *", "0 0 9 * * *"),
        ("*/5 * * * *", "0 */5 * * * *"),
        ("0 30 14 * * MON-FRI", "0 30 14 * * MON-FRI"),
        ("0 0 0 1 JAN,jul *", "0 0 0 1 JAN,jul *"),
        ("0 0 12 ? * 0", "0 0 12 ? * 0"),
        ("0 0 9 * *", "0 0 0 9 * *"),  # 5 fields get 0 seconds: minute 0, hour 0, the 9th of each month
        ("0 0 9 * * * *", None),
        ("0 60 * * * *", None),
        ("0 0 5-1 * * *", None),
        ("0 */0 * * * *", None),
        ("a b c d e f", None),
        ("", None),
    ],
)
def test_normalize_schedule(schedule: str, normalized: str | None) -> None:
    assert normalize_schedule(schedule) == normalized


def test_trigger_prompt_format() -> None:
    prompt = trigger_prompt("timer_trigger", {"past_due": False, "schedule": {"adjust": "ok"}, "name": "é"})
    assert prompt == (
        "Triggered by: timer_trigger\n\nTrigger data:\n```json\n"
        '{"past_due": false, "schedule": {"adjust": "ok"}, "name": "é"}\n```'
    )
    body = prompt.split("```json\n", 1)[1].rsplit("\n```", 1)[0]
    assert json.loads(body)["name"] == "é"


def test_trigger_prompt_handles_non_json_values() -> None:
    from datetime import datetime

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert trigger_prompt("queue_trigger", {"at": when}).endswith('{"at": "2026-01-02 03:04:05+00:00"}\n```')
