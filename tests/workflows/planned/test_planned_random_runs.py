"""Seeded random plans and outcomes: every run ends, respects the caps, and replays identically."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from planned_runner import HANG, ToyRunner, fail

from agentdown.workflows.planned import PlanPolicy, parse_start_workflow, start

T0 = datetime(2026, 7, 24, tzinfo=UTC)
POLICY = PlanPolicy(frozenset({"t"}), frozenset({"a"}))


def _random_plan(rng: random.Random) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = []
    for i in range(rng.randint(1, 30)):
        deps = sorted({f"n{j}" for j in rng.sample(range(i), k=min(i, rng.randint(0, 3)))})
        task: dict[str, Any] = {"id": f"n{i}", "depends_on": deps}
        kind = rng.random()
        if kind < 0.15:
            task.update(type="wait", duration=f"PT{rng.randint(1, 90)}S")
        elif kind < 0.3:
            task.update(type="sub_agent", agent="a", task="do " + " ".join(f"${{{d}.result}}" for d in deps))
        else:
            task.update(tool="t", args={"deps": [f"${{{d}.result}}" for d in deps]})
            if deps and rng.random() < 0.3:
                task.update(for_each=f"${{{deps[0]}.result}}", max_parallelism=rng.randint(1, 10))
        if task.get("type") != "wait":
            if rng.random() < 0.3:
                task["retry"] = {"max_attempts": rng.randint(1, 4), "first_interval": "PT2S"}
            if rng.random() < 0.3:
                task["timeout"] = "PT30S"
            task["continue_on_error"] = rng.random() < 0.5
        if deps and rng.random() < 0.2:
            task["when"] = f"${{{deps[-1]}.result}} != null"
        tasks.append(task)
    return {"tasks": tasks}


@pytest.mark.parametrize("seed", range(40))
def test_random_runs_end_within_the_caps_and_replay_identically(seed: int) -> None:
    rng = random.Random(seed)
    plan = parse_start_workflow(_random_plan(rng), POLICY, now=T0)

    def script_for(run_seed: int) -> Any:
        outcomes = random.Random(run_seed)

        def script(key: str, what: str, payload: Any, attempt: int) -> Any:
            roll = outcomes.random()
            if roll < 0.15:
                return fail(f"{key} failed")
            if roll < 0.2:
                return HANG
            return [1, 2, 3] if roll < 0.6 else f"{key}#{attempt}"

        return script

    finals = []
    for _ in range(2):
        state, actions = start(plan, T0, workflow_id="w")
        runner = ToyRunner(script_for(seed), T0)
        state = runner.run(state, actions, limit=5000)
        # A hung task without a timeout never finishes: the run waits, as a durable one would.
        hung_forever = runner.finished is None
        if hung_forever:
            assert state.runtime_status == "Running"
        else:
            assert state.runtime_status in ("Completed", "Failed")
            assert all(
                t.status in ("succeeded", "failed", "skipped", "cancelled") for t in state.tasks.values()
            )
        assert runner.max_running <= 10
        for task in plan.tasks:
            if task.max_parallelism is not None:
                assert runner.max_per_task.get(task.id, 0) <= task.max_parallelism
        finals.append((state.model_dump(mode="json"), runner.log))
    assert finals[0] == finals[1]
