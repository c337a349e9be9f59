"""normalize_tools: every supported form becomes a tool; everything else is refused, never dropped."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from tools_snapshot import assert_snapshot, definition

from agentdown.exceptions import ConfigurationError
from agentdown.messages import Content
from agentdown.tools import (
    FunctionInvocationContext,
    FunctionTool,
    Tool,
    invoke_tool_call,
    normalize_tools,
    tool,
    tool_definition,
)


class CountingClient:
    """An expensive SDK client: one per process, shared by every call."""

    created = 0

    def __init__(self) -> None:
        CountingClient.created += 1
        self.calls = 0

    def get(self, key: str) -> str:
        self.calls += 1
        return f"value of {key}"


class KeyValueTool:
    """Satisfies the Tool protocol without any base class."""

    client: ClassVar[CountingClient] = CountingClient()

    def __init__(self, name: str = "kv_get") -> None:
        self.name = name
        self.description = "Read a key."

    @property
    def parameters(self) -> dict[str, Any]:
        return {"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}

    async def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> str:
        return self.client.get(arguments["key"])


def get_time(zone: str = "UTC") -> str:
    """The current time in a time zone."""
    return f"12:00 {zone}"


class StockQuote:
    """Latest stock prices."""

    def __call__(self, symbol: str) -> float:
        return 1.0


class Inventory:
    def count(self, sku: str) -> int:
        """How many items of a SKU are in stock."""
        return 3


async def test_protocol_object_is_kept_and_used_by_its_own_name() -> None:
    kv = KeyValueTool()
    [normalized] = normalize_tools(kv)
    assert normalized is kv
    outcome = await invoke_tool_call(normalized, Content.from_tool_call("kv_get", {"key": "a"}))
    await invoke_tool_call(normalized, Content.from_tool_call("kv_get", {"key": "b"}))
    assert outcome.result.text == "value of a"
    assert (CountingClient.created, KeyValueTool.client.calls) == (1, 2)
    assert tool_definition(normalized).name == "kv_get"


def test_functions_methods_partials_and_callable_instances_become_function_tools() -> None:
    inventory = Inventory()
    tools = normalize_tools([get_time, StockQuote(), inventory.count])
    assert all(isinstance(t, FunctionTool) for t in tools)
    assert [t.name for t in tools] == ["get_time", "stock_quote", "count"]
    assert [t.description for t in tools] == [
        "The current time in a time zone.",
        "Latest stock prices.",
        "How many items of a SKU are in stock.",
    ]


def test_duplicates_named_partial_is_still_a_duplicate() -> None:
    with pytest.raises(ConfigurationError, match="two tools are named 'get_time'"):
        normalize_tools([get_time, functools.partial(get_time, "CET")])


def test_function_tools_are_kept_as_they_are() -> None:
    ft = tool(get_time, name="clock")
    assert normalize_tools(ft)[0] is ft
    assert normalize_tools((ft,))[0] is ft


def test_none_single_items_iterables_and_one_level_of_nesting() -> None:
    assert normalize_tools(None) == []
    assert normalize_tools([]) == []
    kv = KeyValueTool()

    def generator() -> Iterator[object]:
        yield kv

    names = [t.name for t in normalize_tools([[get_time], (StockQuote(),), generator()])]
    assert names == ["get_time", "stock_quote", "kv_get"]


def test_openai_function_dicts_become_declaration_only_tools() -> None:
    nested = {
        "type": "function",
        "function": {
            "name": "open_door",
            "description": "Open a door (done by the app).",
            "parameters": {
                "type": "object",
                "properties": {"door": {"type": "string"}},
                "required": ["door"],
            },
            "strict": True,
        },
    }
    flat = {"name": "ring_bell", "description": "Ring the bell."}
    responses_style = {"type": "function", "name": "lock", "parameters": {"type": "object", "properties": {}}}
    tools = normalize_tools([nested, flat, responses_style])
    assert all(getattr(t, "declaration_only", False) for t in tools)
    assert tools[0].additional_properties == {"strict": True}  # type: ignore[attr-defined]
    assert_snapshot("openai_dicts", [definition(t) for t in tools])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "code_interpreter"}, "has type 'code_interpreter'; only OpenAI function tools"),
        ({"description": "no name"}, "lacks 'name'"),
        ({"name": "x", "paramters": {}}, "has unknown key(s) paramters"),
        ({"type": "function", "function": {"name": "x"}, "extra": 1}, "has unknown key(s) extra"),
        ({"name": "x", "parameters": "object"}, "parameters a JSON Schema object"),
    ],
)
def test_unsupported_dicts_are_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError) as err:
        normalize_tools([raw])
    assert message in str(err.value)


class NoParameters:
    name = "incomplete"
    description = "Has no parameters."

    def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> str:
        return ""


class WrongTypes:
    name = 7
    description = None
    parameters = "{}"
    invoke = "not callable"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            42,
            "42 (int) is not a tool; it lacks `name`, lacks `description`, lacks `parameters`, "
            "lacks `invoke`",
        ),
        ("get_time", "'get_time' (str) is not a tool: tools are not looked up by name here"),
        (NoParameters(), "(NoParameters) is not a tool; it lacks `parameters`."),
        (
            WrongTypes(),
            "it has `name` of type int (expected str), has `description` of type NoneType (expected str), "
            "has `parameters` of type str (expected dict), has `invoke` of type str (expected a method)",
        ),
        (KeyValueTool, "is a class (pass an instance)"),
        (None, "None is not a tool"),
    ],
)
def test_unsupported_objects_are_refused_with_the_reason(item: object, expected: str) -> None:
    with pytest.raises(TypeError) as err:
        normalize_tools([get_time, item])
    assert expected in str(err.value)


def test_long_reprs_are_truncated() -> None:
    class Huge:
        def __repr__(self) -> str:
            return "H" * 10_000

    with pytest.raises(TypeError) as err:
        normalize_tools(Huge())
    assert len(str(err.value)) < 600


def test_protocol_tool_names_are_checked() -> None:
    with pytest.raises(ValueError, match="invalid tool name 'kv get'"):
        normalize_tools(KeyValueTool("kv get"))


def test_duplicate_names_are_refused_naming_both_objects() -> None:
    with pytest.raises(ConfigurationError) as err:
        normalize_tools([KeyValueTool(), get_time, KeyValueTool()])
    text = str(err.value)
    assert "two tools are named 'kv_get'" in text
    assert text.count("KeyValueTool object") == 2
    same = tool(get_time)
    with pytest.raises(ConfigurationError, match="the same object twice"):
        normalize_tools([same, same])


def test_agents_and_toolsets() -> None:
    class FakeAgent:
        def as_tool(self) -> Tool:
            return KeyValueTool("ask_agent")

    class Toolset:
        def get_tools(self) -> list[object]:
            return [get_time, {"name": "remote_op"}]

    tools = normalize_tools([FakeAgent(), Toolset()])
    assert [t.name for t in tools] == ["ask_agent", "get_time", "remote_op"]

    class BrokenToolset:
        def get_tools(self) -> list[object]:
            return [object()]

    with pytest.raises(TypeError, match="is not a tool"):
        normalize_tools(BrokenToolset())
