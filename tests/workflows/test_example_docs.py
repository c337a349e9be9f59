"""The documentation's example runs as written, with our import path."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import agentdown

EXAMPLE = textwrap.dedent(
    """
    import asyncio

    from agentdown.workflows import FunctionExecutor, WorkflowBuilder, WorkflowViz, executor


    @executor(id="upper_case")
    async def upper_case(text: str) -> str:
        return text.upper()


    def word_count(text: str) -> str:
        return str(len(text.split()))


    counter = FunctionExecutor(word_count, id="word_counter")

    workflow = WorkflowBuilder(start_executor=upper_case).add_edge(upper_case, counter).build()

    print(asyncio.run(workflow.run("hello world")).get_outputs())
    print(WorkflowViz(workflow).to_mermaid())
    """
)


def test_documentation_example_prints_the_word_count(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(EXAMPLE, encoding="utf-8")
    # The child imports the agentdown under test, wherever this process found it.
    env = {**os.environ, "PYTHONPATH": str(Path(agentdown.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    first, *diagram = done.stdout.strip().splitlines()
    assert first == "['2']"
    assert "upper_case --> word_counter;" in [line.strip() for line in diagram]


def test_documentation_example_in_process_events_show_both_steps() -> None:
    from agentdown.workflows import FunctionExecutor, WorkflowBuilder, executor

    @executor(id="upper_case")
    async def upper_case(text: str) -> str:
        return text.upper()

    def word_count(text: str) -> str:
        return str(len(text.split()))

    counter = FunctionExecutor(word_count, id="word_counter")
    workflow = WorkflowBuilder(start_executor=upper_case).add_edge(upper_case, counter).build()
    result = asyncio.run(workflow.run("hello world"))
    assert result.get_outputs() == ["2"]
    invoked = [(e.executor_id, e.data) for e in result if e.type == "executor_invoked"]
    assert invoked == [("upper_case", "hello world"), ("word_counter", "HELLO WORLD")]
    assert [e.iteration for e in result if e.type == "superstep_started"] == [1, 2]
    assert result.get_final_state().value == "IDLE"
    assert list(workflow.executors) == ["upper_case", "word_counter"]
    assert workflow.start_executor_id == "upper_case"
    [group] = workflow.edge_groups
    assert group.kind == "single"
    assert [(e.source_id, e.target_id, e.condition) for e in group.edges] == [
        ("upper_case", "word_counter", None)
    ]
