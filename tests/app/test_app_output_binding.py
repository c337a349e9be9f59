"""``output`` and ``session_key`` front matter, and schedules that never occur."""

from __future__ import annotations

import jsonschema
import pytest
from apphelpers import MakeApp, agent_md, errors, problems_of

from agentdown.app.catalog import load_app
from agentdown.app.schema import front_matter_schema
from agentdown.runtime.triggers import OutputBinding, bindings_from_catalog

KEY = {"OPENAI_API_KEY": "k"}
QUEUE = "trigger:\n  type: queue_trigger\n  args:\n    queue_name: orders\n"


def agent(extra: str, trigger: str = QUEUE) -> str:
    return agent_md("name: n\ndescription: d\n" + trigger + extra)


def test_queue_output(make_app: MakeApp) -> None:
    app = make_app(
        {
            "a.agent.md": agent(
                "output:\n  type: queue_output\n  args:\n    queue_name: $OUT\n    connection: S\n"
            )
        }
    )
    spec = load_app(app, environ={**KEY, "OUT": "answers"})["a"]
    assert spec.output == OutputBinding("queue_output", queue_name="answers", connection="S")
    assert spec.session_key is None


def test_blob_output_flat_form(make_app: MakeApp) -> None:
    app = make_app({"a.agent.md": agent("output:\n  type: blob_output\n  path: results/{id}.md\n")})
    spec = load_app(app, environ=KEY)["a"]
    assert spec.output == OutputBinding("blob_output", path="results/{id}.md")
    assert spec.output.connection == "AzureWebJobsStorage"


@pytest.mark.parametrize(
    ("output", "line", "message"),
    [
        # lines: 1 ---, 2 name, 3 description, 4-7 trigger, 8 output
        ("output: answers\n", 8, "output: expected a mapping"),
        ("output:\n  type: http_output\n", 9, "output.type: expected queue_output or blob_output"),
        (
            "output:\n  type: queue_output\n  args:\n    queue_name: Bad_Q\n",
            11,
            "output.args.queue_name: invalid",
        ),
        (
            "output:\n  type: blob_output\n  args:\n    path: r/x\n    mode: a\n",
            12,
            "output.args.mode: unknown key",
        ),
        ("output:\n  type: queue_output\n  args: {}\n", 10, "output.args.queue_name: required"),
    ],
)
def test_bad_output_is_reported_at_its_line(make_app: MakeApp, output: str, line: int, message: str) -> None:
    app = make_app({"a.agent.md": agent(output)})
    found = errors(problems_of(app))
    assert len(found) == 1, found
    assert f"a.agent.md:{line}:" in found[0] and message in found[0]


def test_session_key_on_a_queue_agent(make_app: MakeApp) -> None:
    app = make_app({"a.agent.md": agent("session_key: 'customer-{body_json.customer_id}'\n")})
    assert load_app(app, environ=KEY)["a"].session_key == "customer-{body_json.customer_id}"


@pytest.mark.parametrize(
    ("value", "message"),
    [("''", "must not be empty"), ("42", "expected a session id template"), ("'a-{'", "unbalanced brace")],
)
def test_bad_session_key(make_app: MakeApp, value: str, message: str) -> None:
    app = make_app({"a.agent.md": agent(f"session_key: {value}\n")})
    found = errors(problems_of(app))
    assert len(found) == 1 and "a.agent.md:8:" in found[0] and message in found[0], found


@pytest.mark.parametrize(
    "trigger", ["trigger:\n  type: http_trigger\n  args:\n    route: go\n", "builtin_endpoints: true\n"]
)
def test_output_and_session_key_need_a_timer_queue_or_blob_trigger(make_app: MakeApp, trigger: str) -> None:
    extra = "output:\n  type: queue_output\n  queue_name: answers\nsession_key: s-{id}\n"
    app = make_app({"a.agent.md": agent(extra, trigger)})
    found = errors(problems_of(app))
    first = 4 + trigger.count("\n")
    assert [f.split(": ", 1)[0] for f in found] == [
        f"{app / 'a.agent.md'}:{first}",
        f"{app / 'a.agent.md'}:{first + 3}",
    ]
    assert "output: only agents with a timer_trigger, queue_trigger or blob_trigger" in found[0]
    assert "session_key: only agents" in found[1]


def test_impossible_schedule_is_flagged(make_app: MakeApp) -> None:
    timer = "trigger:\n  type: timer_trigger\n  args:\n    schedule: '0 0 0 31 2 *'\n"
    app = make_app({"a.agent.md": agent("", timer)})
    found = errors(problems_of(app))
    assert len(found) == 1 and "a.agent.md:7:" in found[0] and "never occurs" in found[0], found


def test_bindings_from_catalog_pick_up_output_and_session_key(make_app: MakeApp) -> None:
    extra = (
        "output:\n  type: queue_output\n  args:\n    queue_name: answers\n"
        "session_key: 'customer-{body_json.customer_id}'\n"
    )
    app = make_app({"worker.agent.md": agent(extra), "main.agent.md": agent_md("name: m\ndescription: d\n")})
    (binding,) = bindings_from_catalog(load_app(app, environ=KEY))
    assert binding.agent == "worker"
    assert binding.output == OutputBinding("queue_output", queue_name="answers")
    assert binding.session_key == "customer-{body_json.customer_id}"


def test_schema_accepts_both_output_forms_and_a_session_key() -> None:
    validator = jsonschema.Draft7Validator(front_matter_schema())
    base = {"name": "n", "description": "d", "session_key": "s-{id}"}
    good = [
        {"type": "queue_output", "args": {"queue_name": "answers", "connection": "S"}},
        {"type": "blob_output", "path": "results/{name}.md"},
    ]
    bad = [{"type": "queue_output", "args": {"path": "x/y"}}, {"type": "http_output", "queue_name": "q"}]
    assert all(not list(validator.iter_errors({**base, "output": o})) for o in good)
    assert all(list(validator.iter_errors({**base, "output": o})) for o in bad)
