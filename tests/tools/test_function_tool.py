"""FunctionTool behaviour: validation, coercion, limits, declaration-only, threads, options."""

import asyncio
import enum
import threading
from typing import Any

import pytest
from pydantic import BaseModel

from agentdown.tools import (
    SKIP_PARSING,
    FunctionInvocationContext,
    FunctionTool,
    ToolArgumentsError,
    ToolError,
    tool,
)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Point(BaseModel):
    x: int
    y: int


async def test_arguments_are_coerced_to_the_annotated_types() -> None:
    # A class defined inside a function works when annotations are not strings.
    class Box(BaseModel):
        corner: Point

    seen: dict[str, Any] = {}

    @tool
    def paint(color: Color, at: Point, box: Box, times: int = 1) -> str:
        seen.update(color=color, at=at, box=box, times=times)
        return "done"

    result = await paint.invoke(
        {"color": "red", "at": {"x": 1, "y": "2"}, "box": {"corner": {"x": 0, "y": 0}}}
    )
    assert result == "done"
    assert seen == {"color": Color.RED, "at": Point(x=1, y=2), "box": Box(corner=Point(x=0, y=0)), "times": 1}


async def test_invalid_arguments_raise_tool_arguments_error_with_paths() -> None:
    @tool
    def paint(color: Color, at: Point) -> None:
        pass

    with pytest.raises(ToolArgumentsError) as err:
        await paint.invoke({"color": "blue", "at": {"x": 1}, "extra": 1})
    text = str(err.value)
    assert "invalid arguments for tool 'paint'" in text
    assert "- color: Input should be 'red' or 'green' (got 'blue')" in text
    assert "- at.y: Field required" in text
    assert "- extra: Extra inputs are not permitted" in text
    assert paint.invocation_count == 0


async def test_async_functions_run_on_the_loop_and_sync_ones_in_a_worker_thread() -> None:
    loop_thread = threading.get_ident()

    @tool
    def blocking() -> int:
        return threading.get_ident()

    @tool
    async def non_blocking() -> int:
        return threading.get_ident()

    assert await blocking.invoke({}) != loop_thread
    assert await non_blocking.invoke({}) == loop_thread


async def test_a_blocking_sync_tool_does_not_block_the_event_loop() -> None:
    release = threading.Event()

    @tool
    def wait_for_release() -> str:
        assert release.wait(5)
        return "released"

    task = asyncio.ensure_future(wait_for_release.invoke({}))
    await asyncio.sleep(0.01)  # the loop is free while the tool blocks its thread
    assert not task.done()
    release.set()
    assert await task == "released"


async def test_async_callable_instance_and_bound_method() -> None:
    class Counter:
        def __init__(self) -> None:
            self.total = 0

        async def __call__(self, n: int) -> int:
            self.total += n
            return self.total

        def add(self, n: int) -> int:
            self.total += n
            return self.total

    counter = Counter()
    assert await FunctionTool(counter).invoke({"n": 2}) == 2
    assert await FunctionTool(counter.add).invoke({"n": 3}) == 5


async def test_context_is_injected() -> None:
    @tool
    async def whoami(greeting: str, ctx: FunctionInvocationContext) -> str:
        return f"{greeting} {ctx.function_invocation_kwargs['user']} {ctx.session} {ctx.call_id}"

    ctx = FunctionInvocationContext(
        tool=whoami, arguments={}, call_id="c1", session="s1", function_invocation_kwargs={"user": "ann"}
    )
    assert await whoami.invoke({"greeting": "hi"}, ctx) == "hi ann s1 c1"


async def test_optional_context_gets_a_context_even_when_invoked_without_one() -> None:
    @tool
    def tool_with_ctx(ctx: FunctionInvocationContext | None = None) -> bool:
        return isinstance(ctx, FunctionInvocationContext) and ctx.tool is tool_with_ctx

    assert await tool_with_ctx.invoke({}) is True


async def test_var_keyword_receives_function_invocation_kwargs() -> None:
    @tool
    def lookup(key: str, **kwargs: Any) -> dict[str, Any]:
        return {"key": key, **kwargs}

    ctx = FunctionInvocationContext(
        tool=lookup, arguments={}, function_invocation_kwargs={"tenant": "t1", "key": "not this one"}
    )
    assert await lookup.invoke({"key": "k"}, ctx) == {"key": "k", "tenant": "t1"}
    assert "kwargs" not in lookup.parameters["properties"]


async def test_positional_only_parameters() -> None:
    @tool
    def power(base: int, exponent: int = 2, /) -> int:
        return int(base**exponent)

    assert await power.invoke({"base": 3}) == 9
    assert await power.invoke({"base": 2, "exponent": 5}) == 32


async def test_max_invocations_refuses_further_calls_without_running() -> None:
    runs: list[int] = []

    @tool(max_invocations=2)
    def once_or_twice(n: int) -> int:
        runs.append(n)
        return n

    assert await once_or_twice.invoke({"n": 1}) == 1
    assert await once_or_twice.invoke({"n": 2}) == 2
    with pytest.raises(
        ToolError, match=r"at most 2 time\(s\) and that limit has been reached; it was not run"
    ):
        await once_or_twice.invoke({"n": 3})
    assert runs == [1, 2]
    assert once_or_twice.invocation_count == 2


async def test_parallel_calls_cannot_overshoot_max_invocations() -> None:
    @tool(max_invocations=3)
    async def slow() -> str:
        await asyncio.sleep(0.01)
        return "ok"

    results = await asyncio.gather(*(slow.invoke({}) for _ in range(6)), return_exceptions=True)
    assert sum(r == "ok" for r in results) == 3
    assert sum(isinstance(r, ToolError) for r in results) == 3


async def test_max_invocation_exceptions_refuses_after_that_many_failures() -> None:
    calls: list[bool] = []

    @tool(max_invocation_exceptions=2)
    def flaky(fail: bool) -> str:
        calls.append(fail)
        if fail:
            raise RuntimeError("boom")
        return "fine"

    with pytest.raises(RuntimeError):
        await flaky.invoke({"fail": True})
    assert await flaky.invoke({"fail": False}) == "fine"
    with pytest.raises(RuntimeError):
        await flaky.invoke({"fail": True})
    with pytest.raises(ToolError, match=r"failed 2 time\(s\) and is no longer available; it was not run"):
        await flaky.invoke({"fail": False})
    assert calls == [True, False, True]
    assert (flaky.invocation_count, flaky.invocation_exception_count) == (3, 2)


async def test_argument_errors_do_not_count_as_invocations_or_exceptions() -> None:
    @tool(max_invocation_exceptions=1)
    def f(n: int) -> int:
        return n

    for _ in range(3):
        with pytest.raises(ToolArgumentsError):
            await f.invoke({"n": "x"})
    assert (f.invocation_count, f.invocation_exception_count) == (0, 0)
    assert await f.invoke({"n": 1}) == 1


async def test_declaration_only_tool_cannot_be_invoked() -> None:
    declared = FunctionTool(
        name="approve_invoice",
        description="Approve an invoice (done by the client).",
        schema={"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    )
    assert declared.declaration_only is True
    assert declared.validate_arguments({"id": "inv-1"}) == {"id": "inv-1"}
    with pytest.raises(ToolError, match="'approve_invoice' is declaration-only"):
        await declared.invoke({"id": "inv-1"})


def test_declaration_only_needs_a_name() -> None:
    with pytest.raises(ValueError, match="needs name="):
        FunctionTool()


async def test_explicit_model_schema_validates_and_unpacks_fields() -> None:
    class Query(BaseModel):
        text: str
        limit: int = 5

    @tool(schema=Query)
    def search(text: str, limit: int) -> str:
        return f"{text}:{limit}"

    assert await search.invoke({"text": "cats", "limit": "7"}) == "cats:7"
    assert search.validate_arguments({"text": "dogs"}) == {"text": "dogs", "limit": 5}
    with pytest.raises(ToolArgumentsError, match="- text: Field required"):
        search.validate_arguments({})


async def test_explicit_json_schema_validates_with_jsonschema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["n"],
    }

    @tool(schema=schema)
    def count(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    assert await count.invoke({"n": 1}) == {"n": 1}
    with pytest.raises(ToolArgumentsError) as err:
        await count.invoke({"n": -1, "tags": ["a", 2]})
    assert "- n: -1 is less than the minimum of 0" in str(err.value)
    assert "- tags[1]: 2 is not of type 'string'" in str(err.value)


def test_explicit_schema_must_match_the_function() -> None:
    def needs_two(a: int, b: int) -> None:
        pass

    with pytest.raises(ValueError, match=r"requires parameter\(s\) b"):
        FunctionTool(needs_two, schema={"type": "object", "properties": {"a": {"type": "integer"}}})
    with pytest.raises(ValueError, match=r"defines c but tool function .* has no such parameter"):
        FunctionTool(needs_two, schema={"type": "object", "properties": {k: {} for k in "abc"}})
    with pytest.raises(ValueError, match="must describe an object"):
        FunctionTool(needs_two, schema={"type": "string"})
    with pytest.raises(ValueError, match="not valid JSON Schema"):
        FunctionTool(needs_two, schema={"type": "object", "properties": {"a": {"type": "integr"}}})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"approval_mode": "sometimes"},
            "approval_mode of tool 'f' must be one of 'never_require', 'always_require'",
        ),
        ({"max_invocations": 0}, "max_invocations of tool 'f' must be a positive integer"),
        (
            {"max_invocation_exceptions": -1},
            "max_invocation_exceptions of tool 'f' must be a positive integer",
        ),
    ],
)
def test_invalid_options_are_refused(options: dict[str, Any], message: str) -> None:
    def f() -> None:
        pass

    with pytest.raises(ValueError, match=message):
        FunctionTool(f, **options)


def test_options_are_kept() -> None:
    def parser(value: Any) -> str:
        return str(value)

    @tool(
        approval_mode="always_require",
        max_invocations=3,
        max_invocation_exceptions=1,
        result_parser=parser,
        kind="custom",
        additional_properties={"owner": "ops"},
    )
    def deploy() -> None:
        """Deploy."""

    assert deploy.approval_mode == "always_require"
    assert (deploy.max_invocations, deploy.max_invocation_exceptions) == (3, 1)
    assert deploy.result_parser is parser
    assert (deploy.kind, deploy.additional_properties) == ("custom", {"owner": "ops"})
    assert FunctionTool(lambda: None, name="x", result_parser=SKIP_PARSING).result_parser is SKIP_PARSING
    assert FunctionTool(lambda: None, name="x").approval_mode == "never_require"


def test_decorated_function_is_still_callable() -> None:
    @tool
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5
    assert repr(add).startswith("FunctionTool(name='add', func=<function")
