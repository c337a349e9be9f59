"""Agents as workflow nodes: wrapped by name, run on what they receive, answer downstream or as output."""

from __future__ import annotations

from typing import Any

import pytest

from agentdown import Agent, Message
from agentdown.loop.events import AgentRunResult
from agentdown.testing import ScriptedModel
from agentdown.workflows import (
    AgentExecutor,
    AgentExecutorResponse,
    DuplicateExecutorIdError,
    TypeCompatibilityError,
    WorkflowBuilder,
    WorkflowContext,
    executor,
)


def _agent(name: str, *replies: str) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(list(replies))
    return Agent(model=model, name=name, instructions=f"You are {name}."), model


def _texts(messages: list[Message]) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in messages if m.role != "system"]


async def test_a_lone_agent_yields_its_result_as_the_workflow_output() -> None:
    writer, model = _agent("writer", "A poem.")
    workflow = WorkflowBuilder(start_executor=writer).build()
    assert list(workflow.executors) == ["writer"]
    assert isinstance(workflow.executors["writer"], AgentExecutor)
    [output] = (await workflow.run("write a poem")).get_outputs()
    assert isinstance(output, AgentRunResult)
    assert output.text == "A poem."
    assert _texts(model.requests[0].messages) == [("user", "write a poem")]


async def test_a_chain_of_agents_shares_one_conversation() -> None:
    writer, _ = _agent("writer", "Draft v1.")
    reviewer, reviewer_model = _agent("reviewer", "Looks good.")
    workflow = WorkflowBuilder(start_executor=writer).add_edge(writer, reviewer).build()
    [output] = (await workflow.run("write a slogan")).get_outputs()
    assert output.text == "Looks good."
    assert _texts(reviewer_model.requests[0].messages) == [
        ("user", "write a slogan"),
        ("assistant", "Draft v1."),
    ]


async def test_a_function_downstream_of_an_agent_gets_an_agent_executor_response() -> None:
    writer, _ = _agent("writer", "Hello there.")
    seen: list[Any] = []

    @executor(id="shout")
    async def shout(response: AgentExecutorResponse) -> str:
        seen.append(response)
        return response.agent_response.text.upper()

    workflow = WorkflowBuilder(start_executor=writer).add_edge(writer, shout).build()
    assert (await workflow.run("greet")).get_outputs() == ["HELLO THERE."]
    [response] = seen
    assert response.executor_id == "writer"
    assert response.text == "Hello there."
    assert _texts(response.full_conversation) == [("user", "greet"), ("assistant", "Hello there.")]


async def test_an_agent_takes_a_message_or_a_list_of_messages() -> None:
    agent, model = _agent("solo", "one", "two")
    workflow = WorkflowBuilder(start_executor=agent).build()
    await workflow.run(Message.user("as a message"))
    await workflow.run([Message.user("first"), Message.assistant("ok"), Message.user("second")])
    assert _texts(model.requests[0].messages) == [("user", "as a message")]
    assert _texts(model.requests[1].messages) == [("user", "first"), ("assistant", "ok"), ("user", "second")]


async def test_a_str_sending_executor_feeds_an_agent() -> None:
    agent, model = _agent("summarizer", "Short.")

    @executor(id="prepare")
    async def prepare(text: str) -> str:
        return f"Summarize: {text}"

    workflow = WorkflowBuilder(start_executor=prepare).add_edge(prepare, agent).build()
    [output] = (await workflow.run("a long text")).get_outputs()
    assert output.text == "Short."
    assert _texts(model.requests[0].messages) == [("user", "Summarize: a long text")]


async def test_an_agent_cannot_feed_a_function_that_wants_str() -> None:
    agent, _ = _agent("writer", "x")

    @executor(id="wants_str")
    async def wants_str(text: str) -> None:
        return None

    with pytest.raises(TypeCompatibilityError, match="'writer' sends AgentExecutorResponse"):
        WorkflowBuilder(start_executor=agent).add_edge(agent, wants_str).build()


def test_two_agents_with_one_name_are_refused() -> None:
    first, _ = _agent("twin", "a")
    second, _ = _agent("twin", "b")
    builder = WorkflowBuilder(start_executor=first).add_edge(first, second)
    with pytest.raises(DuplicateExecutorIdError, match="'twin'"):
        builder.build()


async def test_one_agent_object_used_twice_is_one_executor() -> None:
    agent, _ = _agent("helper", "answer")

    @executor(id="after")
    async def after(response: AgentExecutorResponse, ctx: WorkflowContext[Any, str]) -> None:
        await ctx.yield_output(response.text)

    workflow = (
        WorkflowBuilder(start_executor=agent, output_from=[agent, after]).add_edge(agent, after).build()
    )
    assert list(workflow.executors) == ["helper", "after"]
    assert (await workflow.run("q")).get_outputs() == ["answer"]


async def test_a_failing_agent_fails_the_run_with_executor_failed() -> None:
    agent = Agent(model=ScriptedModel([RuntimeError("provider down")]), name="fragile")
    workflow = WorkflowBuilder(start_executor=agent).build()
    events = []
    with pytest.raises(Exception, match="provider down"):
        async for event in workflow.run("hi", stream=True):
            events.append(event)
    assert any(e.type == "executor_failed" and e.executor_id == "fragile" for e in events)
