"""Truncation strategies: auto (token budget), last_messages, tool call/result pairs never split."""

from __future__ import annotations

import pytest

from agentdown.exceptions import ConfigurationError
from agentdown.messages import Content, Message
from agentdown.sessions import (
    DEFAULT_TRUNCATION,
    TruncationStrategy,
    estimate_tokens,
    resolve_truncation,
    truncate,
)
from agentdown.sessions.truncation import TokenCache


def exchange(i: int, results: int = 1) -> list[Message]:
    """An assistant tool call (``results`` calls) and the tool message answering them."""
    calls = [Content.from_tool_call("f", {"i": i}, call_id=f"c{i}_{k}") for k in range(results)]
    answers = [Content.from_tool_result(f"c{i}_{k}", "ok", name="f") for k in range(results)]
    return [Message(role="assistant", contents=calls), Message(role="tool", contents=answers)]


def texts(messages: list[Message]) -> list[str]:
    out = []
    for m in messages:
        if m.tool_calls:
            out.append("call:" + ",".join(str(c.call_id) for c in m.tool_calls))
        elif m.tool_results:
            out.append("result:" + ",".join(str(c.call_id) for c in m.tool_results))
        else:
            out.append(f"{m.role}:{m.text}")
    return out


def test_parse_accepts_the_agents_api_shapes() -> None:
    assert TruncationStrategy.parse({"type": "auto"}) == TruncationStrategy("auto")
    assert TruncationStrategy.parse({"type": "auto", "last_messages": None}) == DEFAULT_TRUNCATION
    parsed = TruncationStrategy.parse({"type": "last_messages", "last_messages": 10})
    assert parsed == TruncationStrategy("last_messages", 10)
    assert parsed.to_dict() == {"type": "last_messages", "last_messages": 10}
    assert parsed.max_messages == 10 and DEFAULT_TRUNCATION.max_messages is None
    assert TruncationStrategy.parse("auto") == DEFAULT_TRUNCATION
    assert TruncationStrategy.parse(parsed) is parsed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"type": "newest"}, r'truncation_strategy.type: expected "auto" or "last_messages", got \'newest\''),
        ({}, r"truncation_strategy.type is required"),
        ({"type": "last_messages"}, r"last_messages: expected an integer >= 1 .* got None"),
        ({"type": "last_messages", "last_messages": 0}, r"expected an integer >= 1 .* got 0"),
        ({"type": "last_messages", "last_messages": "5"}, r"got '5'"),
        ({"type": "last_messages", "last_messages": True}, r"got True"),
        ({"type": "auto", "last_messages": 3}, r'only valid with type "last_messages"'),
        ({"type": "auto", "max_tokens": 3}, r"unknown field\(s\) \['max_tokens'\]"),
        ("last", r"expected an object like"),
        (5, r"expected an object like"),
    ],
)
def test_parse_errors_say_what_was_expected(value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TruncationStrategy.parse(value)


def test_errors_name_where_the_value_came_from() -> None:
    with pytest.raises(ConfigurationError, match=r"^agents/a.agent.md:4 truncation.type"):
        TruncationStrategy.parse({"type": "x"}, where="agents/a.agent.md:4 truncation")
    with pytest.raises(ConfigurationError):
        TruncationStrategy("last_messages")


def test_run_strategy_replaces_the_agents() -> None:
    agent = {"type": "last_messages", "last_messages": 4}
    assert resolve_truncation(None, None) == DEFAULT_TRUNCATION
    assert resolve_truncation(agent, None) == TruncationStrategy("last_messages", 4)
    assert resolve_truncation(agent, {"type": "auto"}) == DEFAULT_TRUNCATION
    with pytest.raises(ConfigurationError, match=r"^run truncation_strategy"):
        resolve_truncation(agent, {"type": "bogus"})


def test_last_messages_keeps_instructions_and_the_newest_n() -> None:
    history = [Message.system("rules"), *(Message.user(str(i)) for i in range(10))]
    kept = truncate(history, TruncationStrategy("last_messages", 3))
    assert texts(kept) == ["system:rules", "user:7", "user:8", "user:9"]
    assert truncate(history, TruncationStrategy("last_messages", 50)) == history


def test_last_messages_never_splits_a_call_from_its_results() -> None:
    history = [Message.user("q"), *exchange(1), *exchange(2), Message.assistant("done")]
    # 3 newest = result c2, answer... the cut would fall between call c2 and its result: the pair goes.
    assert texts(truncate(history, TruncationStrategy("last_messages", 2))) == ["assistant:done"]
    assert texts(truncate(history, TruncationStrategy("last_messages", 3))) == [
        "call:c2_0",
        "result:c2_0",
        "assistant:done",
    ]


def test_the_newest_group_is_kept_even_when_it_alone_exceeds_the_bound() -> None:
    history = [Message.user("q"), *exchange(1, results=3)]
    assert texts(truncate(history, TruncationStrategy("last_messages", 1))) == [
        "call:c1_0,c1_1,c1_2",
        "result:c1_0,c1_1,c1_2",
    ]
    big = [Message.user("x" * 4000)]
    assert truncate(big, DEFAULT_TRUNCATION, max_input_tokens=10) == big


def test_results_spread_over_several_messages_stay_with_their_call() -> None:
    call = Message(
        role="assistant",
        contents=[Content.from_tool_call("f", {}, call_id="a"), Content.from_tool_call("f", {}, call_id="b")],
    )
    first = Message(role="tool", contents=[Content.from_tool_result("a", "1")])
    second = Message(role="tool", contents=[Content.from_tool_result("b", "2")])
    history = [Message.user("q"), call, first, Message.user("interjection"), second, Message.assistant("end")]
    kept = truncate(history, TruncationStrategy("last_messages", 2))
    assert texts(kept) == ["assistant:end"]
    kept = truncate(history, TruncationStrategy("last_messages", 5))
    assert texts(kept) == ["call:a,b", "result:a", "user:interjection", "result:b", "assistant:end"]


def test_a_window_never_starts_with_orphaned_results() -> None:
    # The history was already cut before its first call (e.g. loaded mid-way): the result goes too.
    history = [
        Message(role="tool", contents=[Content.from_tool_result("gone", "x")]),
        Message.user("q"),
        Message.assistant("a"),
    ]
    assert texts(truncate(history, TruncationStrategy("last_messages", 10))) == ["user:q", "assistant:a"]
    assert texts(truncate(history, DEFAULT_TRUNCATION)) == ["user:q", "assistant:a"]


def test_auto_fits_the_token_budget_keeping_the_newest() -> None:
    history = [Message.system("s" * 40), *(Message.user(f"{i:02d}" + "x" * 38) for i in range(20))]
    per_message = estimate_tokens(history[1])
    assert per_message == 4 + 10
    budget = estimate_tokens(history[0]) + 5 * per_message + 3
    kept = truncate(history, DEFAULT_TRUNCATION, max_input_tokens=budget)
    assert [m.text[:2] for m in kept[1:]] == ["15", "16", "17", "18", "19"] and kept[0].role == "system"
    kept = truncate(history, DEFAULT_TRUNCATION, max_input_tokens=budget, reserved_tokens=2 * per_message)
    assert [m.text[:2] for m in kept[1:]] == ["17", "18", "19"]
    assert truncate(history, DEFAULT_TRUNCATION) == history  # the default budget holds it all


def test_auto_drops_a_tool_pair_whole_when_it_does_not_fit() -> None:
    history = [Message.user("q"), *exchange(1), Message.user("next")]
    pair_cost = sum(estimate_tokens(m) for m in history[1:3])
    budget = estimate_tokens(history[3]) + pair_cost - 1
    assert texts(truncate(history, DEFAULT_TRUNCATION, max_input_tokens=budget)) == ["user:next"]
    budget += 1
    assert texts(truncate(history, DEFAULT_TRUNCATION, max_input_tokens=budget)) == [
        "call:c1_0",
        "result:c1_0",
        "user:next",
    ]


def test_a_pluggable_counter_is_used() -> None:
    history = [Message.user(str(i)) for i in range(10)]
    kept = truncate(history, DEFAULT_TRUNCATION, max_input_tokens=300, count_tokens=lambda m: 100)
    assert texts(kept) == ["user:7", "user:8", "user:9"]
    with pytest.raises(ValueError, match="max_input_tokens"):
        truncate(history, DEFAULT_TRUNCATION, max_input_tokens=0)


def test_estimate_counts_arguments_results_and_media() -> None:
    call = Message(role="assistant", contents=[Content.from_tool_call("name", {"k": "v" * 100})])
    assert estimate_tokens(call) > 25
    raw = Message(role="assistant", contents=[Content.from_tool_call("n", None, raw_arguments="{" * 400)])
    assert estimate_tokens(raw) >= 100
    image = Message(role="user", contents=[Content.from_data(b"x" * 100_000, "image/png")])
    assert estimate_tokens(image) == 4 + 256
    nested = Message(
        role="tool", contents=[Content.from_tool_result("c", "ok", items=[Content.from_uri("https://x")])]
    )
    assert estimate_tokens(nested) >= 4 + 256


def test_truncate_does_not_modify_its_input() -> None:
    history = [Message.user(str(i)) for i in range(5)]
    before = list(history)
    truncate(history, TruncationStrategy("last_messages", 2))
    assert history == before
    assert truncate([], DEFAULT_TRUNCATION) == []


class Watched(list[Message]):
    """A history that records which positions were read."""

    def __init__(self, messages: list[Message]) -> None:
        super().__init__(messages)
        self.read: set[int] = set()

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if isinstance(index, slice):
            self.read.update(range(*index.indices(len(self))))
        else:
            self.read.add(index % len(self))
        return super().__getitem__(index)


def long_history(turns: int) -> list[Message]:
    out = [Message.system("rules")]
    for i in range(turns):
        out += [Message.user(f"q{i}"), *exchange(i), Message.assistant(f"a{i}")]
    return out


def test_truncate_reads_only_the_window_not_the_whole_history() -> None:
    history = Watched(long_history(5_000))  # 20,001 messages
    kept = truncate(history, TruncationStrategy("last_messages", 4))
    assert texts(kept) == ["system:rules", "user:q4999", "call:c4999_0", "result:c4999_0", "assistant:a4999"]
    # The system message, the window, and the one message that showed the window was full.
    assert len(history.read) <= 1 + 5 + 1, sorted(history.read)

    history = Watched(long_history(5_000))
    three_turns = sum(estimate_tokens(m) for m in history[-12:])
    history.read.clear()
    kept = truncate(history, DEFAULT_TRUNCATION, max_input_tokens=estimate_tokens(history[0]) + three_turns)
    assert len(kept) == 1 + 3 * 4
    assert len(history.read) <= 1 + 3 * 4 + 4


def test_a_reused_call_id_does_not_glue_exchanges_together() -> None:
    # Some servers number calls per response ("call_0" every time): each call still goes with
    # the result that follows it, not with every exchange that reuses the id.
    def reused(i: int) -> list[Message]:
        call = Content.from_tool_call("f", {"i": i}, call_id="call_0")
        return [
            Message(role="assistant", contents=[call]),
            Message(role="tool", contents=[Content.from_tool_result("call_0", f"r{i}")]),
        ]

    history = [Message.user("q"), *reused(1), Message.assistant("a1"), *reused(2), Message.assistant("a2")]
    kept = truncate(history, TruncationStrategy("last_messages", 3))
    assert texts(kept) == ["call:call_0", "result:call_0", "assistant:a2"]
    assert kept[1].contents[0].text == "r2"


def test_an_orphaned_result_inside_the_window_does_not_drop_what_precedes_it() -> None:
    history = [
        Message.user("first"),
        Message(role="tool", contents=[Content.from_tool_result("gone", "x")]),
        Message.user("second"),
    ]
    assert truncate(history, TruncationStrategy("last_messages", 10)) == history
    assert truncate(history, DEFAULT_TRUNCATION) == history


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, message: Message) -> int:
        self.calls += 1
        return estimate_tokens(message)


def test_the_cache_counts_a_message_once_while_it_is_unchanged() -> None:
    counter = Counting()
    cache = TokenCache(counter)
    call = exchange(1)[0]
    text = Message.user("hello")
    for _ in range(3):
        assert cache(call) == estimate_tokens(call)
        assert cache(text) == estimate_tokens(text)
    assert counter.calls == 2 and len(cache) == 2
    assert truncate([text, call], DEFAULT_TRUNCATION, count_tokens=cache) == [text, call]
    assert counter.calls == 2


def test_a_mutated_message_is_counted_again() -> None:
    counter = Counting()
    cache = TokenCache(counter)
    message = Message(
        role="assistant", contents=[Content.from_tool_call("f", {"city": "Paris"}, call_id="c")]
    )
    first = cache(message)
    message.contents[0].arguments["city"] = "Paris, Texas, United States"  # type: ignore[index]
    assert cache(message) == estimate_tokens(message) > first
    message.contents.append(Content.from_text("and some words " * 20))
    assert cache(message) == estimate_tokens(message)
    message.contents[1].text = "short"
    assert cache(message) == estimate_tokens(message)
    message.role = "user"
    cache(message)
    assert counter.calls == 5


def test_messages_a_snapshot_cannot_capture_are_never_cached() -> None:
    counter = Counting()
    cache = TokenCache(counter)
    nested = Message(
        role="assistant", contents=[Content.from_tool_call("f", {"cities": ["Paris"]}, call_id="c")]
    )
    before = cache(nested)
    nested.contents[0].arguments["cities"].append("A much longer city name")  # type: ignore[index]
    assert cache(nested) == estimate_tokens(nested) > before
    assert counter.calls == 2 and len(cache) == 0


def test_plain_text_is_estimated_directly_by_the_default_cache() -> None:
    cache = TokenCache()
    message = Message.user("hello there")
    assert cache(message) == estimate_tokens(message)
    message.contents[0].text = "hello there, and a much longer text than before"
    assert cache(message) == estimate_tokens(message)
    assert len(cache) == 0  # checking an entry would cost more than estimating


def test_an_empty_token_cache_is_still_the_counter_used() -> None:
    """A TokenCache with no entries yet is falsy (len 0); truncate must use it, not the default."""
    seen: list[Message] = []

    def counter(message: Message) -> int:
        seen.append(message)
        return 1_000

    cache = TokenCache(counter)
    history = [Message.user(f"m{i}") for i in range(10)]
    kept = truncate(history, TruncationStrategy("auto"), max_input_tokens=3_000, count_tokens=cache)
    assert [m.text for m in kept] == ["m7", "m8", "m9"]
    assert seen and len(cache) > 0


def test_the_plain_text_fast_path_cuts_where_the_counter_would() -> None:
    """The default estimate is computed inline for plain text: the same cut as calling a counter."""
    import random

    rng = random.Random(7)
    for _ in range(200):
        history: list[Message] = [Message.system("sys")] if rng.random() < 0.5 else []
        for i in range(rng.randint(0, 30)):
            kind = rng.random()
            if kind < 0.6:
                history.append(Message.user("u" * rng.randint(0, 400)))
            elif kind < 0.8:
                history.extend(exchange(i, results=rng.randint(1, 2)))
            elif kind < 0.9:
                history.append(
                    Message(role="user", contents=[Content.from_text("a"), Content.from_text("b")])
                )
            else:
                history.append(
                    Message(role="tool", contents=[Content.from_tool_result(f"gone{i}", "orphan")])
                )
        budget = rng.randint(1, 2_000)
        for strategy in (TruncationStrategy("auto"), TruncationStrategy("last_messages", rng.randint(1, 9))):
            fast = truncate(history, strategy, max_input_tokens=budget)
            cached = truncate(history, strategy, max_input_tokens=budget, count_tokens=TokenCache())
            slow = truncate(
                history, strategy, max_input_tokens=budget, count_tokens=lambda m: estimate_tokens(m)
            )
            assert [id(m) for m in fast] == [id(m) for m in slow] == [id(m) for m in cached]
