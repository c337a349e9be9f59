"""Executors: handler types from annotations or explicit, dispatch by type, return values, contexts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Never

import pytest

from agentdown.workflows import (
    Executor,
    FunctionExecutor,
    HandlerSignatureError,
    TypeCompatibilityError,
    WorkflowBuilder,
    WorkflowContext,
    executor,
    handler,
)


@dataclass
class Order:
    item: str


@dataclass
class Refund:
    amount: int


class Desk(Executor):
    @handler
    async def on_text(self, text: str, ctx: WorkflowContext[str, str]) -> None:
        await ctx.yield_output(f"text:{text}")

    @handler
    async def on_business(self, msg: Order | Refund, ctx: WorkflowContext[Never, str]) -> None:
        await ctx.yield_output(f"{type(msg).__name__.lower()}")

    @handler
    async def on_batch(self, items: list[int], ctx: WorkflowContext[Any, int]) -> None:
        await ctx.yield_output(sum(items))


def test_types_come_from_the_annotations() -> None:
    desk = Desk("desk")
    assert desk.input_types == [str, Order, Refund, list[int]]
    assert desk.output_types == [str, Any]
    assert desk.workflow_output_types == [str, int]


async def test_dispatch_by_type_including_unions_and_lists() -> None:
    workflow = WorkflowBuilder(start_executor=Desk("desk")).build()
    assert (await workflow.run("hi")).get_outputs() == ["text:hi"]
    assert (await workflow.run(Order("tea"))).get_outputs() == ["order"]
    assert (await workflow.run(Refund(3))).get_outputs() == ["refund"]
    assert (await workflow.run([1, 2, 3])).get_outputs() == [6]


async def test_a_list_of_the_wrong_items_is_not_taken() -> None:
    workflow = WorkflowBuilder(start_executor=Desk("desk")).build()
    with pytest.raises(Exception, match="no handler for a list message"):
        await workflow.run(["a"])


class Explicit(Executor):
    @handler(input=int | str, output=str, workflow_output=int)
    async def anything(self, message, ctx):  # type: ignore[no-untyped-def]
        await ctx.send_message(str(message))


def test_explicit_handler_types_replace_introspection() -> None:
    ex = Explicit("explicit")
    assert ex.input_types == [int, str]
    assert ex.output_types == [str]
    assert ex.workflow_output_types == [int]


def test_explicit_types_need_an_input() -> None:
    class NoInput(Executor):
        @handler(output=str)
        async def run(self, message: str, ctx: WorkflowContext[str]) -> None:
            return None

    with pytest.raises(HandlerSignatureError, match="need input="):
        NoInput("x")


def test_bare_and_never_contexts_declare_no_output() -> None:
    class Quiet(Executor):
        @handler
        async def bare(self, message: str, ctx: WorkflowContext) -> None:  # type: ignore[type-arg]
            return None

        @handler
        async def never(self, message: int, ctx: WorkflowContext[Never]) -> None:
            return None

    quiet = Quiet("quiet")
    assert quiet.output_types == [] and quiet.workflow_output_types == []


def test_the_context_is_never_part_of_the_input_types() -> None:
    @executor
    async def with_ctx(text: str, ctx: WorkflowContext[str]) -> None:
        return None

    assert with_ctx.input_types == [str]
    assert with_ctx.output_types == [str]
    assert with_ctx.id == "with_ctx"


async def test_exact_type_handler_wins_over_an_earlier_broader_one() -> None:
    class Picky(Executor):
        @handler
        async def broad(self, message: object, ctx: WorkflowContext[Never, str]) -> None:
            await ctx.yield_output("broad")

        @handler
        async def exact(self, message: int, ctx: WorkflowContext[Never, str]) -> None:
            await ctx.yield_output("exact")

    workflow = WorkflowBuilder(start_executor=Picky("picky")).build()
    assert (await workflow.run(3)).get_outputs() == ["exact"]
    assert (await workflow.run("s")).get_outputs() == ["broad"]


async def test_return_value_is_sent_on_when_there_are_edges_and_yielded_when_terminal() -> None:
    @executor(id="double")
    def double(n: int) -> int:
        return n * 2

    @executor(id="show")
    async def show(n: int) -> str:
        return f"={n}"

    workflow = WorkflowBuilder(start_executor=double).add_edge(double, show).build()
    result = await workflow.run(21)
    assert result.get_outputs() == ["=42"]  # 42 itself went to `show`, not to the outputs


async def test_return_annotation_counts_for_edge_type_checks() -> None:
    @executor(id="gives_int")
    async def gives_int(text: str) -> int:
        return len(text)

    @executor(id="wants_str")
    async def wants_str(text: str) -> None:
        return None

    with pytest.raises(TypeCompatibilityError, match="'gives_int' sends int"):
        WorkflowBuilder(start_executor=gives_int).add_edge(gives_int, wants_str).build()


async def test_a_sync_function_with_a_context_can_use_state() -> None:
    @executor(id="count")
    def count(text: str, ctx: WorkflowContext[Any, int]) -> int:
        ctx.set_state("seen", text)
        return len(text)

    workflow = WorkflowBuilder(start_executor=count).build()
    assert (await workflow.run("four")).get_outputs() == [4]


async def test_none_return_sends_nothing() -> None:
    @executor(id="nothing")
    async def nothing(text: str) -> None:
        return None

    result = await WorkflowBuilder(start_executor=nothing).build().run("x")
    assert result.get_outputs() == []


def test_function_executor_is_still_callable_directly() -> None:
    def shout(text: str) -> str:
        return text.upper()

    ex = FunctionExecutor(shout)
    assert ex.id == "shout"
    assert ex("a") == "A"


def test_unresolvable_annotation_is_a_clear_error() -> None:
    def bad(text: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(HandlerSignatureError, match="cannot resolve the annotations"):
        FunctionExecutor(bad, id="bad")


def test_an_executor_id_must_be_a_non_empty_string() -> None:
    with pytest.raises(HandlerSignatureError, match="non-empty string"):
        Desk("")


def test_function_executor_explicit_types_override_one_thing_each() -> None:
    @executor(id="loose", input=int | str, workflow_output=int)
    async def loose(message, ctx: WorkflowContext[str]):  # type: ignore[no-untyped-def]
        return None

    assert loose.input_types == [int, str]
    assert loose.output_types == [str]  # still from the annotation
    assert loose.workflow_output_types == [int]
