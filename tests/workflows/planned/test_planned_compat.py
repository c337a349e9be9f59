"""Plans the Azure Functions agents runtime accepts are accepted; what it rejects is rejected, alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from planned_fixtures import FIXTURES, load_fixture

from agentdown.workflows.planned import PlanPolicy, PlanValidationError, parse_start_workflow
from agentdown.workflows.planned.plan import MAX_NODES
from agentdown.workflows.planned.schema import start_workflow_schema

NOW = datetime(2026, 7, 24, 12, 0, tzinfo=UTC)
POLICY = PlanPolicy(frozenset({"__echo"}), frozenset({"pr_status_analyst", "report_writer"}))
COMPAT = PlanPolicy(POLICY.allowed_tools, POLICY.allowed_subagents, extensions=False)
THEIR_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.startswith("agentdown_"))


def _task(
    tid: str, depends_on: list[str] | None = None, args: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": tid,
        "type": "tool",
        "tool": "__echo",
        "args": args or {},
        "depends_on": depends_on or [],
        **extra,
    }


def _wait(tid: str, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "type": "wait", **extra}


def _sub(tid: str, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "type": "sub_agent", "agent": "pr_status_analyst", "task": "Analyze one PR.", **extra}


def _check(tasks: list[dict[str, Any]], policy: PlanPolicy = COMPAT) -> Any:
    return parse_start_workflow({"tasks": tasks}, policy, now=NOW)


@pytest.mark.parametrize("name", THEIR_FIXTURES)
@pytest.mark.parametrize("extensions", [True, False])
def test_every_plan_of_their_docs_samples_and_tests_is_accepted(name: str, extensions: bool) -> None:
    data = load_fixture(name)
    policy = PlanPolicy(
        frozenset(data["_policy"]["tools"]), frozenset(data["_policy"]["subagents"]), extensions
    )
    plan = parse_start_workflow(data, policy, now=NOW)
    assert [t.id for t in plan.tasks] == [t["id"] for t in data["tasks"]]
    assert all(t.type in ("tool", "wait", "sub_agent") for t in plan.tasks)


def test_a_plan_at_the_node_limit_and_wider_than_the_parallelism_cap_is_accepted() -> None:
    # Their cap of 10 is a runtime cap (waves), not a validation rule: 50 roots validate there.
    assert len(_check([_task(f"n{i}") for i in range(MAX_NODES)]).tasks) == MAX_NODES


@pytest.mark.parametrize(
    ("tasks", "phrase"),
    [
        ([_task("a"), _task("a")], "duplicate task id"),
        ([_task("a", tool="not_a_real_tool")], "not workflow-safe"),
        ([_task("a", tool="start_workflow")], "not workflow-safe"),
        ([_task("a", type="bogus")], "not supported"),
        ([_task(f"t{i}") for i in range(MAX_NODES + 1)], "per-plan limit"),
        ([{"id": "a", "type": "sub_agent", "task": "x"}], "'agent' field is required"),
        ([_sub("a", agent="")], "'agent' field is required"),
        ([_sub("a", task="")], "'task' field is required"),
        ([_sub("a", task=42)], "does not match schema"),
        ([_sub("a", agent="untrusted")], "not authorized"),
        ([_sub("a", tool="__echo")], "not valid on type=sub_agent"),
        ([_sub("a", args={})], "not valid on type=sub_agent"),
        ([_sub("a", duration="PT1S")], "not valid on type=sub_agent"),
        ([_sub("a", until="2026-07-24T00:00:00Z")], "not valid on type=sub_agent"),
        ([_task("a", agent="analyst")], "only valid on type=sub_agent"),
        ([_wait("a", duration="PT1S", task="work")], "only valid on type=sub_agent"),
        ([_task("a", depends_on=["a"])], "cannot reference itself"),
        ([_task("a", depends_on=["ghost"])], "unknown task"),
        ([_task("a"), _task("b", depends_on=["a", "a"])], "duplicate dependency"),
        ([_task("a", depends_on=["b"]), _task("b", depends_on=["a"])], "dependency cycle"),
        (
            [_task("a", depends_on=["c"]), _task("b", depends_on=["a"]), _task("c", depends_on=["b"])],
            "dependency cycle",
        ),
        ([_task("root"), _task("x", depends_on=["y"]), _task("y", depends_on=["x"])], "dependency cycle"),
        ([_task("a"), _task("b", depends_on=["a"], args={"x": "${ghost.result}"})], "unknown task"),
        (
            [_task("a"), _task("b"), _task("c", depends_on=["b"], args={"x": "${a.result}"})],
            "not an upstream dependency",
        ),
        (
            [_task("r"), _task("l", ["r"]), _task("s", ["r"], {"x": "${l.result}"})],
            "not an upstream dependency",
        ),
        ([_task("a"), _task("b", depends_on=["a"], args={"x": "${a}"})], "malformed template"),
        ([_task("a"), _task("b", depends_on=["a"], args={"x": "${a.result..msg}"})], "malformed template"),
        ([_task("a"), _task("b", depends_on=["a"], args={"x": "${a.result.echoed.}"})], "malformed template"),
        (
            [_task("a"), _task("b", depends_on=["a"], args={"x": "${a.result} and ${a}"})],
            "malformed template",
        ),
        ([_task("a"), _task("b", depends_on=["a"], args={"x": "${a.result"})], "unterminated template"),
        ([_task("load"), _sub("s", task="Analyze ${load}.", depends_on=["load"])], "malformed template"),
        (
            [_task("load"), _sub("p"), _sub("s", task="Analyze ${p.result}.", depends_on=["load"])],
            "not an upstream",
        ),
        ([_wait("p")], "exactly one of"),
        ([_wait("p", duration="PT30S", until="2026-07-24T13:00:00Z")], "exactly one of"),
        ([_wait("p", tool="__echo", duration="PT30S")], "'tool' is not valid"),
        ([_wait("p", duration="PT30S", args={"x": 1})], "'args' is not valid"),
        ([_task("a", duration="PT30S")], "only valid on type=wait"),
        ([_wait("p", duration="PT0S")], "must be positive"),
        ([_wait("p", duration="P2D")], "exceeds the maximum"),
        ([_wait("p", duration="30s")], "invalid duration"),
        ([_wait("p", duration="P1DT")], "invalid duration"),
        ([_wait("p", duration="P1000000000D")], "invalid duration"),
        ([_wait("p", until="2026-07-24T13:00:00")], "invalid until"),
        ([_wait("p", until="2099-01-01T00:00:00Z")], "more than"),
        ([_task("")], "does not match schema"),
        ([{"id": 42, "type": "tool", "tool": "__echo"}], "does not match schema"),
        ([_task("a", when="true")], "extra inputs are not permitted"),
        ([_task("a", retry={"max_attempts": 2})], "extra inputs are not permitted"),
        ([_task("a", surprise=1)], "does not match schema"),
        # Their start_workflow arguments close each task type's object, even to empty or null fields.
        ([_wait("p", duration="PT30S", args={})], "'args' is not valid on type=wait"),
        ([_wait("p", duration="PT30S", tool=None)], "'tool' is not valid on type=wait"),
        ([_task("a", until=None)], "'until' is not valid on type=tool"),
    ],
)
def test_what_they_reject_is_rejected_with_their_key_phrase(tasks: list[dict[str, Any]], phrase: str) -> None:
    with pytest.raises(PlanValidationError, match=phrase):
        _check(tasks)


def test_an_empty_or_missing_task_list_is_rejected() -> None:
    for arguments in ({"tasks": []}, {}, {"tasks": "a"}, []):
        with pytest.raises(PlanValidationError, match="tasks"):
            parse_start_workflow(arguments, COMPAT, now=NOW)


def test_until_within_the_horizon_and_in_the_past_is_accepted() -> None:
    soon = (NOW + timedelta(hours=1)).isoformat()
    assert _check([_wait("p", until=soon)]).tasks[0].until == soon
    assert _check([_wait("q", until="2000-01-01T00:00:00Z")]).tasks[0].until == "2000-01-01T00:00:00Z"


def test_every_problem_is_reported_at_once_with_task_and_field() -> None:
    with pytest.raises(PlanValidationError) as caught:
        _check(
            [
                _task("a", tool="nope"),
                _task("b", depends_on=["ghost"]),
                _wait("c", duration="soon"),
                _sub("d", agent="stranger"),
            ]
        )
    found = {(e.task, e.field) for e in caught.value.errors}
    assert found == {("a", "tool"), ("b", "depends_on"), ("c", "duration"), ("d", "agent")}
    assert str(caught.value).startswith("4 problems: task 'a': tool 'nope' is not workflow-safe")


def test_the_cycle_is_named() -> None:
    with pytest.raises(PlanValidationError) as caught:
        _check([_task("root"), _task("a", ["root", "c"]), _task("b", ["a"]), _task("c", ["b"])])
    assert "plan contains a dependency cycle: a -> c -> b -> a" in str(caught.value)


def test_the_advertised_schema_has_their_shape() -> None:
    schema = start_workflow_schema(extensions=False)
    assert schema["required"] == ["tasks"]
    assert schema["properties"]["tasks"]["minItems"] == 1
    defs = schema["$defs"]
    assert set(defs["ToolTask"]["properties"]) == {"id", "depends_on", "type", "tool", "args"}
    assert defs["ToolTask"]["required"] == ["id", "tool"]
    assert set(defs["WaitTask"]["properties"]) == {"id", "depends_on", "type", "duration", "until"}
    assert set(defs["SubAgentTask"]["properties"]) == {"id", "depends_on", "type", "agent", "task"}
    assert defs["SubAgentTask"]["required"] == ["id", "type", "agent", "task"]
    assert all(d["additionalProperties"] is False for d in defs.values())
    extended = start_workflow_schema()["$defs"]
    assert {"when", "for_each", "retry", "timeout", "continue_on_error", "max_parallelism"} <= set(
        extended["ToolTask"]["properties"]
    )
    assert set(extended["WaitTask"]["properties"]) - set(defs["WaitTask"]["properties"]) == {"when"}
