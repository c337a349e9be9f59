"""The run loop's logic, driven by scripted and function models (no network)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Annotated, Any

import pytest

from agentdown import Agent, Content, FunctionInvocationContext, Message, Session, tool
from agentdown.exceptions import ConfigurationError
from agentdown.testing import FunctionModel, ScriptedModel, tool_call


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def boom(x: int) -> str:
    """Always fails."""
    raise RuntimeError("kaboom secret detail")


def test_agent_without_model_or_provider_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_DEPLOYMENT",
        "AZURE_FUNCTIONS_AGENTS_PROVIDER",
        "AZURE_FUNCTIONS_AGENTS_MODEL",
        "AGENTDOWN_PROVIDER",
        "AGENTDOWN_MODEL",
    ):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError):
        Agent(instructions="hi")


def test_agent_without_model_uses_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTDOWN_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("AGENTDOWN_MODEL", "gpt-test")
    agent = Agent(instructions="hi")
    assert agent.model.model_name == "gpt-test"


async def test_text_answer_result_steps_and_usage() -> None:
    model = ScriptedModel(["Hello there"])
    agent = Agent(model, instructions="Be nice.", name="greeter")
    result = await agent.run("hi")
    assert result.status == "completed"
    assert result.text == "Hello there"
    assert [m.role for m in result.messages] == ["user", "assistant"]
    assert len(result.steps) == 1
    step = result.steps[0]
    assert step.type == "message_creation"
    assert step.status == "completed"
    assert step.message_id == result.messages[-1].message_id
    assert step.model_duration >= 0
    assert result.usage.requests == 1
    # The model saw the instructions as a system message, then the prompt.
    sent = model.requests[0].messages
    assert [m.role for m in sent] == ["system", "user"]
    assert sent[0].text == "Be nice."


async def test_tool_round_trip_whole_history() -> None:
    model = ScriptedModel([tool_call("add", {"a": 2, "b": 3}, call_id="c1"), "The sum is 5."])
    agent = Agent(model, tools=[add])
    result = await agent.run("what is 2+3?")
    assert result.text == "The sum is 5."
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    tool_result = result.messages[2].contents[0]
    assert tool_result.type == "tool_result"
    assert tool_result.call_id == "c1"
    assert tool_result.text == "5"
    second = model.requests[1].messages
    assert [m.role for m in second] == ["user", "assistant", "tool"]
    assert second[-1].contents[0].text == "5"
    assert [d.name for d in model.requests[0].tools] == ["add"]
    assert [s.type for s in result.steps] == ["tool_calls", "message_creation"]
    record = result.steps[0].tool_calls[0]
    assert (record.name, record.arguments, record.output, record.is_error) == (
        "add",
        {"a": 2, "b": 3},
        "5",
        False,
    )
    assert record.duration is not None and record.started_at is not None
    assert result.usage.requests == 2


async def test_session_continues_across_runs() -> None:
    model = ScriptedModel(["first", "second"])
    agent = Agent(model)
    session = Session()
    await agent.run("one", session=session)
    await agent.run("two", session=session)
    assert [m.text for m in session.messages] == ["one", "first", "two", "second"]
    assert [m.text for m in model.requests[1].messages] == ["one", "first", "two"]


async def test_parallel_tool_calls_run_concurrently() -> None:
    @tool
    async def slow(tag: str) -> str:
        """Sleep then echo."""
        await asyncio.sleep(0.3)
        return tag

    model = ScriptedModel(
        [[tool_call("slow", {"tag": "a"}, call_id="a"), tool_call("slow", {"tag": "b"}, call_id="b")], "done"]
    )
    agent = Agent(model, tools=[slow])
    t0 = time.perf_counter()
    result = await agent.run("go")
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.55, elapsed
    assert [c.text for c in result.messages[2].contents] == ["a", "b"]


async def test_max_iterations_then_final_call_without_tools() -> None:
    seen_tools: list[int] = []

    def always_call(messages: list[Message], info: Any) -> Any:
        seen_tools.append(len(info.tools))
        if info.tools:
            return [tool_call("add", {"a": 1, "b": 1})]
        return "gave up"

    agent = Agent(
        FunctionModel(always_call), tools=[add], function_invocation_configuration={"max_iterations": 2}
    )
    result = await agent.run("loop")
    assert seen_tools == [1, 1, 0]
    assert result.text == "gave up"


async def test_max_function_calls_limits_invocations() -> None:
    calls: list[int] = []

    @tool
    def count(n: int) -> int:
        """Count."""
        calls.append(n)
        return n

    def two_calls(messages: list[Message], info: Any) -> Any:
        if info.tools:
            return [tool_call("count", {"n": 1}), tool_call("count", {"n": 2})]
        return "stopped"

    agent = Agent(
        FunctionModel(two_calls), tools=[count], function_invocation_configuration={"max_function_calls": 3}
    )
    result = await agent.run("go")
    assert len(calls) == 3
    refused = [
        c for m in result.messages for c in m.tool_results if c.text and c.text.startswith("Not executed")
    ]
    assert len(refused) == 1
    assert result.text == "stopped"


async def test_consecutive_errors_withdraw_tools() -> None:
    rounds: list[int] = []

    def keep_calling(messages: list[Message], info: Any) -> Any:
        rounds.append(len(info.tools))
        return [tool_call("boom", {"x": 1})] if info.tools else "ok, stopping"

    agent = Agent(FunctionModel(keep_calling), tools=[boom])
    result = await agent.run("go")
    assert rounds == [1, 1, 1, 0]  # default max_consecutive_errors_per_request = 3
    assert result.text == "ok, stopping"


async def test_errors_hidden_unless_detailed() -> None:
    model = ScriptedModel([tool_call("boom", {"x": 1}), "sorry"])
    result = await Agent(model, tools=[boom]).run("go")
    hidden = result.messages[2].contents[0]
    assert hidden.is_error
    assert "kaboom" not in (hidden.text or "")

    model = ScriptedModel([tool_call("boom", {"x": 1}), "sorry"])
    agent = Agent(model, tools=[boom], function_invocation_configuration={"include_detailed_errors": True})
    result = await agent.run("go")
    assert "kaboom secret detail" in (result.messages[2].contents[0].text or "")


async def test_unknown_tool_reported_to_model_or_terminates() -> None:
    model = ScriptedModel([tool_call("nope", {}), "fine"])
    result = await Agent(model, tools=[add]).run("go")
    assert result.status == "completed"
    assert "does not exist" in (result.messages[2].contents[0].text or "")

    model = ScriptedModel([tool_call("nope", {})])
    agent = Agent(model, tools=[add], function_invocation_configuration={"terminate_on_unknown_calls": True})
    session = Session()
    result = await agent.run("go", session=session)
    assert result.status == "incomplete"
    assert len(model.requests) == 1
    # No dangling call: every call in the session has a result.
    assert _calls_answered(session.messages)


async def test_tools_disabled_and_additional_tools() -> None:
    model = ScriptedModel(["no tools"])
    await Agent(model, tools=[add], function_invocation_configuration={"enabled": False}).run("go")
    assert list(model.requests[0].tools) == []

    model = ScriptedModel([tool_call("add", {"a": 1, "b": 2}), "3"])
    agent = Agent(model, function_invocation_configuration={"additional_tools": [add]})
    result = await agent.run("go")
    assert list(model.requests[0].tools) == []  # not advertised ...
    assert result.messages[2].contents[0].text == "3"  # ... but executed


async def test_function_invocation_kwargs_and_session_reach_tools() -> None:
    seen: dict[str, Any] = {}

    @tool
    def whoami(ctx: FunctionInvocationContext) -> str:
        """Report the caller."""
        seen["user"] = ctx.function_invocation_kwargs["user"]
        seen["session"] = ctx.session
        return "ok"

    session = Session(id="s-1")
    model = ScriptedModel([tool_call("whoami", {}), "done"])
    await Agent(model, tools=[whoami]).run("go", session=session, function_invocation_kwargs={"user": "ada"})
    assert seen == {"user": "ada", "session": session}


def _calls_answered(messages: list[Message]) -> bool:
    answered = {c.call_id for m in messages for c in m.tool_results}
    return all(c.call_id in answered for m in messages for c in m.tool_calls)


async def test_cancellation_leaves_consistent_session() -> None:
    started = asyncio.Event()

    @tool
    async def hang() -> str:
        """Never returns."""
        started.set()
        await asyncio.sleep(60)
        return "late"

    model = ScriptedModel([tool_call("hang", {}), "never"])
    session = Session()
    task = asyncio.create_task(Agent(model, tools=[hang]).run("go", session=session))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [m.role for m in session.messages] == ["user", "assistant", "tool"]
    assert _calls_answered(session.messages)
    assert "cancelled" in (session.messages[2].contents[0].text or "")


async def test_timeout_raises_and_leaves_consistent_session() -> None:
    from agentdown.exceptions import RunTimeoutError

    @tool
    async def hang() -> str:
        """Never returns."""
        await asyncio.sleep(60)
        return "late"

    session = Session()
    model = ScriptedModel([tool_call("hang", {}), "never"])
    t0 = time.perf_counter()
    with pytest.raises(RunTimeoutError):
        await Agent(model, tools=[hang]).run("go", session=session, timeout=0.2)
    assert time.perf_counter() - t0 < 2
    assert _calls_answered(session.messages)
    assert session.messages[0].text == "go"


async def test_sync_tools_do_not_block_the_loop() -> None:
    loop_thread = threading.get_ident()
    ran_on: list[int] = []

    @tool
    def blocking(ms: Annotated[int, "milliseconds"]) -> str:
        """Block the calling thread."""
        ran_on.append(threading.get_ident())
        time.sleep(ms / 1000)
        return "slept"

    model = ScriptedModel([tool_call("blocking", {"ms": 50}), "done"])
    await Agent(model, tools=[blocking]).run("go")
    assert ran_on and ran_on[0] != loop_thread


async def test_model_error_propagates_and_session_untouched() -> None:
    model = ScriptedModel([RuntimeError("provider down")])
    session = Session()
    with pytest.raises(RuntimeError, match="provider down"):
        await Agent(model).run("go", session=session)
    assert session.messages == []


async def test_messages_round_trip_json() -> None:
    model = ScriptedModel([tool_call("add", {"a": 2, "b": 3}), "5"])
    result = await Agent(model, tools=[add]).run("go")
    for message in result.messages:
        again = Message.from_dict(json.loads(message.to_json()))
        assert again == message
    assert Content.from_error("bad").to_dict() == {"type": "error", "text": "bad"}


async def test_model_timeout_is_not_mistaken_for_the_run_timeout() -> None:
    from agentdown.exceptions import ModelTimeoutError

    session = Session()
    with pytest.raises(ModelTimeoutError):
        await Agent(ScriptedModel([ModelTimeoutError("slow model")])).run("go", session=session, timeout=30)
    assert session.messages == []


async def test_truncation_per_agent_and_per_run() -> None:
    session = Session()
    for i in range(5):
        session.messages += [Message.user(f"q{i}"), Message.assistant(f"a{i}")]
    model = ScriptedModel(["x", "y"])
    agent = Agent(model, instructions="sys", truncation={"type": "last_messages", "last_messages": 3})
    await agent.run("now", session=session)
    assert [m.text for m in model.requests[0].messages] == ["sys", "q4", "a4", "now"]
    await agent.run("again", session=session, truncation={"type": "last_messages", "last_messages": 1})
    assert [m.text for m in model.requests[1].messages] == ["sys", "again"]
    # The session itself keeps everything.
    assert len(session.messages) == 14


async def test_auto_truncation_fits_the_token_budget_and_keeps_tool_pairs() -> None:
    session = Session()
    session.messages.append(Message.user("old " * 400))
    session.messages.append(
        Message(role="assistant", contents=[Content.from_tool_call("add", {"a": 1, "b": 2}, "c0")])
    )
    session.messages.append(Message(role="tool", contents=[Content.from_tool_result("c0", "3")]))
    session.messages.append(Message.assistant("3"))
    model = ScriptedModel(["ok"])
    await Agent(model, tools=[add], max_input_tokens=300).run("next", session=session)
    sent = model.requests[0].messages
    assert "old" not in sent[0].text  # the big old message no longer fits
    assert [m.role for m in sent] == ["assistant", "tool", "assistant", "user"]
