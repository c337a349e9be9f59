"""``run_stream`` events and agent-as-tool delegation."""

from __future__ import annotations

import pytest

from agentdown import Agent, Content, Message, Session, tool
from agentdown.loop.events import (
    MessageCompletedEvent,
    ReasoningDeltaEvent,
    RunCompletedEvent,
    RunErrorEvent,
    StepCompletedEvent,
    TextDeltaEvent,
    ToolCallEndEvent,
    ToolCallStartEvent,
)
from agentdown.testing import ScriptedModel, tool_call


@tool
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


async def test_stream_event_sequence() -> None:
    model = ScriptedModel([tool_call("shout", {"text": "hi"}, call_id="s1"), "The answer is HI, friend."])
    events = [e async for e in Agent(model, tools=[shout]).run_stream("shout hi")]
    kinds = [type(e).__name__ for e in events]
    start = next(e for e in events if isinstance(e, ToolCallStartEvent))
    end = next(e for e in events if isinstance(e, ToolCallEndEvent))
    assert (start.name, start.arguments) == ("shout", {"text": "hi"})
    assert (end.call_id, end.output, end.is_error, end.value) == ("s1", "HI", False, "HI")
    assert kinds.index("ToolCallStartEvent") < kinds.index("ToolCallEndEvent") < kinds.index("TextDeltaEvent")
    deltas = [e.text for e in events if isinstance(e, TextDeltaEvent)]
    assert len(deltas) > 1 and "".join(deltas) == "The answer is HI, friend."
    assert sum(isinstance(e, StepCompletedEvent) for e in events) == 2
    assert sum(isinstance(e, MessageCompletedEvent) for e in events) == 3
    assert isinstance(events[-1], RunCompletedEvent)
    assert events[-1].result.text == "The answer is HI, friend."


async def test_stream_reasoning_delta() -> None:
    reply = Message(
        role="assistant", contents=[Content.from_reasoning("thinking..."), Content.from_text("42")]
    )
    events = [e async for e in Agent(ScriptedModel([reply])).run_stream("?")]
    assert "".join(e.text for e in events if isinstance(e, ReasoningDeltaEvent)) == "thinking..."
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == "42"


async def test_stream_error_event_then_raise() -> None:
    events = []
    with pytest.raises(RuntimeError, match="down"):
        async for event in Agent(ScriptedModel([RuntimeError("down")])).run_stream("?"):
            events.append(event)
    assert isinstance(events[-1], RunErrorEvent)
    assert events[-1].message == "down"


async def test_closing_stream_early_keeps_session_consistent() -> None:
    model = ScriptedModel([tool_call("shout", {"text": "a"}), "A long answer here"])
    session = Session()
    stream = Agent(model, tools=[shout]).run_stream("go", session=session)
    async for event in stream:
        if isinstance(event, ToolCallStartEvent):
            break
    await stream.aclose()
    answered = {c.call_id for m in session.messages for c in m.tool_results}
    assert all(c.call_id in answered for m in session.messages for c in m.tool_calls)
    assert session.messages[0].text == "go"


async def test_agent_as_tool_delegates() -> None:
    researcher_model = ScriptedModel(["Paris is the capital of France."])
    researcher = Agent(researcher_model, name="researcher", description="Looks facts up.")
    as_tool = researcher.as_tool(arg_name="question", arg_description="What to look up")
    assert as_tool.name == "researcher"
    assert as_tool.description == "Looks facts up."
    assert as_tool.parameters["required"] == ["question"]

    lead_model = ScriptedModel([tool_call("researcher", {"question": "capital of France?"}), "It's Paris."])
    result = await Agent(lead_model, tools=[as_tool]).run("What is the capital of France?")
    assert result.text == "It's Paris."
    assert researcher_model.requests[0].messages[-1].text == "capital of France?"
    assert result.messages[2].contents[0].text == "Paris is the capital of France."


async def test_agent_as_tool_propagates_session() -> None:
    sub_model = ScriptedModel(["sub answer"])
    sub = Agent(sub_model, name="sub").as_tool(propagate_session=True)
    lead = Agent(ScriptedModel([tool_call("sub", {"task": "t"}), "lead answer"]), tools=[sub])
    session = Session()
    session.messages.append(Message.user("earlier"))
    await lead.run("now", session=session)
    # The sub-agent read the shared conversation.
    assert sub_model.requests[0].messages[0].text == "earlier"


def test_agent_display_name_becomes_a_valid_tool_name() -> None:
    agent = Agent(ScriptedModel([]), name="Weather Agent (EU)")
    assert agent.as_tool().name == "Weather_Agent__EU_"


class _Toolset:
    """A run-time toolset (the shape MCP servers take)."""

    def __init__(self, name: str, tools: list[object] | None = None, fail: bool = False) -> None:
        self.name = name
        self.tools = tools or []
        self.fail = fail
        self.listed = 0

    async def list_tools(self) -> list[object]:
        self.listed += 1
        if self.fail:
            raise ConnectionError("server down")
        return self.tools  # type: ignore[return-value]


async def test_toolset_tools_are_listed_at_run_time() -> None:
    toolset = _Toolset("remote", [shout])
    model = ScriptedModel([tool_call("shout", {"text": "x"}), "X"])
    agent = Agent(model, tools=[toolset])
    assert toolset.listed == 0  # lazily, not at construction
    result = await agent.run("go")
    assert toolset.listed == 1
    assert [d.name for d in model.requests[0].tools] == ["shout"]
    assert result.messages[2].contents[0].text == "X"


async def test_failing_toolset_fails_only_its_agent() -> None:
    from agentdown.exceptions import ToolsetUnavailableError

    broken = Agent(ScriptedModel(["never"]), tools=[_Toolset("mcp-down", fail=True)])
    with pytest.raises(ToolsetUnavailableError, match=r"mcp-down.*server down"):
        await broken.run("go")
    healthy = Agent(ScriptedModel(["fine"]), tools=[shout])
    assert (await healthy.run("go")).text == "fine"


async def test_toolset_name_clash_is_an_error() -> None:
    from agentdown.exceptions import ConfigurationError

    agent = Agent(ScriptedModel(["x"]), tools=[shout, _Toolset("remote", [shout])])
    with pytest.raises(ConfigurationError, match="already taken"):
        await agent.run("go")
