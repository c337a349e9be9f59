"""The scheduler: a full incident-triage run, retries, timeouts, fan-out, replays, cancellation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from planned_fixtures import load_fixture
from planned_runner import HANG, ToyRunner, fail

from agentdown.workflows.planned import (
    Finish,
    PlanPolicy,
    PlanState,
    RunSubAgent,
    RunTool,
    StartTimer,
    TaskFailure,
    cancel,
    on_result,
    on_timer,
    parse_start_workflow,
    start,
    status_envelope,
    task_progress,
    terminate,
)
from agentdown.workflows.planned.plan import Plan

T0 = datetime(2026, 7, 24, 12, 0, tzinfo=UTC)
ANY_TOOL = PlanPolicy(frozenset({"t", "u", "slow", "flaky"}), frozenset({"analyst"}))


def _plan(*tasks: dict[str, Any]) -> Plan:
    return parse_start_workflow({"tasks": list(tasks)}, ANY_TOOL, now=T0)


def _t(tid: str, depends_on: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "tool": extra.pop("tool", "t"), "depends_on": depends_on or [], **extra}


def _triage() -> Plan:
    data = load_fixture("agentdown_incident_triage.json")
    policy = PlanPolicy(frozenset(data["_policy"]["tools"]), frozenset(data["_policy"]["subagents"]))
    return parse_start_workflow(data, policy, now=T0)


def _triage_script(key: str, what: str, payload: Any, attempt: int) -> Any:
    if key == "services":
        return (
            fail("directory unavailable")
            if attempt == 1
            else {"names": ["api", "db", "web"], "incident": "INC-7"}
        )
    if key == "logs":
        return HANG if attempt == 1 else {"lines": ["E1 boom", "E2 bang"]}
    if key == "metrics":
        return fail("metrics backend down")
    if key == "deploys":
        return {"recent": False, "last": "v41"}
    if key.startswith("per_service["):
        return {"service": payload["service"], "incident": payload["incident"]}
    if key == "analyst":
        return f"first error in {payload}"
    if key == "summary":
        return {"summary": "ok", "seen": payload}
    raise AssertionError(key)


def test_an_incident_triage_plan_runs_to_completion() -> None:
    state, actions = start(_triage(), T0, workflow_id="wf-1")
    assert [a.task_key for a in actions if isinstance(a, RunTool)] == [
        "deploys",
        "logs",
        "metrics",
        "services",
    ]
    assert state.custom_status == "0/9 tasks done, running=deploys,logs,metrics,services"
    runner = ToyRunner(_triage_script, T0)
    state = runner.run(state, actions)

    assert runner.finished is not None and runner.finished.status == "Completed"
    assert state.runtime_status == "Completed" and state.custom_status == "9/9 tasks done"
    results = state.output["results"]
    # The retry after a failure and the retry after a timeout each took a second attempt.
    assert ("services", "list_services", 2) in runner.log and ("logs", "fetch_logs", 2) in runner.log
    assert state.units["services"].attempts == 2 and state.units["logs"].attempts == 2
    # continue_on_error: the failure leaves a null, the workflow goes on.
    assert state.tasks["metrics"].status == "failed" and results["metrics"] is None
    assert state.tasks["metrics"].error == "metrics backend down"
    # when false: skipped, and its dependent still runs with a null result.
    assert state.tasks["rollback"].status == "skipped" and results["rollback"] is None
    # for_each: one execution per element, in order, at most max_parallelism at once.
    assert results["per_service"] == [{"service": s, "incident": "INC-7"} for s in ("api", "db", "web")]
    assert runner.max_per_task["per_service"] == 2
    # sub_agent: the answer comes back in the other runtime's {agent, text} envelope.
    assert results["analyst"] == {
        "agent": "log_analyst",
        "text": 'first error in Find the first error in: ["E1 boom", "E2 bang"]',
    }
    # The wait really waited.
    settle = state.units["settle"]
    assert settle.finished_time is not None and settle.started_time is not None
    assert settle.finished_time - settle.started_time == timedelta(seconds=30)
    seen = results["summary"]["seen"]
    assert seen["metrics"] is None and seen["rollback"] is None and seen["analysis"].startswith("first error")
    assert runner.max_running <= 10
    envelope = status_envelope(state)
    assert list(envelope) == [
        "workflow_id",
        "runtime_status",
        "custom_status",
        "output",
        "created_time",
        "last_updated_time",
    ]
    assert envelope["workflow_id"] == "wf-1" and envelope["output"] == state.output
    progress = {p["id"]: p for p in task_progress(state)}
    assert progress["per_service"]["elements"] == 3 and progress["logs"]["attempts"] == 2
    json.dumps(envelope)


def test_retry_delays_grow_and_are_capped() -> None:
    plan = _plan(
        _t(
            "a",
            retry={
                "max_attempts": 5,
                "first_interval": "PT5S",
                "backoff_coefficient": 2,
                "max_interval": "PT15S",
            },
        )
    )
    state, _ = start(plan, T0)
    dues: list[timedelta] = []
    now = T0
    for attempt in range(1, 5):
        state, actions = on_result(state, "a", TaskFailure("nope"), now, attempt=attempt)
        (timer,) = actions
        assert isinstance(timer, StartTimer)
        dues.append(timer.due - now)
        state, actions = on_timer(state, "a", timer.due)
        now = timer.due
        assert actions == [RunTool("a", "t", {}, attempt + 1)]
    assert dues == [timedelta(seconds=s) for s in (5, 10, 15, 15)]
    state, actions = on_result(state, "a", TaskFailure("still no"), now, attempt=5)
    assert state.runtime_status == "Failed" and state.output == "task 'a': still no"
    assert actions == [Finish("Failed", "failed at 1/1 tasks done", "task 'a': still no")]


def test_a_failure_without_continue_on_error_fails_the_workflow_and_cancels_the_rest() -> None:
    state, _ = start(_plan(_t("a"), _t("b"), _t("c", ["a"])), T0)
    state, actions = on_result(state, "a", TaskFailure("task 'a': workflow-safe tool failed"), T0)
    assert [type(a) for a in actions] == [Finish]
    assert state.runtime_status == "Failed"
    assert state.tasks["b"].status == "cancelled" and state.tasks["c"].status == "cancelled"
    assert on_result(state, "b", {"late": True}, T0) == (state, [])


def test_a_timeout_without_retry_fails_and_a_late_result_is_ignored() -> None:
    state, actions = start(_plan(_t("slow", tool="slow", timeout="PT10S")), T0)
    assert actions == [RunTool("slow", "slow", {}, 1), StartTimer("slow", T0 + timedelta(seconds=10))]
    assert on_timer(state, "slow", T0 + timedelta(seconds=9)) == (state, [])  # not due yet
    state, actions = on_timer(state, "slow", T0 + timedelta(seconds=10))
    assert state.runtime_status == "Failed" and "timed out after PT10S" in state.output
    assert on_result(state, "slow", {"too": "late"}, T0 + timedelta(seconds=11)) == (state, [])


def test_a_stale_attempt_and_a_stale_timer_are_ignored() -> None:
    plan = _plan(_t("a", timeout="PT10S", retry={"max_attempts": 2, "first_interval": "PT1S"}))
    state, _ = start(plan, T0)
    state, _ = on_timer(state, "a", T0 + timedelta(seconds=10))  # attempt 1 timed out
    state, actions = on_timer(state, "a", T0 + timedelta(seconds=11))  # retry due
    assert actions[0] == RunTool("a", "t", {}, 2)
    assert on_result(state, "a", {"from": "attempt 1"}, T0 + timedelta(seconds=12), attempt=1) == (state, [])
    # The first attempt's timeout timer firing again changes nothing (the new one is due later).
    assert on_timer(state, "a", T0 + timedelta(seconds=12)) == (state, [])
    state, actions = on_result(state, "a", {"from": "attempt 2"}, T0 + timedelta(seconds=13), attempt=2)
    assert state.output == {"results": {"a": {"from": "attempt 2"}}}


def test_replaying_the_same_input_is_idempotent() -> None:
    state, _ = start(_plan(_t("a"), _t("b", ["a"])), T0)
    once, actions = on_result(state, "a", {"n": 1}, T0)
    assert actions == [RunTool("b", "t", {}, 1)]
    twice, again = on_result(once, "a", {"n": 2}, T0 + timedelta(seconds=5))
    assert again == [] and twice == once and twice.tasks["a"].result == {"n": 1}
    assert on_result(once, "ghost", {}, T0) == (once, [])
    assert on_timer(once, "a", T0 + timedelta(days=1)) == (once, [])
    # Side-effect free: the input state was not touched.
    assert state.tasks["a"].status == "running" and state.units["a"].result is None


def test_the_state_survives_json_between_any_two_steps() -> None:
    plan = _triage()
    direct, _ = start(plan, T0)
    reloaded = PlanState.model_validate_json(direct.model_dump_json())
    assert reloaded == direct
    a, actions_a = on_result(direct, "deploys", {"recent": True}, T0)
    b, actions_b = on_result(reloaded, "deploys", {"recent": True}, T0)
    assert a == b and actions_a == actions_b
    assert RunTool("rollback", "check_rollback", {}, 1) in actions_a


def test_scheduling_is_deterministic_and_capped_at_ten() -> None:
    plan = _plan(*[_t(f"n{i:02d}") for i in range(15)])
    state, actions = start(plan, T0)
    assert start(plan, T0) == (state, actions)
    assert [a.task_key for a in actions if isinstance(a, RunTool)] == [f"n{i:02d}" for i in range(10)]
    state, actions = on_result(state, "n03", {}, T0)
    assert actions == [RunTool("n10", "t", {}, 1)]
    assert state.custom_status.startswith("1/15 tasks done, running=n00,n01,n02,n04")


def test_for_each_edge_cases() -> None:
    plan = _plan(_t("src"), _t("each", ["src"], for_each="${src.result}", args={"x": "${item}"}))
    for value, status, fragment in [
        ([], "Completed", None),
        ({"not": "a list"}, "Failed", "for_each must resolve to a list, got dict"),
        (list(range(51)), "Failed", "the limit is 50"),
    ]:
        state, _ = start(plan, T0)
        state, _ = on_result(state, "src", value, T0)
        assert state.runtime_status == status
        if fragment:
            assert fragment in state.output
    state, _ = start(plan, T0)
    state, actions = on_result(state, "src", ["a", "b"], T0)
    assert actions[:2] == [RunTool("each[0]", "t", {"x": "a"}, 1), RunTool("each[1]", "t", {"x": "b"}, 1)]
    state, _ = on_result(state, "each[1]", "B", T0)
    state, actions = on_result(state, "each[0]", "A", T0)
    assert state.output["results"]["each"] == ["A", "B"]


def test_a_failing_element_fails_its_for_each_unless_continue_on_error() -> None:
    base = {"for_each": "${src.result}", "args": {"x": "${item}"}}
    for keep_going in (False, True):
        plan = _plan(_t("src"), _t("each", ["src"], continue_on_error=keep_going, **base))
        state, _ = start(plan, T0)
        state, _ = on_result(state, "src", [1, 2], T0)
        state, _ = on_result(state, "each[0]", TaskFailure("bad element"), T0)
        if not keep_going:
            assert state.runtime_status == "Failed" and state.units["each[1]"].status == "cancelled"
            continue
        state, _ = on_result(state, "each[1]", "ok", T0)
        assert state.runtime_status == "Completed" and state.output["results"]["each"] == [None, "ok"]


def test_unresolvable_references_and_conditions_fail_the_task_deterministically() -> None:
    state, _ = start(_plan(_t("a"), _t("b", ["a"], args={"x": "${a.result.missing}"})), T0)
    state, _ = on_result(state, "a", {"present": 1}, T0)
    assert state.runtime_status == "Failed" and "key not present" in state.output
    state, _ = start(_plan(_t("a"), _t("b", ["a"], when="${a.result} < 3")), T0)
    state, _ = on_result(state, "a", "text", T0)
    assert state.runtime_status == "Failed" and "compares two numbers or two strings" in state.output


def test_skips_cascade_through_conditions_in_one_step() -> None:
    plan = _plan(
        _t("a"),
        _t("b", ["a"], when="${a.result.go}"),
        _t("c", ["b"], when="${b.result} != null"),
        _t("d", ["c"]),
    )
    state, _ = start(plan, T0)
    state, actions = on_result(state, "a", {"go": False}, T0)
    assert [t.status for t in state.tasks.values()] == ["succeeded", "skipped", "skipped", "running"]
    assert actions == [RunTool("d", "t", {}, 1)]


def test_waits_and_sub_agents() -> None:
    plan = _plan(
        {"id": "past", "type": "wait", "until": "2000-01-01T00:00:00Z"},
        {
            "id": "ask",
            "type": "sub_agent",
            "agent": "analyst",
            "task": "Say ${past.result.waited_until}",
            "depends_on": ["past"],
        },
    )
    state, actions = start(plan, T0)
    assert actions == [StartTimer("past", datetime(2000, 1, 1, tzinfo=UTC))]
    assert on_result(state, "past", {"forged": True}, T0) == (state, [])  # a wait ends by its timer only
    state, actions = on_timer(state, "past", T0)
    assert actions == [RunSubAgent("ask", "analyst", "Say 2000-01-01T00:00:00+00:00", 1)]
    state, actions = on_result(state, "ask", {"agent": "analyst", "text": "hi"}, T0)
    assert state.output["results"]["ask"] == {"agent": "analyst", "text": "hi"}


def test_a_result_that_is_not_json_fails_the_task() -> None:
    state, _ = start(_plan(_t("a")), T0)
    state, _ = on_result(state, "a", {"when": T0}, T0)
    assert state.runtime_status == "Failed" and "not JSON-serializable" in state.output


def test_cancel_keeps_partial_results_and_stops_everything() -> None:
    plan = _plan(
        _t("a"), _t("b"), {"id": "w", "type": "wait", "duration": "PT1H", "depends_on": ["a"]}, _t("c", ["w"])
    )
    state, _ = start(plan, T0)
    state, _ = on_result(state, "a", {"ok": 1}, T0)
    state, actions = cancel(state, T0 + timedelta(seconds=5), reason="user changed their mind")
    assert actions == [
        Finish(
            "Canceled",
            "canceled at 1/4 tasks done",
            {
                "results": {"a": {"ok": 1}},
                "canceled": True,
                "reason": "user changed their mind",
                "completed_count": 1,
                "total_count": 4,
            },
        )
    ]
    assert {t.status for tid, t in state.tasks.items() if tid != "a"} == {"cancelled"}
    assert status_envelope(state)["runtime_status"] == "Canceled"
    assert cancel(state, T0) == (state, []) and terminate(state, T0) == (state, [])
    assert on_timer(state, "w", T0 + timedelta(hours=2)) == (state, [])
    assert on_result(state, "b", {}, T0) == (state, [])


def test_terminate_stops_at_once_with_only_the_reason() -> None:
    state, _ = start(_plan(_t("a")), T0)
    state, actions = terminate(state, T0)
    assert actions == [Finish("Terminated", "terminated at 0/1 tasks done", "terminated by agent")]
    assert state.units["a"].status == "cancelled"
    envelope = status_envelope(state)
    assert envelope["runtime_status"] == "Terminated" and envelope["output"] == "terminated by agent"


@pytest.mark.parametrize(
    "name", ["docs_dag_schema.json", "sample_incident_triage.json", "docs_subagents.json"]
)
def test_their_plans_run_in_their_order(name: str) -> None:
    data = load_fixture(name)
    policy = PlanPolicy(
        frozenset(data["_policy"]["tools"]), frozenset(data["_policy"]["subagents"]), extensions=False
    )
    state, actions = start(parse_start_workflow(data, policy, now=T0), T0)
    runner = ToyRunner(lambda key, what, payload, attempt: f"{what} did {key}", T0)
    state = runner.run(state, actions)
    assert state.runtime_status == "Completed"
    assert set(state.output["results"]) == {t["id"] for t in data["tasks"]}
