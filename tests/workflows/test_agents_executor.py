"""Agents as workflow nodes: wrapped by name, run on what they receive, answer downstream or as output."""

from __future__ import annotations

from typing import Any

import pytest

from agentdown import Agent, Message, tool
from agentdown.loop.events import AgentRunResult
from agentdown.testing import ScriptedModel, tool_call
from agentdown.workflows import (
    AgentActionRequest,
    AgentActionResponse,
    AgentExecutor,
    AgentExecutorRequest,
    AgentExecutorResponse,
    DuplicateExecutorIdError,
    InMemoryCheckpointStorage,
    TypeCompatibilityError,
    WorkflowBuilder,
    WorkflowContext,
    WorkflowRunState,
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


deleted: list[str] = []


@tool(approval_mode="always_require")
def delete_file(path: str) -> str:
    """Delete a file."""
    deleted.append(path)
    return f"deleted {path}"


def _cautious(model: ScriptedModel) -> Agent:
    return Agent(model=model, name="janitor", tools=[delete_file])


async def test_an_agent_needing_approval_asks_with_request_info_and_resumes_with_the_answer() -> None:
    deleted.clear()
    model = ScriptedModel([[tool_call("delete_file", {"path": "/tmp/x"}, call_id="d1")], "all clean"])
    workflow = WorkflowBuilder(start_executor=_cautious(model)).build()
    paused = await workflow.run("clean up")
    assert paused.get_final_state() is WorkflowRunState.IDLE_WITH_PENDING_REQUESTS
    [event] = paused.get_request_info_events()
    assert isinstance(event.data, AgentActionRequest) and event.response_type is AgentActionResponse
    assert [(r.call_id, r.name) for r in event.data.approval_requests] == [("d1", "delete_file")]
    assert deleted == []

    done = await workflow.run(responses={event.request_id: AgentActionResponse(approvals={"d1": True})})
    [output] = done.get_outputs()
    assert output.text == "all clean"
    assert deleted == ["/tmp/x"]


async def test_an_agent_approval_survives_a_checkpoint_into_a_new_workflow_object() -> None:
    deleted.clear()
    storage = InMemoryCheckpointStorage()
    first_model = ScriptedModel([[tool_call("delete_file", {"path": "/tmp/y"}, call_id="d2")]])
    workflow = WorkflowBuilder(
        start_executor=_cautious(first_model), checkpoint_storage=storage, name="jan"
    ).build()
    [event] = (await workflow.run("clean up")).get_request_info_events()
    latest = await storage.get_latest("jan")
    assert latest is not None

    second_model = ScriptedModel(["left it alone"])
    fresh = WorkflowBuilder(
        start_executor=_cautious(second_model), checkpoint_storage=storage, name="jan"
    ).build()
    done = await fresh.run(
        checkpoint_id=latest.checkpoint_id,
        responses={event.request_id: AgentActionResponse(approvals={"d2": False})},
    )
    assert done.get_outputs()[0].text == "left it alone"
    assert deleted == []


async def test_an_agent_executor_request_without_a_response_is_kept_for_the_next_run() -> None:
    agent, model = _agent("listener", "Noted both.")
    workflow = WorkflowBuilder(start_executor=agent).build()
    quiet = await workflow.run(AgentExecutorRequest([Message.user("context first")], should_respond=False))
    assert quiet.get_outputs() == [] and model.requests == []
    [output] = (await workflow.run(AgentExecutorRequest([Message.user("now answer")]))).get_outputs()
    assert output.text == "Noted both."
    assert _texts(model.requests[0].messages) == [("user", "context first"), ("user", "now answer")]
