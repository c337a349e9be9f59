"""Function middleware around tool calls: order, rewrites, termination, accepted forms."""

from __future__ import annotations

from typing import Any

import pytest

from agentdown.messages import Content
from agentdown.tools import (
    CallNext,
    FunctionInvocationContext,
    FunctionMiddleware,
    FunctionTool,
    MiddlewareTermination,
    function_middleware,
    invoke_tool_call,
    normalize_function_middleware,
    tool,
)
from agentdown.tools.middleware import normalize_middleware


def make_calculator(log: list[str]) -> FunctionTool:
    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two numbers."""
        log.append(f"tool({a},{b})")
        return a * b

    return multiply


def call(arguments: dict[str, Any]) -> Content:
    return Content.from_tool_call("multiply", arguments, call_id="call_1")


def recorder(label: str, log: list[str]) -> Any:
    @function_middleware
    async def record(context: Any, call_next: CallNext) -> None:
        log.append(f"{label}>")
        await call_next()
        log.append(f"<{label}")

    return record


async def test_middleware_runs_in_order_first_is_outermost() -> None:
    log: list[str] = []
    outcome = await invoke_tool_call(
        make_calculator(log), call({"a": 2, "b": 3}), middleware=[recorder("a", log), recorder("b", log)]
    )
    assert log == ["a>", "b>", "tool(2,3)", "<b", "<a"]
    assert outcome.result.text == "6"
    assert outcome.value == 6


async def test_middleware_rewrites_arguments_and_result() -> None:
    log: list[str] = []

    @function_middleware
    async def double_a(context: FunctionInvocationContext, call_next: CallNext) -> None:
        context.arguments["a"] = context.arguments["a"] * 2
        await call_next()
        context.result = f"result: {context.result}"

    outcome = await invoke_tool_call(make_calculator(log), call({"a": 2, "b": 3}), middleware=[double_a])
    assert log == ["tool(4,3)"]
    assert outcome.value == "result: 12"
    assert outcome.result.text == "result: 12"


async def test_rewritten_arguments_are_validated_again() -> None:
    log: list[str] = []

    @function_middleware
    async def break_it(context: FunctionInvocationContext, call_next: CallNext) -> None:
        context.arguments = {"a": "not a number", "b": 1}
        await call_next()

    outcome = await invoke_tool_call(make_calculator(log), call({"a": 2, "b": 3}), middleware=[break_it])
    assert log == []
    assert outcome.result.is_error
    assert "- a: Input should be a valid integer" in (outcome.result.text or "")


async def test_termination_ends_the_call_with_its_result() -> None:
    log: list[str] = []

    @function_middleware
    async def cached(context: FunctionInvocationContext, call_next: CallNext) -> None:
        raise MiddlewareTermination(result=42)

    outcome = await invoke_tool_call(
        make_calculator(log), call({"a": 2, "b": 3}), middleware=[recorder("outer", log), cached]
    )
    assert log == ["outer>"]  # neither the tool nor the rest of the outer middleware ran
    assert outcome.terminated is True
    assert (outcome.value, outcome.result.text, outcome.result.is_error) == (42, "42", False)
    assert outcome.exception is None


async def test_termination_without_result_keeps_the_context_result() -> None:
    @function_middleware
    async def after(context: FunctionInvocationContext, call_next: CallNext) -> None:
        await call_next()
        context.result = "trimmed"
        raise MiddlewareTermination("stop here")

    outcome = await invoke_tool_call(make_calculator([]), call({"a": 1, "b": 1}), middleware=[after])
    assert (outcome.terminated, outcome.result.text) == (True, "trimmed")


async def test_middleware_may_answer_without_calling_next() -> None:
    log: list[str] = []

    @function_middleware
    async def deny(context: FunctionInvocationContext, call_next: CallNext) -> None:
        context.result = "multiplication is disabled today"

    outcome = await invoke_tool_call(make_calculator(log), call({"a": 2, "b": 3}), middleware=[deny])
    assert log == []
    assert (outcome.result.text, outcome.terminated, outcome.result.is_error) == (
        "multiplication is disabled today",
        False,
        False,
    )


async def test_middleware_sees_and_can_recover_from_tool_exceptions() -> None:
    @tool
    def explode() -> None:
        raise ValueError("kaboom")

    seen: list[BaseException | None] = []

    @function_middleware
    async def recover(context: FunctionInvocationContext, call_next: CallNext) -> None:
        try:
            await call_next()
        except ValueError:
            seen.append(context.exception)
            context.result = "recovered"

    outcome = await invoke_tool_call(explode, Content.from_tool_call("explode", {}), middleware=[recover])
    assert isinstance(seen[0], ValueError)
    assert (outcome.result.text, outcome.result.is_error, outcome.exception) == ("recovered", False, None)


async def test_metadata_is_shared_between_middleware_and_tool() -> None:
    @tool
    def read_meta(ctx: FunctionInvocationContext) -> str:
        return str(ctx.metadata["trace"])

    @function_middleware
    async def tag(context: FunctionInvocationContext, call_next: CallNext) -> None:
        context.metadata["trace"] = "t-1"
        await call_next()

    outcome = await invoke_tool_call(read_meta, Content.from_tool_call("read_meta", {}), middleware=[tag])
    assert outcome.result.text == "t-1"


class Audit(FunctionMiddleware):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def process(self, context: FunctionInvocationContext, call_next: CallNext) -> None:
        self.calls.append(context.tool.name)
        await call_next(context)  # Agent Framework style: the context passed on


class DuckAudit:
    """No base class: an async ``process`` is enough."""

    def __init__(self) -> None:
        self.results: list[Any] = []

    async def process(self, context, call_next):  # type: ignore[no-untyped-def]
        await call_next()
        self.results.append(context.result)


async def annotated_only(context: FunctionInvocationContext, call_next: CallNext) -> None:
    context.metadata["annotated"] = True
    await call_next()


async def test_class_based_and_annotated_function_middleware() -> None:
    audit, duck = Audit(), DuckAudit()
    middleware = normalize_function_middleware([audit, duck, annotated_only])
    assert normalize_middleware(middleware) == middleware  # idempotent: safe to normalize twice
    outcome = await invoke_tool_call(make_calculator([]), call({"a": 3, "b": 3}), middleware=middleware)
    assert (audit.calls, duck.results, outcome.result.text) == (["multiply"], [9], "9")


async def not_annotated(context, call_next):  # type: ignore[no-untyped-def]
    await call_next()


def sync_function(context: FunctionInvocationContext, call_next: CallNext) -> None:
    pass


class SyncProcess:
    def process(self, context: FunctionInvocationContext, call_next: CallNext) -> None:
        pass


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (not_annotated, "its first parameter is not annotated FunctionInvocationContext"),
        (sync_function, "it is not an async function"),
        (SyncProcess(), "its process method is not async"),
        (42, "it is neither callable nor has a process method"),
    ],
)
def test_unusable_middleware_is_refused_by_name(item: object, problem: str) -> None:
    with pytest.raises(TypeError) as err:
        normalize_function_middleware([item])
    assert repr(item)[:40] in str(err.value)
    assert problem in str(err.value)
    assert "@function_middleware" in str(err.value)


def test_middleware_classes_must_be_instantiated() -> None:
    with pytest.raises(TypeError, match="Audit is a class; pass an instance"):
        normalize_function_middleware([Audit])


def test_function_middleware_decorator_checks_the_function() -> None:
    with pytest.raises(TypeError, match="needs an async function"):
        function_middleware(sync_function)

    async def one_arg(context: FunctionInvocationContext) -> None:
        pass

    with pytest.raises(TypeError, match=r"must accept \(context, call_next\)"):
        function_middleware(one_arg)
