"""Supersteps: who runs when, what each step sees, how messages route, how a run ends or fails."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from agentdown.workflows import (
    Case,
    Default,
    Executor,
    FunctionExecutor,
    UnhandledMessageError,
    WorkflowAlreadyRunningError,
    WorkflowBuilder,
    WorkflowContext,
    WorkflowConvergenceError,
    WorkflowEvent,
    WorkflowRunError,
    WorkflowRunState,
    executor,
    handler,
)


@dataclass
class Count:
    n: int


class Looper(Executor):
    """Sends n+1 to itself until n reaches the limit, then yields n."""

    def __init__(self, id: str, limit: int) -> None:
        super().__init__(id)
        self.limit = limit

    @handler
    async def step(self, message: Count, ctx: WorkflowContext[Count, int]) -> None:
        if message.n >= self.limit:
            await ctx.yield_output(message.n)
        else:
            await ctx.send_message(Count(message.n + 1))


async def test_a_cycle_runs_one_superstep_per_hop() -> None:
    looper = Looper("looper", limit=5)
    workflow = WorkflowBuilder(start_executor=looper).add_edge(looper, looper).build()
    result = await workflow.run(Count(0))
    assert result.get_outputs() == [5]
    assert [e.iteration for e in result if e.type == "superstep_completed"] == [1, 2, 3, 4, 5, 6]


async def test_a_cycle_beyond_max_iterations_fails_the_run() -> None:
    looper = Looper("looper", limit=1000)
    workflow = WorkflowBuilder(start_executor=looper, max_iterations=10).add_edge(looper, looper).build()
    events: list[WorkflowEvent] = []
    with pytest.raises(WorkflowConvergenceError, match="max_iterations=10"):
        async for event in workflow.run(Count(0), stream=True):
            events.append(event)
    assert sum(1 for e in events if e.type == "superstep_started") == 10
    assert [e.type for e in events[-2:]] == ["failed", "status"]
    assert events[-1].state is WorkflowRunState.FAILED
    assert events[-2].details is not None and events[-2].details.error_type == "WorkflowConvergenceError"


async def test_state_written_in_a_step_is_seen_by_the_next_step_only() -> None:
    seen: dict[str, Any] = {}

    @executor(id="writer")
    async def writer(text: str, ctx: WorkflowContext[str]) -> None:
        ctx.set_state("k", {"v": 1})
        seen["writer_own"] = ctx.get_state("k")
        await ctx.send_message(text)

    @executor(id="sibling")
    async def sibling(text: str, ctx: WorkflowContext[str]) -> None:
        seen["sibling_same_step"] = ctx.get_state("k", "unset")

    @executor(id="reader")
    async def reader(text: str, ctx: WorkflowContext[str]) -> None:
        seen["reader_next_step"] = ctx.get_state("k")

    @executor(id="start")
    async def start(text: str) -> str:
        return text

    workflow = (
        WorkflowBuilder(start_executor=start)
        .add_fan_out_edges(start, [writer, sibling])
        .add_edge(writer, reader)
        .build()
    )
    await workflow.run("x")
    assert seen == {"writer_own": {"v": 1}, "sibling_same_step": "unset", "reader_next_step": {"v": 1}}


async def test_state_values_are_copies() -> None:
    @executor(id="mutator")
    async def mutator(items: list[int], ctx: WorkflowContext[list[int]]) -> None:
        ctx.set_state("items", items)
        items.append(99)  # after set_state: must not reach the state
        got = ctx.get_state("items")
        got.append(100)  # mutating what get_state returned must not either
        await ctx.send_message(items)

    @executor(id="check")
    async def check(items: list[int], ctx: WorkflowContext[Any, Any]) -> None:
        await ctx.yield_output(ctx.get_state("items"))

    workflow = WorkflowBuilder(start_executor=mutator).add_edge(mutator, check).build()
    assert (await workflow.run([1, 2])).get_outputs() == [[1, 2]]


async def test_messages_of_one_step_run_concurrently() -> None:
    both_started = asyncio.Event()
    arrived = 0

    async def wait_for_peer(text: str) -> str:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), timeout=5)
        return text

    a, b = FunctionExecutor(wait_for_peer, id="a"), FunctionExecutor(wait_for_peer, id="b")
    start = FunctionExecutor(_identity, id="start")
    workflow = WorkflowBuilder(start_executor=start).add_fan_out_edges(start, [a, b]).build()
    result = await workflow.run("go")
    assert sorted(result.get_outputs()) == ["go", "go"]


def _identity(text: str) -> str:
    return text


async def test_sync_functions_run_off_the_event_loop_thread() -> None:
    loop_thread = threading.get_ident()

    def blocking(text: str) -> int:
        return threading.get_ident()

    workflow = WorkflowBuilder(start_executor=FunctionExecutor(blocking, id="blocking")).build()
    [thread_id] = (await workflow.run("x")).get_outputs()
    assert thread_id != loop_thread


async def test_one_target_handles_its_messages_in_send_order() -> None:
    order: list[int] = []

    @executor(id="burst")
    async def burst(n: int, ctx: WorkflowContext[int]) -> None:
        for i in range(n):
            await ctx.send_message(i)

    @executor(id="sink")
    async def sink(i: int) -> None:
        await asyncio.sleep(0.001 * (5 - i))  # later messages are quicker: order must still hold
        order.append(i)

    workflow = WorkflowBuilder(start_executor=burst).add_edge(burst, sink).build()
    result = await workflow.run(5)
    assert order == [0, 1, 2, 3, 4]
    assert sum(1 for e in result if e.type == "superstep_started") == 2


async def test_fan_in_waits_for_every_source_and_keeps_source_order() -> None:
    @executor(id="split")
    async def split(text: str) -> str:
        return text

    @executor(id="slow")
    async def slow(text: str) -> str:
        await asyncio.sleep(0.01)
        return f"slow:{text}"

    @executor(id="fast")
    async def fast(text: str) -> str:
        return f"fast:{text}"

    @executor(id="join")
    async def join(parts: list[str], ctx: WorkflowContext[Any, str]) -> None:
        await ctx.yield_output("+".join(parts))
        await ctx.yield_output(",".join(ctx.source_executor_ids))

    workflow = (
        WorkflowBuilder(start_executor=split)
        .add_fan_out_edges(split, [slow, fast])
        .add_fan_in_edges([slow, fast], join)
        .build()
    )
    assert (await workflow.run("x")).get_outputs() == ["slow:x+fast:x", "slow,fast"]


async def test_fan_in_buffers_across_supersteps_until_every_source_sent() -> None:
    @executor(id="split")
    async def split(text: str) -> str:
        return text

    @executor(id="direct")
    async def direct(text: str) -> str:
        return "direct"

    @executor(id="hop1")
    async def hop1(text: str) -> str:
        return text

    @executor(id="hop2")
    async def hop2(text: str) -> str:
        return "two hops"

    @executor(id="join")
    async def join(parts: list[str]) -> str:
        return " & ".join(parts)

    workflow = (
        WorkflowBuilder(start_executor=split)
        .add_fan_out_edges(split, [direct, hop1])
        .add_edge(hop1, hop2)
        .add_fan_in_edges([direct, hop2], join)
        .build()
    )
    assert (await workflow.run("x")).get_outputs() == ["direct & two hops"]


async def test_fan_out_delivers_only_to_targets_that_accept_the_type() -> None:
    got: list[str] = []

    @executor(id="start")
    async def start(text: str) -> str:
        return text

    @executor(id="for_str")
    async def for_str(text: str) -> None:
        got.append("str")

    @executor(id="for_int")
    async def for_int(n: int) -> None:
        got.append("int")

    @executor(id="for_any")
    async def for_any(x: Any) -> None:
        got.append("any")

    # for_int cannot take a str: fan-out skips it (as in MAF) but validation needs some overlap,
    # so its edge is typed through a union-sending source.
    class Either(Executor):
        @handler
        async def run(self, text: str, ctx: WorkflowContext[str | int]) -> None:
            await ctx.send_message(text)

    either = Either("either")
    workflow = (
        WorkflowBuilder(start_executor=either).add_fan_out_edges(either, [for_str, for_int, for_any]).build()
    )
    await workflow.run("x")
    assert sorted(got) == ["any", "str"]


async def test_conditional_edges_sync_and_async() -> None:
    async def is_long(text: str) -> bool:
        return len(text) > 3

    @executor(id="start")
    async def start(text: str) -> str:
        return text

    @executor(id="long")
    async def long(text: str) -> str:
        return f"long:{text}"

    @executor(id="short")
    async def short(text: str) -> str:
        return f"short:{text}"

    workflow = (
        WorkflowBuilder(start_executor=start)
        .add_edge(start, long, condition=is_long)
        .add_edge(start, short, condition=lambda t: len(t) <= 3)
        .build()
    )
    assert (await workflow.run("hello")).get_outputs() == ["long:hello"]
    assert (await workflow.run("hi")).get_outputs() == ["short:hi"]


async def test_switch_case_first_true_case_wins_else_default() -> None:
    @executor(id="start")
    async def start(n: int) -> int:
        return n

    def named(name: str) -> FunctionExecutor:
        async def tag(n: int) -> str:
            return name

        return FunctionExecutor(tag, id=name)

    big, positive, other = named("big"), named("positive"), named("other")
    workflow = (
        WorkflowBuilder(start_executor=start)
        .add_switch_case_edge_group(
            start,
            [
                Case(condition=lambda n: n > 100, target=big),
                Case(condition=lambda n: n > 0, target=positive),
                Default(target=other),
            ],
        )
        .build()
    )
    assert (await workflow.run(500)).get_outputs() == ["big"]
    assert (await workflow.run(5)).get_outputs() == ["positive"]
    assert (await workflow.run(-1)).get_outputs() == ["other"]
    group = workflow.edge_groups[0]
    assert group.kind == "switch_case"
    assert [e.target_id for e in group.edges] == ["big", "positive", "other"]
    assert group.edges[0].condition is not None and group.edges[2].condition is None


async def test_multi_selection_delivers_to_the_chosen_targets() -> None:
    @executor(id="start")
    async def start(text: str) -> str:
        return text

    outs = [FunctionExecutor(_tagger(name), id=name) for name in ("a", "b", "c")]
    workflow = (
        WorkflowBuilder(start_executor=start)
        .add_multi_selection_edge_group(
            start, outs, selection_func=lambda msg, ids: [i for i in ids if i in msg]
        )
        .build()
    )
    assert sorted((await workflow.run("ac")).get_outputs()) == ["a", "c"]


def _tagger(name: str) -> Any:
    async def tag(text: str) -> str:
        return name

    return tag


async def test_a_selection_of_an_unknown_target_fails_the_run() -> None:
    @executor(id="start")
    async def start(text: str) -> str:
        return text

    target = FunctionExecutor(_tagger("a"), id="a")
    workflow = (
        WorkflowBuilder(start_executor=start)
        .add_multi_selection_edge_group(start, [target], selection_func=lambda msg, ids: ["nope"])
        .build()
    )
    with pytest.raises(WorkflowRunError, match="chose \\['nope'\\]"):
        await workflow.run("x")


async def test_add_chain_connects_in_order() -> None:
    steps = [FunctionExecutor(_appender(c), id=c) for c in "abc"]
    workflow = WorkflowBuilder(start_executor=steps[0]).add_chain(steps).build()
    assert (await workflow.run("")).get_outputs() == ["abc"]


def _appender(c: str) -> Any:
    async def append(text: str) -> str:
        return text + c

    return append


async def test_a_message_no_handler_takes_is_an_error_event_and_a_failed_run() -> None:
    class Sloppy(Executor):
        # Declares nothing, so build() cannot know what it sends.
        @handler
        async def run(self, text: str, ctx: WorkflowContext) -> None:  # type: ignore[type-arg]
            await ctx.send_message(42)

    sloppy = Sloppy("sloppy")
    workflow = (
        WorkflowBuilder(start_executor=sloppy)
        .add_edge(sloppy, FunctionExecutor(_identity, id="wants_str"))
        .build()
    )
    events: list[WorkflowEvent] = []
    with pytest.raises(
        UnhandledMessageError, match="'wants_str' has no handler for a int message from 'sloppy'"
    ):
        async for event in workflow.run("x", stream=True):
            events.append(event)
    errors = [e for e in events if e.type == "error"]
    assert len(errors) == 1 and errors[0].executor_id == "wants_str"
    assert events[-1].state is WorkflowRunState.FAILED


async def test_the_run_input_must_suit_the_start_executor() -> None:
    workflow = WorkflowBuilder(start_executor=FunctionExecutor(_identity, id="wants_str")).build()
    with pytest.raises(UnhandledMessageError, match="'wants_str' has no handler for a int message"):
        await workflow.run(7)


async def test_an_executor_exception_fails_the_run_with_executor_failed_then_failed() -> None:
    @executor(id="boom")
    async def boom(text: str) -> None:
        raise ValueError("kaput")

    workflow = WorkflowBuilder(start_executor=boom).build()
    events: list[WorkflowEvent] = []
    with pytest.raises(ValueError, match="kaput"):
        async for event in workflow.run("x", stream=True):
            events.append(event)
    kinds = [e.type for e in events]
    assert kinds.index("executor_failed") < kinds.index("failed")
    failed = next(e for e in events if e.type == "executor_failed")
    assert failed.executor_id == "boom" and failed.details is not None and failed.details.message == "kaput"


async def test_a_failing_executor_cancels_its_step_siblings() -> None:
    cancelled = asyncio.Event()

    @executor(id="start")
    async def start(text: str) -> str:
        return text

    @executor(id="fails")
    async def fails(text: str) -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("fails")

    @executor(id="hangs")
    async def hangs(text: str) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    workflow = WorkflowBuilder(start_executor=start).add_fan_out_edges(start, [fails, hangs]).build()
    with pytest.raises(RuntimeError, match="fails"):
        await asyncio.wait_for(workflow.run("x"), timeout=5)
    assert cancelled.is_set()


async def test_a_second_concurrent_run_is_refused() -> None:
    gate = asyncio.Event()

    @executor(id="wait")
    async def wait(text: str) -> str:
        await gate.wait()
        return text

    workflow = WorkflowBuilder(start_executor=wait).build()
    first = asyncio.ensure_future(workflow.run("a"))
    await asyncio.sleep(0)
    with pytest.raises(WorkflowAlreadyRunningError, match="one run at a time"):
        await workflow.run("b")
    gate.set()
    assert (await first).get_outputs() == ["a"]
    assert (await workflow.run("c")).get_outputs() == ["c"]  # free again once the first ended


async def test_streaming_yields_events_as_they_happen_and_a_final_result() -> None:
    gate = asyncio.Event()

    @executor(id="first")
    async def first(text: str, ctx: WorkflowContext[str, str]) -> None:
        await ctx.yield_output("early")
        await ctx.send_message(text)

    @executor(id="second")
    async def second(text: str) -> str:
        await gate.wait()
        return "late"

    workflow = WorkflowBuilder(start_executor=first).add_edge(first, second).build()
    stream = workflow.run("x", stream=True)
    seen: list[Any] = []
    async for event in stream:
        if event.type == "output":
            seen.append(event.data)
            if event.data == "early":
                gate.set()  # the second step has not finished: the event came out first
    assert seen == ["early", "late"]
    result = await stream.get_final_response()
    assert result.get_outputs() == ["early", "late"]
    assert result.get_final_state() is WorkflowRunState.IDLE


async def test_leaving_a_stream_early_cancels_the_run_and_frees_the_workflow() -> None:
    cancelled = asyncio.Event()

    @executor(id="forever")
    async def forever(text: str) -> str:
        if text == "quick":
            return text
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return text

    workflow = WorkflowBuilder(start_executor=forever).build()
    async for event in workflow.run("slow", stream=True):
        if event.type == "executor_invoked":
            break
    # The stream is gone: the next run starts at once and the abandoned one is cancelled.
    assert (await workflow.run("quick")).get_outputs() == ["quick"]
    await asyncio.wait_for(cancelled.wait(), timeout=5)


async def test_a_stream_still_held_keeps_the_run_until_it_is_closed() -> None:
    gate = asyncio.Event()

    @executor(id="waits")
    async def waits(text: str) -> str:
        await gate.wait()
        return text

    workflow = WorkflowBuilder(start_executor=waits).build()
    stream = workflow.run("held", stream=True)
    events: list[WorkflowEvent] = []
    async for event in stream:
        events.append(event)
        if event.type == "executor_invoked":
            break
    with pytest.raises(WorkflowAlreadyRunningError, match="aclose"):
        await workflow.run("other")
    await stream.aclose()
    gate.set()
    assert (await workflow.run("other")).get_outputs() == ["other"]


async def test_status_events_are_kept_aside_unless_asked_for() -> None:
    workflow = WorkflowBuilder(start_executor=FunctionExecutor(_identity, id="echo")).build()
    plain = await workflow.run("x")
    assert "status" not in [e.type for e in plain]
    assert [e.state for e in plain.status_timeline()] == [WorkflowRunState.IN_PROGRESS, WorkflowRunState.IDLE]
    full = await workflow.run("x", include_status_events=True)
    assert [e.type for e in full][:2] == ["started", "status"]


async def test_output_from_and_intermediate_output_from_label_the_yields() -> None:
    @executor(id="draft")
    async def draft(text: str) -> str:
        return text + " draft"

    @executor(id="final")
    async def final(text: str, ctx: WorkflowContext[Any, str]) -> None:
        await ctx.yield_output(text + " final")

    @executor(id="side")
    async def side(text: str, ctx: WorkflowContext[Any, str]) -> None:
        await ctx.yield_output("side")

    class Noter(Executor):
        @handler
        async def run(self, text: str, ctx: WorkflowContext[str, str]) -> None:
            await ctx.yield_output("note")
            await ctx.send_message(text)

    noter = Noter("noter")
    workflow = (
        WorkflowBuilder(start_executor=noter, output_from=[final], intermediate_output_from=[noter])
        .add_edge(noter, draft)
        .add_fan_out_edges(draft, [final, side])
        .build()
    )
    result = await workflow.run("x")
    assert result.get_outputs() == ["x draft final"]
    assert result.get_intermediate_outputs() == ["note"]


async def test_custom_events_from_executors_reach_the_stream_but_reserved_types_do_not() -> None:
    @executor(id="chatty")
    async def chatty(text: str, ctx: WorkflowContext[Any, Any]) -> None:
        await ctx.add_event(WorkflowEvent.warning("careful"))
        await ctx.add_event(WorkflowEvent("output", "sneaky"))

    result = await WorkflowBuilder(start_executor=chatty).build().run("x")
    warnings = [e.data for e in result if e.type == "warning"]
    assert warnings[0] == "careful"
    assert "only the engine emits" in warnings[1]
    assert result.get_outputs() == []


async def test_send_message_to_a_target_without_an_edge_fails() -> None:
    @executor(id="start")
    async def start(text: str, ctx: WorkflowContext[str]) -> None:
        await ctx.send_message(text, target_id="elsewhere")

    workflow = (
        WorkflowBuilder(start_executor=start).add_edge(start, FunctionExecutor(_identity, id="next")).build()
    )
    with pytest.raises(WorkflowRunError, match="sent a message to 'elsewhere', but has no edge to it"):
        await workflow.run("x")


async def test_send_message_with_target_id_picks_one_of_the_targets() -> None:
    @executor(id="start")
    async def start(text: str, ctx: WorkflowContext[str]) -> None:
        await ctx.send_message(text, target_id="b")

    a, b = FunctionExecutor(_tagger("a"), id="a"), FunctionExecutor(_tagger("b"), id="b")
    workflow = WorkflowBuilder(start_executor=start).add_fan_out_edges(start, [a, b]).build()
    assert (await workflow.run("x")).get_outputs() == ["b"]


async def test_a_send_from_a_terminal_executor_is_a_warning_not_a_silent_drop() -> None:
    @executor(id="lonely")
    async def lonely(text: str, ctx: WorkflowContext[str]) -> None:
        await ctx.send_message(text)

    result = await WorkflowBuilder(start_executor=lonely).build().run("x")
    [warning] = [e for e in result if e.type == "warning"]
    assert "'lonely' sent a str message but has no outgoing edges" in warning.data


async def test_a_run_after_a_failed_run_does_not_see_its_leftover_messages() -> None:
    calls: list[str] = []

    @executor(id="start")
    async def start(text: str) -> str:
        return text

    @executor(id="flaky")
    async def flaky(text: str) -> None:
        if text == "fail":
            raise RuntimeError("flaky")

    @executor(id="steady")
    async def steady(text: str) -> str:
        return text

    @executor(id="after")
    async def after(text: str) -> None:
        calls.append(text)

    workflow = (
        WorkflowBuilder(start_executor=start)
        .add_fan_out_edges(start, [flaky, steady])
        .add_edge(steady, after)
        .build()
    )
    with pytest.raises(RuntimeError, match="flaky"):
        await workflow.run("fail")
    await workflow.run("ok")
    assert calls == ["ok"]  # "fail", which `steady` had sent on, was discarded with its run


async def test_a_raising_condition_fails_the_run_naming_the_edge() -> None:
    @executor(id="start")
    async def start(text: str) -> str:
        return text

    def broken(text: str) -> bool:
        raise KeyError("missing")

    workflow = (
        WorkflowBuilder(start_executor=start)
        .add_edge(start, FunctionExecutor(_identity, id="next"), condition=broken)
        .build()
    )
    with pytest.raises(
        WorkflowRunError, match="condition of the edge 'start' -> 'next' raised KeyError"
    ) as info:
        await workflow.run("x")
    assert isinstance(info.value.__cause__, KeyError)


async def test_an_awaited_stream_is_the_stream() -> None:
    workflow = WorkflowBuilder(start_executor=FunctionExecutor(_identity, id="echo")).build()
    stream = await workflow.run("x", stream=True)
    assert [e.data for e in [event async for event in stream] if e.type == "output"] == ["x"]


async def test_each_type_goes_to_the_edge_whose_target_takes_it() -> None:
    class Splitter(Executor):
        @handler
        async def run(self, text: str, ctx: WorkflowContext[str | int]) -> None:
            await ctx.send_message(text)
            await ctx.send_message(len(text))

    @executor(id="texts")
    async def texts(text: str) -> str:
        return f"text {text}"

    @executor(id="numbers")
    async def numbers(n: int) -> str:
        return f"number {n}"

    splitter = Splitter("splitter")
    workflow = (
        WorkflowBuilder(start_executor=splitter).add_edge(splitter, texts).add_edge(splitter, numbers).build()
    )
    assert sorted((await workflow.run("abc")).get_outputs()) == ["number 3", "text abc"]
