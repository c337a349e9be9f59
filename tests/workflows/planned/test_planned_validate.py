"""Validation of agentdown's extensions: when, for_each, retry, timeout, continue_on_error, limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from planned_fixtures import load_fixture

from agentdown.workflows.planned import PlanPolicy, PlanValidationError, parse_start_workflow, validate_plan

NOW = datetime(2026, 7, 24, 12, 0, tzinfo=UTC)
POLICY = PlanPolicy(frozenset({"t"}), frozenset({"analyst"}))


def _t(tid: str, depends_on: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "tool": "t", "depends_on": depends_on or [], **extra}


def _errors(tasks: list[dict[str, Any]]) -> list[tuple[str | None, str | None, str]]:
    with pytest.raises(PlanValidationError) as caught:
        parse_start_workflow({"tasks": tasks}, POLICY, now=NOW)
    return [(e.task, e.field, e.message) for e in caught.value.errors]


def test_the_extended_incident_triage_plan_is_accepted() -> None:
    data = load_fixture("agentdown_incident_triage.json")
    policy = PlanPolicy(frozenset(data["_policy"]["tools"]), frozenset(data["_policy"]["subagents"]))
    plan = parse_start_workflow(data, policy, now=NOW)
    assert plan.task("per_service").for_each == "${services.result.names}"
    assert plan.task("logs").retry is not None and plan.task("logs").retry.max_attempts == 2
    with pytest.raises(PlanValidationError, match="extra inputs are not permitted"):
        parse_start_workflow(
            data, PlanPolicy(policy.allowed_tools, policy.allowed_subagents, extensions=False)
        )


@pytest.mark.parametrize(
    ("tasks", "where", "phrase"),
    [
        ([_t("a", when="${a.result} ==")], ("a", "when"), "invalid when"),
        ([_t("a", when="__import__('os')")], ("a", "when"), "unknown name '__import__'"),
        ([_t("a"), _t("b", when="${a.result.ok}")], ("b", "when"), "not an upstream dependency"),
        ([_t("b", when="${ghost.result}")], ("b", "when"), "unknown task 'ghost'"),
        (
            [_t("a"), _t("b", ["a"], when="${item} == 1", for_each="${a.result}")],
            ("b", "when"),
            "not available in 'when'",
        ),
        ([_t("a", for_each="[1, 2]")], ("a", "for_each"), "one reference to an upstream list"),
        ([_t("a"), _t("b", ["a"], for_each="x ${a.result}")], ("b", "for_each"), "one reference"),
        ([_t("a", for_each="${item}")], ("a", "for_each"), "one reference"),
        ([_t("a"), _t("b", for_each="${a.result.items}")], ("b", "for_each"), "not an upstream dependency"),
        ([_t("a", args={"x": "${item.name}"})], ("a", "args.x"), "only valid in a for_each task"),
        ([_t("a", max_parallelism=2)], ("a", "max_parallelism"), "only valid with 'for_each'"),
        (
            [_t("a"), _t("b", ["a"], for_each="${a.result}", max_parallelism=11)],
            ("b", "max_parallelism"),
            "between 1 and 10",
        ),
        ([_t("a", retry={"max_attempts": 11})], ("a", "retry.max_attempts"), "exceeds the maximum of 10"),
        ([_t("a", retry={"max_attempts": 0})], ("a", "retry.max_attempts"), "greater than or equal to 1"),
        (
            [_t("a", retry={"first_interval": "5s"})],
            ("a", "retry.first_interval"),
            "invalid retry.first_interval",
        ),
        ([_t("a", retry={"max_interval": "P2D"})], ("a", "retry.max_interval"), "exceeds the maximum"),
        ([_t("a", retry={"jitter": True})], ("a", "retry.jitter"), "Extra inputs are not permitted"),
        ([_t("a", timeout="PT0S")], ("a", "timeout"), "must be positive"),
        ([_t("a", timeout="P2D")], ("a", "timeout"), "exceeds the maximum"),
        ([_t("a", timeout="1 minute")], ("a", "timeout"), "invalid timeout"),
        (
            [{"id": "w", "type": "wait", "duration": "PT1S", "retry": {}}],
            ("w", "retry"),
            "only valid on type=tool",
        ),
        (
            [{"id": "w", "type": "wait", "duration": "PT1S", "continue_on_error": True}],
            ("w", "continue_on_error"),
            "only valid",
        ),
        ([_t("a", continue_on_error="maybe")], ("a", "continue_on_error"), "valid boolean"),
    ],
)
def test_extension_problems_name_task_and_field(
    tasks: list[dict[str, Any]], where: tuple[str, str], phrase: str
) -> None:
    errors = _errors(tasks)
    assert any((task, field) == where and phrase in message for task, field, message in errors), errors


def test_item_references_are_fine_in_for_each_tasks() -> None:
    plan = parse_start_workflow(
        {
            "tasks": [
                _t("a"),
                _t("b", ["a"], for_each="${a.result.list}", args={"x": "${item.name}", "y": "${a.result.k}"}),
                {
                    "id": "c",
                    "type": "sub_agent",
                    "agent": "analyst",
                    "task": "Look at ${item}",
                    "for_each": "${a.result}",
                    "depends_on": ["a"],
                },
            ]
        },
        POLICY,
        now=NOW,
    )
    assert [t.id for t in plan.tasks] == ["a", "b", "c"]


def test_oversized_and_overdeep_plans_are_refused_before_anything_else() -> None:
    with pytest.raises(PlanValidationError, match="more than 256000 characters"):
        validate_plan({"tasks": [_t("a", args={"blob": "x" * 300_000})]}, POLICY, now=NOW)
    deep: Any = "x"
    for _ in range(100):
        deep = {"k": deep}
    with pytest.raises(PlanValidationError, match="too deeply nested"):
        validate_plan({"tasks": [_t("a", args=deep)]}, POLICY, now=NOW)
    with pytest.raises(PlanValidationError, match="an object with a 'tasks' list"):
        validate_plan("tasks", POLICY, now=NOW)


def test_a_long_chain_is_validated_without_recursion() -> None:
    tasks = [_t("n0")] + [_t(f"n{i}", [f"n{i - 1}"], args={"p": "${n0.result}"}) for i in range(1, 50)]
    assert len(parse_start_workflow({"tasks": tasks}, POLICY, now=NOW).tasks) == 50
