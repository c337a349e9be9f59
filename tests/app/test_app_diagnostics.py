"""Every diagnostic names its file and line and says what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from apphelpers import MINIMAL, MakeApp, agent_md, errors, messages, problems_of

from agentdown.app.catalog import load_app
from agentdown.app.diagnostics import AppLoadError

BASE = "name: n\ndescription: d\nbuiltin_endpoints: true\n"


def one_error(app: Path) -> str:
    found = errors(problems_of(app))
    assert len(found) == 1, found
    return found[0]


def test_every_problem_of_every_file_is_reported(make_app: MakeApp) -> None:
    app = make_app(
        {
            "a.agent.md": agent_md("name: a\ndescriptoin: typo\nbuiltin_endpoints: true"),
            "b.agent.md": agent_md("name: [unclosed"),
            "agents.config.yaml": "timeout: soon\n",
            "tools/t.py": "raise ImportError('x')\n",
        }
    )
    with pytest.raises(AppLoadError) as caught:
        load_app(app, environ={"OPENAI_API_KEY": "k"})
    where = [f"{p.file.name}:{p.line}" for p in caught.value.problems]
    assert where == ["agents.config.yaml:1", "a.agent.md:3", "a.agent.md:2", "b.agent.md:2", "t.py:1"]
    assert "5 problem(s) in the app" in str(caught.value)


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        (
            "name: [oops",
            "2: error: invalid YAML: while parsing a flow sequence expected ',' or ']', but got '<stream end>'",
        ),
        (
            BASE + "colour: blue",
            "5: error: colour: unknown key 'colour' in the front matter; expected one of: name, description, trigger, ",
        ),
        (
            BASE + "timout: 5",
            "5: error: timout: unknown key 'timout' in the front matter (did you mean 'timeout'?)",
        ),
        (
            "name: n\nbuiltin_endpoints: true",
            "2: error: description: required: expected what the agent does (a string)",
        ),
        ("name: n\ndescription: ''\nbuiltin_endpoints: true", "3: error: description: must not be empty"),
        (
            "name: 3\ndescription: d\nbuiltin_endpoints: true",
            "2: error: name: expected the display name (a string), got 3",
        ),
        (BASE + "timeout: soon", "5: error: timeout: expected a positive number of seconds, got 'soon'"),
        (BASE + "timeout: -1", "5: error: timeout: expected a positive number of seconds, got -1"),
        (BASE + "timeout: '90'", "5: error: timeout: expected a positive number of seconds, got '90'"),
        (BASE + "logger: yes please", "5: error: logger: expected true or false, got 'yes please'"),
        (
            BASE + "substitute_variables: $FLAG",
            "5: error: substitute_variables: expected a literal true or false",
        ),
        (
            "name: n\ndescription: d\nbuiltin_endpoints: maybe",
            "4: error: builtin_endpoints: expected builtin_endpoints (a mapping with keys",
        ),
        (
            "name: n\ndescription: d\nbuiltin_endpoints:\n  chat: true",
            "5: error: builtin_endpoints.chat: unknown key 'chat' in builtin_endpoints (did you mean 'chat_api'?)",
        ),
        (
            BASE + "http_auth: open",
            "5: error: http_auth: expected one of function, admin, anonymous, entra, got 'open'",
        ),
        (
            BASE + "http_auth:\n  mode: entra\n  entra:\n    tenant: x",
            "8: error: http_auth.entra.tenant: unknown key 'tenant' in http_auth.entra (did you mean 'tenant_id'?)",
        ),
        (
            BASE + "tools: some",
            "5: error: tools: expected true, false, {exclude: [tool names]} or {include: [tool names]}, got 'some'",
        ),
        (
            BASE + "tools:\n  exclude: [ok, 3]",
            "6: error: tools.exclude[1]: expected a non-empty string in a list of strings, got 3",
        ),
        (
            BASE + "mcp:\n  only: [x]",
            "6: error: mcp.only: unknown key 'only' in mcp; expected one of: exclude, include",
        ),
        (
            BASE + "subagents: helper",
            "5: error: subagents: expected a list of {agent: <slug>, when: <when to delegate>}, got 'helper'",
        ),
        (
            BASE + "subagents:\n  - helper",
            "6: error: subagents[0]: expected {agent: <slug of another agent file>, when: <when to delegate>}, got 'helper'",
        ),
        (
            BASE + "subagents:\n  - when: always",
            "6: error: subagents[0].agent: required: expected the slug of another agent file",
        ),
        (
            BASE + "subagents:\n  - agent: a",
            "6: error: subagents[0].agent: an agent cannot delegate to itself ('a')",
        ),
        (
            BASE + "response_example: 42",
            "5: error: response_example: expected an example answer as a JSON document, got 42",
        ),
        (
            BASE + "response_schema:\n  type: objekt",
            "5: error: response_schema: not a valid JSON Schema at type: 'objekt' is not valid under any of the given schemas",
        ),
        (
            BASE + "response_schema:\n  title: x",
            "5: error: response_schema: response_schema dict does not look like a JSON Schema",
        ),
        (
            BASE + "input_schema: [1]",
            "5: error: input_schema: expected a JSON Schema (a mapping such as {type: object, properties: {...}}), got a list",
        ),
        (
            BASE + "agent_configuration:\n  max_output_tokens: 0",
            "6: error: agent_configuration.max_output_tokens: expected a positive whole number of tokens, got 0",
        ),
        (
            BASE + "agent_configuration:\n  temperature: 0",
            "6: error: agent_configuration.temperature: unknown key 'temperature'",
        ),
        (
            BASE + "system_tools:\n  web_request: no thanks",
            "6: error: system_tools.web_request: expected true or false, got 'no thanks'",
        ),
        (BASE + "metadata: [a]", "5: error: metadata: expected a mapping, got a list"),
        (
            BASE + "name: again",
            "5: error: duplicate key 'name' (first given at line 2); each key may appear once",
        ),
        ("- just\n- a list", "2: error: the front matter must be a YAML mapping such as `name: ...`"),
    ],
)
def test_front_matter_diagnostics(make_app: MakeApp, front: str, expected: str) -> None:
    app = make_app({"a.agent.md": agent_md(front)})
    assert one_error(app).startswith(f"{app / 'a.agent.md'}:{expected}")


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        (
            "trigger: daily",
            "5: error: trigger: expected a mapping such as {type: timer_trigger, args: {schedule: ...}}, got 'daily'",
        ),
        (
            "trigger:\n  args: {}",
            "5: error: trigger.type: required: expected a trigger type such as timer_trigger",
        ),
        (
            "trigger:\n  type: cron",
            "6: error: trigger.type: unknown trigger type 'cron'; expected one of: timer_trigger, queue_trigger, "
            "blob_trigger, http_trigger, or one that runs on Azure Functions only: event_grid_trigger,",
        ),
        (
            "trigger:\n  type: teams.new_channel_message_trigger",
            "6: error: trigger.type: 'teams.new_channel_message_trigger' cannot trigger an agent: dotted connector "
            "trigger names are not resolved; use connector_trigger",
        ),
        (
            "trigger:\n  type: orchestration_trigger",
            "6: error: trigger.type: 'orchestration_trigger' cannot trigger an agent: Durable Functions triggers",
        ),
        (
            "trigger:\n  type: queue_trigger\n  args:\n    queue_name: orders\n    arg_name: msg",
            "9: error: trigger.args.arg_name: set by the runtime (`trigger_data`); remove it",
        ),
        (
            "trigger:\n  type: timer_trigger\n  args: {}",
            "7: error: trigger.args.schedule: required: expected an NCRONTAB schedule",
        ),
        (
            "trigger:\n  type: timer_trigger\n  args:\n    schedule: every day",
            "8: error: trigger.args.schedule: invalid schedule 'every day': expected an NCRONTAB schedule",
        ),
        (
            "trigger:\n  type: timer_trigger\n  args:\n    schedule: '0 0 25 * * *'",
            "8: error: trigger.args.schedule: invalid schedule '0 0 25 * * *'",
        ),
        (
            "trigger:\n  type: timer_trigger\n  args:\n    schedule: '0 0 9 * * *'\n    run_on_startup: sometimes",
            "9: error: trigger.args.run_on_startup: expected true or false, got 'sometimes'",
        ),
        (
            "trigger:\n  type: timer_trigger\n  schedule: '0 0 9 * * *'\n  args: {}",
            "7: error: trigger.schedule: give trigger arguments either under `args:` or next to `type:`, not both",
        ),
        (
            "trigger:\n  type: queue_trigger\n  args:\n    queue_name: Orders_Q",
            "8: error: trigger.args.queue_name: invalid queue name 'Orders_Q': expected 3-63 lowercase letters, digits and single hyphens",
        ),
        (
            "trigger:\n  type: blob_trigger\n  args:\n    path: uploads",
            "8: error: trigger.args.path: invalid blob path 'uploads': expected 'container/pattern'",
        ),
        (
            "trigger:\n  type: blob_trigger\n  args:\n    path: a/{name}\n    source: Polling",
            "9: error: trigger.args.source: expected one of LogsAndContainerScan, EventGrid, got 'Polling'",
        ),
        (
            "trigger:\n  type: http_trigger\n  args:\n    route: r\n    methods: [POST, FETCH]",
            "9: error: trigger.args.methods[1]: expected one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, got 'FETCH'",
        ),
        (
            "trigger:\n  type: http_trigger\n  args:\n    route: r\n    auth_level: public",
            "9: error: trigger.args.auth_level: expected one of anonymous, function, admin, got 'public'",
        ),
    ],
)
def test_trigger_diagnostics(make_app: MakeApp, trigger: str, expected: str) -> None:
    app = make_app({"a.agent.md": agent_md(BASE + trigger)})
    assert one_error(app).startswith(f"{app / 'a.agent.md'}:{expected}")


def test_front_matter_shape_errors(make_app: MakeApp) -> None:
    app = make_app(
        {
            "none.agent.md": "Just instructions, no front matter.\n",
            "open.agent.md": "---\nname: n\ndescription: d\n",
            "empty.agent.md": "---\n---\nbody\n",
        }
    )
    assert errors(problems_of(app)) == [
        f"{app / 'empty.agent.md'}:2: error: name: required: expected the display name (a string)",
        f"{app / 'empty.agent.md'}:2: error: description: required: expected what the agent does (a string)",
        f"{app / 'none.agent.md'}:1: error: expected YAML front matter: a first line '---', keys such as "
        "`name:` and `description:`, then a closing '---' line, then the instructions",
        f"{app / 'open.agent.md'}:1: error: the front matter opened here is never closed: expected a '---' line after it",
    ]


def test_yaml_error_line_is_the_file_line(make_app: MakeApp) -> None:
    text = "---\nname: n\ndescription: d\nmetadata:\n  a: 1\n   b: 2\n---\nbody\n"
    app = make_app({"a.agent.md": text})
    assert one_error(app).startswith(
        f"{app / 'a.agent.md'}:6: error: invalid YAML: mapping values are not allowed here"
    )


def test_unknown_subagent_with_suggestion(make_app: MakeApp) -> None:
    coordinator = agent_md(BASE + "subagents:\n  - agent: biling\n    when: invoices")
    app = make_app({"coord.agent.md": coordinator, "billing.agent.md": MINIMAL})
    assert one_error(app) == (
        f"{app / 'coord.agent.md'}:6: error: subagents: unknown agent 'biling' (did you mean 'billing'?); "
        "expected the slug of an agent file of this app (billing, coord)"
    )


def test_duplicate_subagent(make_app: MakeApp) -> None:
    coordinator = agent_md(BASE + "subagents:\n  - agent: b\n  - agent: b")
    app = make_app({"a.agent.md": coordinator, "b.agent.md": MINIMAL})
    assert (
        one_error(app)
        == f"{app / 'a.agent.md'}:7: error: subagents[1].agent: 'b' is already listed at line 6"
    )


def test_reference_to_a_broken_agent_is_not_also_unknown(make_app: MakeApp) -> None:
    app = make_app(
        {"a.agent.md": agent_md(BASE + "subagents:\n  - agent: b"), "b.agent.md": agent_md("name: [")}
    )
    assert [p.file.name for p in problems_of(app).errors] == ["b.agent.md"]


def test_config_file_diagnostics(make_app: MakeApp) -> None:
    config = "model: 4\ntimeout: 0\ntools:\n  include: [x]\nhttp_auth: nobody\nretries: 3\nagent_configuration:\n  max_output_tokens: many\n"
    app = make_app({"agents.config.yaml": config, "a.agent.md": MINIMAL})
    path = app / "agents.config.yaml"
    assert errors(problems_of(app)) == [
        f"{path}:6: error: retries: unknown key 'retries' in agents.config.yaml; expected one of: model, timeout, "
        "tools, http_auth, system_tools, agent_configuration, structured_output, sdk_mode, queue_tools, knowledge",
        f"{path}:4: error: tools.include: unknown key 'include' in tools (did you mean 'exclude'?); expected one of: exclude",
        f"{path}:1: error: model: expected a model (deployment) name, got 4",
        f"{path}:2: error: timeout: expected a positive number of seconds, got 0",
        f"{path}:5: error: http_auth: expected one of function, admin, anonymous, entra, got 'nobody'",
        f"{path}:8: error: agent_configuration.max_output_tokens: expected a positive whole number of tokens, got 'many'",
    ]


def test_config_yaml_error(make_app: MakeApp) -> None:
    app = make_app({"agents.config.yaml": "model: gpt\n  timeout: 3\n", "a.agent.md": MINIMAL})
    assert one_error(app).startswith(f"{app / 'agents.config.yaml'}:2: error: invalid YAML")


def test_bad_timeout_environment_variable(make_app: MakeApp) -> None:
    app = make_app({"a.agent.md": MINIMAL})
    assert errors(problems_of(app, {"AGENTDOWN_TIMEOUT_SECONDS": "soon"})) == [
        f"{app}: error: environment variable AGENTDOWN_TIMEOUT_SECONDS: expected a positive number of seconds, got 'soon'"
    ]


def test_warnings_do_not_stop_loading(make_app: MakeApp) -> None:
    front = (
        "name: n\ndescription: d\nruntime: maf\nagent_configuration:\n  agent_framework:\n    compaction: {}"
    )
    app = make_app({"a.agent.md": agent_md(front, body="")})
    catalog = load_app(app, environ={"OPENAI_API_KEY": "k"})
    assert messages(catalog.problems) == [  # type: ignore[arg-type]
        f"{app / 'a.agent.md'}:4: warning: runtime: agentdown has a single agent loop; `runtime` is ignored",
        f"{app / 'a.agent.md'}:9: warning: the agent has no instructions: write them below the front matter",
        f"{app / 'a.agent.md'}:6: warning: agent_configuration.agent_framework: Microsoft Agent Framework "
        "settings (compaction) are accepted but not applied by agentdown",
        f"{app / 'a.agent.md'}:1: warning: the agent has no trigger, no builtin_endpoints and no agent "
        "delegates to it: only `agentdown run` and the Agents API can reach it (add `builtin_endpoints: true` "
        "or a trigger)",
    ]


def test_unknown_trigger_arguments_warn_unless_they_misspell_a_missing_required_one(
    make_app: MakeApp,
) -> None:
    passed_through = (
        "Azure Functions passes it to the trigger as a binding property; agentdown does not use it"
    )
    ok = make_app(
        {
            "a.agent.md": agent_md(
                BASE + "trigger:\n  type: queue_trigger\n  args:\n    queue_name: q-1\n    batch: 4"
            )
        }
    )
    assert messages(problems_of(ok)) == [
        f"{ok / 'a.agent.md'}:9: warning: trigger.args.batch: unknown key 'batch' in queue_trigger arguments; "
        f"expected one of: queue_name, connection; {passed_through}"
    ]
    typo = make_app(
        {"a.agent.md": agent_md(BASE + "trigger:\n  type: queue_trigger\n  args:\n    queue: q-1")}
    )
    assert errors(problems_of(typo)) == [
        f"{typo / 'a.agent.md'}:8: error: trigger.args.queue: unknown key 'queue' in queue_trigger arguments "
        "(did you mean 'queue_name'?); expected one of: queue_name, connection",
        f"{typo / 'a.agent.md'}:7: error: trigger.args.queue_name: required: expected the queue name, e.g. 'orders'",
    ]
