"""build() refuses a wrong graph with an error naming the executors, before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from agentdown.exceptions import ConfigurationError
from agentdown.workflows import (
    Case,
    Default,
    DuplicateExecutorIdError,
    EdgeDuplicationError,
    Executor,
    FunctionExecutor,
    GraphConnectivityError,
    HandlerSignatureError,
    StartExecutorNotInGraphError,
    SwitchCaseDefaultError,
    TypeCompatibilityError,
    UnreachableExecutorError,
    WorkflowBuilder,
    WorkflowContext,
    WorkflowValidationError,
    executor,
    handler,
)


@executor(id="text_source")
async def text_source(text: str) -> str:
    return text


@executor(id="int_source")
async def int_source(text: str) -> int:
    return len(text)


@executor(id="takes_int")
async def takes_int(n: int) -> None:
    return None


@executor(id="takes_str")
async def takes_str(text: str) -> None:
    return None


@executor(id="takes_list")
async def takes_list(items: list[str]) -> None:
    return None


@executor(id="takes_any")
async def takes_any(item: Any) -> None:
    return None


class Numbers(Executor):
    @handler
    async def run(self, text: str, ctx: WorkflowContext[int | float]) -> None:
        await ctx.send_message(len(text))


def test_every_validation_error_is_a_configuration_error() -> None:
    for cls in (
        DuplicateExecutorIdError,
        EdgeDuplicationError,
        TypeCompatibilityError,
        UnreachableExecutorError,
        StartExecutorNotInGraphError,
        SwitchCaseDefaultError,
        HandlerSignatureError,
    ):
        assert issubclass(cls, WorkflowValidationError)
        assert issubclass(cls, ConfigurationError)


def test_duplicate_edge_names_both_executors() -> None:
    builder = WorkflowBuilder(start_executor=text_source).add_edge(text_source, takes_str)
    builder.add_edge(text_source, takes_str)
    with pytest.raises(EdgeDuplicationError, match="'text_source' -> 'takes_str'"):
        builder.build()


def test_duplicate_edge_across_a_fan_out_and_a_single_edge() -> None:
    builder = WorkflowBuilder(start_executor=text_source).add_fan_out_edges(
        text_source, [takes_str, takes_any]
    )
    builder.add_edge(text_source, takes_any)
    with pytest.raises(EdgeDuplicationError, match="takes_any"):
        builder.build()


def test_type_mismatch_names_source_target_and_types() -> None:
    builder = WorkflowBuilder(start_executor=text_source).add_edge(text_source, takes_int)
    with pytest.raises(TypeCompatibilityError, match=r"'text_source' sends str but 'takes_int' accepts int"):
        builder.build()


def test_union_output_is_compatible_when_one_member_is_accepted() -> None:
    numbers = Numbers("numbers")
    WorkflowBuilder(start_executor=numbers).add_edge(numbers, takes_int).build()


def test_any_target_accepts_every_source() -> None:
    WorkflowBuilder(start_executor=int_source).add_edge(int_source, takes_any).build()


def test_fan_in_target_must_accept_a_list() -> None:
    a = FunctionExecutor(lambda text: text, id="a")
    builder = (
        WorkflowBuilder(start_executor=text_source)
        .add_fan_out_edges(text_source, [a, int_source])
        .add_fan_in_edges([a, int_source], takes_str)
    )
    with pytest.raises(TypeCompatibilityError, match=r"fan-in target 'takes_str' must accept a list"):
        builder.build()


def test_fan_in_target_of_list_of_str_accepts_str_sources() -> None:
    upper = FunctionExecutor(_upper, id="upper")
    WorkflowBuilder(start_executor=text_source).add_fan_out_edges(text_source, [upper]).add_fan_in_edges(
        [upper], takes_list
    ).build()


def _upper(text: str) -> str:
    return text.upper()


def test_fan_in_of_ints_into_list_of_str_is_refused() -> None:
    builder = WorkflowBuilder(start_executor=text_source).add_edge(text_source, int_source)
    builder.add_fan_in_edges([int_source], takes_list)
    with pytest.raises(TypeCompatibilityError, match="int_source"):
        builder.build()


def test_unreachable_executor_is_named() -> None:
    builder = WorkflowBuilder(start_executor=text_source).add_edge(text_source, takes_str)
    builder.add_edge(int_source, takes_int)
    with pytest.raises(UnreachableExecutorError, match="'int_source', 'takes_int'"):
        builder.build()


def test_start_executor_without_edges_in_a_graph_of_others() -> None:
    builder = WorkflowBuilder(start_executor=takes_any).add_edge(text_source, takes_str)
    with pytest.raises(StartExecutorNotInGraphError, match="'takes_any'") as info:
        builder.build()
    assert isinstance(info.value, GraphConnectivityError)


def test_a_lone_start_executor_is_a_valid_workflow() -> None:
    workflow = WorkflowBuilder(start_executor=takes_any).build()
    assert list(workflow.executors) == ["takes_any"]


def test_two_executors_with_one_id() -> None:
    other = FunctionExecutor(_upper, id="takes_str")
    builder = WorkflowBuilder(start_executor=text_source).add_edge(text_source, takes_str)
    builder.add_edge(text_source, other)
    with pytest.raises(DuplicateExecutorIdError, match="'takes_str'"):
        builder.build()


def test_switch_case_needs_exactly_one_default() -> None:
    none = WorkflowBuilder(start_executor=text_source).add_switch_case_edge_group(
        text_source, [Case(condition=lambda t: True, target=takes_str)]
    )
    with pytest.raises(SwitchCaseDefaultError, match="0 Default"):
        none.build()
    two = WorkflowBuilder(start_executor=text_source).add_switch_case_edge_group(
        text_source,
        [Case(condition=lambda t: True, target=takes_str), Default(target=takes_any), Default(takes_any)],
    )
    with pytest.raises(SwitchCaseDefaultError, match="2 Default"):
        two.build()


def test_handler_without_a_workflow_context_annotation_is_refused() -> None:
    class Bad(Executor):
        @handler
        async def run(self, text: str, ctx: int) -> None:
            return None

    with pytest.raises(
        HandlerSignatureError, match=r"Bad\.run: the context parameter must be a WorkflowContext"
    ):
        Bad("bad")


def test_handler_with_too_many_parameters_is_refused() -> None:
    with pytest.raises(HandlerSignatureError, match="takes \\(message\\) or \\(message, ctx\\)"):
        FunctionExecutor(lambda a, b, c: None, id="three")


def test_neither_executor_nor_agent_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="neither an Executor nor an agent"):
        WorkflowBuilder(start_executor=object())


def test_max_iterations_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_iterations"):
        WorkflowBuilder(start_executor=text_source, max_iterations=0)
