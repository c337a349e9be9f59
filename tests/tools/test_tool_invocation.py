"""invoke_tool_call: what the model reads for every kind of success and failure."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, ClassVar

import pytest

from agentdown.messages import Content
from agentdown.tools import (
    SKIP_PARSING,
    FunctionInvocationContext,
    FunctionTool,
    ToolArgumentsError,
    ToolError,
    invoke_tool_call,
    tool,
)
from agentdown.tools.arguments import protocol_tool_validator


@tool
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


def divide_call(arguments: dict[str, Any] | None, raw: str | None = None) -> Content:
    return Content.from_tool_call("divide", arguments, call_id="call_d", raw_arguments=raw)


async def test_success_outcome() -> None:
    before = time.time()
    call = divide_call({"a": 1, "b": 4})
    outcome = await invoke_tool_call(divide, call)
    assert outcome.call is call
    assert outcome.result.to_dict() == {
        "type": "tool_result",
        "text": "0.25",
        "call_id": "call_d",
        "name": "divide",
    }
    assert (outcome.value, outcome.exception, outcome.terminated) == (0.25, None, False)
    assert before <= outcome.started_at <= time.time()
    assert 0 <= outcome.duration < 5


async def test_validation_errors_reach_the_model_as_a_result() -> None:
    outcome = await invoke_tool_call(divide, divide_call({"a": "one"}))
    assert outcome.result.is_error
    assert outcome.result.text == (
        "Error: invalid arguments for tool 'divide':\n"
        "- a: Input should be a valid number, unable to parse string as a number (got 'one')\n"
        "- b: Field required\n"
        "Call the tool again with corrected arguments."
    )
    assert isinstance(outcome.exception, ToolArgumentsError)
    assert outcome.value is None


async def test_invalid_json_arguments() -> None:
    outcome = await invoke_tool_call(divide, divide_call(None, raw='{"a": 1, "b": '))
    assert outcome.result.is_error
    assert outcome.result.text == (
        "Error: the arguments for tool 'divide' were not valid JSON: '{\"a\": 1, \"b\": '. "
        "Call the tool again with the arguments as one JSON object."
    )
    not_object = await invoke_tool_call(divide, divide_call(None, raw="[1, 2]"))
    assert "were not a JSON object" in (not_object.result.text or "")


async def test_empty_raw_arguments_mean_no_arguments() -> None:
    @tool
    def now() -> str:
        return "noon"

    outcome = await invoke_tool_call(now, Content.from_tool_call("now", None, raw_arguments=""))
    assert (outcome.result.text, outcome.result.is_error) == ("noon", False)


async def test_exceptions_are_hidden_unless_detailed_errors(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="agentdown.tools"):
        hidden = await invoke_tool_call(divide, divide_call({"a": 1, "b": 0}))
    assert hidden.result.text == "Error: the tool 'divide' failed."
    assert hidden.result.is_error
    assert isinstance(hidden.exception, ZeroDivisionError)
    record = caplog.records[-1]
    assert record.name == "agentdown.tools"
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError

    detailed = await invoke_tool_call(divide, divide_call({"a": 1, "b": 0}), include_detailed_errors=True)
    assert (
        detailed.result.text == "Error: the tool 'divide' failed: ZeroDivisionError: float division by zero"
    )


async def test_tool_error_messages_are_always_shown() -> None:
    @tool
    def reserve(room: str) -> str:
        raise ToolError(f"room {room} is already booked; try another room")

    outcome = await invoke_tool_call(reserve, Content.from_tool_call("reserve", {"room": "B2"}))
    assert outcome.result.text == "Error: room B2 is already booked; try another room"
    assert outcome.result.is_error


async def test_limits_are_reported_to_the_model() -> None:
    @tool(max_invocations=1)
    def once() -> str:
        return "ok"

    first = await invoke_tool_call(once, Content.from_tool_call("once", {}))
    second = await invoke_tool_call(once, Content.from_tool_call("once", {}))
    assert first.result.text == "ok"
    assert second.result.is_error
    assert "at most 1 time(s) and that limit has been reached" in (second.result.text or "")

    @tool(max_invocation_exceptions=1)
    def broken() -> None:
        raise RuntimeError("nope")

    await invoke_tool_call(broken, Content.from_tool_call("broken", {}))
    refused = await invoke_tool_call(broken, Content.from_tool_call("broken", {}))
    assert "failed 1 time(s) and is no longer available" in (refused.result.text or "")
    assert broken.invocation_count == 1


async def test_declaration_only_call_is_reported_not_run() -> None:
    declared = FunctionTool(name="client_side", description="Runs in the browser.")
    outcome = await invoke_tool_call(declared, Content.from_tool_call("client_side", {}))
    assert outcome.result.is_error
    assert "declaration-only" in (outcome.result.text or "")


async def test_context_carries_session_kwargs_and_call_id() -> None:
    @tool
    def context_report(topic: str, ctx: FunctionInvocationContext) -> dict[str, Any]:
        return {
            "topic": topic,
            "session": ctx.session,
            "kwargs": ctx.kwargs,
            "call_id": ctx.call_id,
            "arguments": ctx.arguments,
        }

    kwargs = {"user_id": "u-7"}
    outcome = await invoke_tool_call(
        context_report,
        Content.from_tool_call("context_report", {"topic": "x"}, call_id="call_9"),
        session="session-1",
        function_invocation_kwargs=kwargs,
    )
    assert outcome.value == {
        "topic": "x",
        "session": "session-1",
        "kwargs": {"user_id": "u-7"},
        "call_id": "call_9",
        "arguments": {"topic": "x"},
    }
    assert outcome.result.text == (
        '{"topic":"x","session":"session-1","kwargs":{"user_id":"u-7"},"call_id":"call_9","arguments":{"topic":"x"}}'
    )


async def test_result_parser_and_skip_parsing() -> None:
    def as_sentence(value: Any) -> str:
        return f"The answer is {value}."

    @tool(result_parser=as_sentence)
    def answer() -> int:
        return 42

    outcome = await invoke_tool_call(answer, Content.from_tool_call("answer", {}))
    assert (outcome.result.text, outcome.value) == ("The answer is 42.", 42)

    image = Content.from_data(b"\x89PNG", "image/png")

    @tool(result_parser=lambda value: [Content.from_text("chart:"), image])
    def chart() -> dict[str, int]:
        return {"a": 1}

    outcome = await invoke_tool_call(chart, Content.from_tool_call("chart", {}))
    assert outcome.result.text == "chart:"
    assert outcome.result.items == [Content.from_text("chart:"), image]

    @tool(result_parser=SKIP_PARSING)
    def raw_image() -> Content:
        return image

    outcome = await invoke_tool_call(raw_image, Content.from_tool_call("raw_image", {}))
    assert (outcome.result.text, outcome.result.items, outcome.value) == ("", [image], image)

    @tool(result_parser=SKIP_PARSING)
    def not_content() -> dict[str, int]:
        return {"a": 1}

    outcome = await invoke_tool_call(not_content, Content.from_tool_call("not_content", {}))
    assert outcome.result.text == '{"a":1}'


async def test_a_result_parser_returning_the_wrong_type_is_a_tool_failure() -> None:
    @tool(result_parser=lambda value: 3)  # type: ignore[arg-type, return-value]
    def bad_parser() -> str:
        return "x"

    outcome = await invoke_tool_call(
        bad_parser, Content.from_tool_call("bad_parser", {}), include_detailed_errors=True
    )
    assert outcome.result.is_error
    assert "TypeError: result_parser" in (outcome.result.text or "")
    assert "must return str or list[Content]" in (outcome.result.text or "")


class SearchClient:
    """Stands in for an SDK client that must be created once and shared."""

    instances = 0

    def __init__(self) -> None:
        SearchClient.instances += 1
        self.queries: list[str] = []
        self.threads: list[int] = []

    def search(self, query: str) -> list[str]:
        self.queries.append(query)
        self.threads.append(threading.get_ident())
        return [f"{query} result"]


class DocsSearch:
    """A protocol-only tool (no base class) holding a singleton client."""

    client: ClassVar[SearchClient] = SearchClient()
    name = "docs_search"
    description = "Search the documentation."
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"query": {"type": "string", "minLength": 2}},
        "required": ["query"],
        "additionalProperties": False,
    }

    def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> list[str]:
        return self.client.search(arguments["query"])


async def test_protocol_tool_is_validated_with_its_json_schema_and_run_off_the_loop() -> None:
    tool_ = DocsSearch()
    outcome = await invoke_tool_call(tool_, Content.from_tool_call("docs_search", {"query": "install"}))
    assert outcome.result.text == '["install result"]'
    assert DocsSearch.client.threads[-1] != threading.get_ident()  # sync invoke ran in a worker thread

    bad = await invoke_tool_call(tool_, Content.from_tool_call("docs_search", {"query": "x", "page": 2}))
    assert bad.result.text == (
        "Error: invalid arguments for tool 'docs_search':\n"
        "- (arguments): Additional properties are not allowed ('page' was unexpected)\n"
        "- query: 'x' is too short\n"
        "Call the tool again with corrected arguments."
    )
    assert DocsSearch.client.queries == ["install"]
    assert SearchClient.instances == 1
    # The compiled validator is reused, not rebuilt per call.
    assert protocol_tool_validator(tool_) is protocol_tool_validator(tool_)


async def test_async_protocol_tool_and_its_failures() -> None:
    class Flaky:
        name = "flaky"
        description = "Fails."
        parameters: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

        async def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> str:
            raise KeyError("missing")

    outcome = await invoke_tool_call(
        Flaky(), Content.from_tool_call("flaky", {}), include_detailed_errors=True
    )
    assert outcome.result.text == "Error: the tool 'flaky' failed: KeyError: 'missing'"


async def test_protocol_tool_with_an_invalid_schema_fails_the_call_with_a_clear_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BadSchema:
        name = "bad_schema"
        description = ""
        parameters: ClassVar[dict[str, Any]] = {"type": "object", "properties": {"a": {"type": 5}}}

        def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> str:
            return "never"

    with caplog.at_level(logging.ERROR, logger="agentdown.tools"):
        outcome = await invoke_tool_call(BadSchema(), Content.from_tool_call("bad_schema", {"a": 1}))
    assert outcome.result.text == "Error: the tool 'bad_schema' failed."
    assert "not valid JSON Schema" in caplog.text


async def test_cancellation_propagates() -> None:
    started = asyncio.Event()

    @tool
    async def forever() -> None:
        started.set()
        await asyncio.sleep(60)

    task = asyncio.ensure_future(invoke_tool_call(forever, Content.from_tool_call("forever", {})))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_parallel_calls_run_concurrently() -> None:
    @tool
    async def nap(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "rested"

    start = time.perf_counter()
    outcomes = await asyncio.gather(
        *(invoke_tool_call(nap, Content.from_tool_call("nap", {"seconds": 0.1})) for _ in range(5))
    )
    assert time.perf_counter() - start < 0.4
    assert [o.result.text for o in outcomes] == ["rested"] * 5
