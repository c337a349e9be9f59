"""Approvals and declaration-only tools pause the run; it resumes from JSON state."""

from __future__ import annotations

import json

import pytest

from agentdown import Agent, FunctionTool, Message, Session, tool
from agentdown.testing import ScriptedModel, tool_call

executed: list[str] = []


@tool(approval_mode="always_require")
def delete_file(path: str) -> str:
    """Delete a file."""
    executed.append(path)
    return f"deleted {path}"


@tool
def harmless(x: int) -> int:
    """Echo."""
    executed.append(f"harmless {x}")
    return x


def _copy_session(session: Session) -> Session:
    """What another process would load from a store."""
    return Session(
        id=session.id, messages=[Message.from_dict(json.loads(m.to_json())) for m in session.messages]
    )


@pytest.fixture(autouse=True)
def _reset() -> None:
    executed.clear()


@pytest.mark.parametrize("approve", [True, False])
async def test_approval_pauses_and_resumes_in_another_process(approve: bool) -> None:
    model = ScriptedModel(
        [
            [
                tool_call("delete_file", {"path": "/tmp/x"}, call_id="d1"),
                tool_call("harmless", {"x": 1}, call_id="h1"),
            ]
        ]
    )
    session = Session(id="conv-1")
    paused = await Agent(model, tools=[delete_file, harmless]).run("clean up", session=session)
    assert paused.status == "requires_action"
    assert [(r.call_id, r.name, r.arguments) for r in paused.approval_requests] == [
        ("d1", "delete_file", {"path": "/tmp/x"})
    ]
    assert executed == []  # nothing in the batch runs before the decision
    assert session.messages == []  # the session only gets complete turns
    wire_state = json.dumps(paused.state)

    # "Another process": a fresh agent, a fresh model, the session reloaded.
    model2 = ScriptedModel(["all done"])
    agent2 = Agent(model2, tools=[delete_file, harmless])
    session2 = _copy_session(session)
    done = await agent2.run(resume=json.loads(wire_state), approvals={"d1": approve}, session=session2)
    assert done.status == "completed"
    assert done.text == "all done"
    assert ("/tmp/x" in executed) is approve
    assert "harmless 1" in executed
    results = {c.call_id: c for m in session2.messages for c in m.tool_results}
    assert results["h1"].text == "1"
    if approve:
        assert results["d1"].text == "deleted /tmp/x"
    else:
        assert results["d1"].is_error and "rejected" in (results["d1"].text or "")
    assert [m.role for m in session2.messages] == ["user", "assistant", "tool", "assistant"]
    # The model saw the whole turn, including the decision's outcome.
    assert [m.role for m in model2.requests[0].messages] == ["user", "assistant", "tool"]
    assert [s.type for s in done.steps] == ["tool_calls", "message_creation"]
    assert done.usage.requests == 2


async def test_resume_requires_every_decision() -> None:
    model = ScriptedModel([tool_call("delete_file", {"path": "a"}, call_id="d1")])
    paused = await Agent(model, tools=[delete_file]).run("go")
    with pytest.raises(ValueError, match="missing"):
        await Agent(ScriptedModel([]), tools=[delete_file]).run(resume=paused.state, approvals={})
    with pytest.raises(ValueError, match="not pending"):
        await Agent(ScriptedModel([]), tools=[delete_file]).run(
            resume=paused.state, approvals={"d1": True, "zz": True}
        )


async def test_declaration_only_calls_are_reported_not_executed() -> None:
    lookup = FunctionTool(
        name="lookup_order",
        description="Look up an order in the client's system.",
        func=None,
        schema={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    )
    model = ScriptedModel([tool_call("lookup_order", {"order_id": "42"}, call_id="o1"), "Order 42 shipped."])
    agent = Agent(model, tools=[lookup])
    paused = await agent.run("where is order 42?")
    assert paused.status == "requires_action"
    assert [(c.name, c.arguments) for c in paused.pending_tool_calls] == [
        ("lookup_order", {"order_id": "42"})
    ]
    done = await agent.run(resume=paused.state, tool_outputs={"o1": {"status": "shipped"}})
    assert done.text == "Order 42 shipped."
    assert model.requests[1].messages[-1].contents[0].text == '{"status":"shipped"}'


async def test_openai_function_dict_is_declaration_only() -> None:
    spec = {
        "type": "function",
        "function": {
            "name": "get_stock",
            "description": "Stock level.",
            "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
    }
    model = ScriptedModel([tool_call("get_stock", {"sku": "A1"}, call_id="g1")])
    paused = await Agent(model, tools=[spec]).run("stock of A1?")
    assert paused.status == "requires_action"
    assert paused.pending_tool_calls[0].call_id == "g1"
