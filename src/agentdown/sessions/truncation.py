"""Which part of a conversation a model call sees: the Azure AI Agents ``TruncationObject``.

Two strategies, parsed from the same JSON the Agents API uses:

* ``{"type": "auto"}``: keep the instructions and as many of the most recent
  messages as fit a token budget (``max_input_tokens`` minus ``reserved_tokens``).
* ``{"type": "last_messages", "last_messages": N}``: keep the instructions and the
  N most recent messages.

"The instructions" are the system messages at the start of the list (the run loop
puts the agent's instructions there); they are always kept and do not count toward
N. A tool call and its results are never separated: they form one group that is kept
or dropped whole, a window never starts with results whose call was cut, and the
newest group is always kept (a model call needs something to answer), even when it
alone exceeds the bound (unless it is such an orphaned result).

Per agent and per run: :func:`resolve_truncation` gives the run's strategy if it has
one, else the agent's, else ``auto``; a run's strategy replaces the agent's whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentdown.exceptions import ConfigurationError
from agentdown.messages import Content, Message

__all__ = [
    "DEFAULT_MAX_INPUT_TOKENS",
    "DEFAULT_TRUNCATION",
    "TokenCache",
    "TokenCounter",
    "TruncationStrategy",
    "estimate_tokens",
    "resolve_truncation",
    "truncate",
]

TokenCounter = Callable[[Message], int]
"""Tokens one message costs in a model request."""

DEFAULT_MAX_INPUT_TOKENS = 32_000
"""The ``auto`` budget when the model's context window is not known."""

MESSAGE_OVERHEAD_TOKENS = 4
"""Per-message framing (role, separators) in the estimate."""

MEDIA_TOKENS = 256
"""Flat estimate for an image or other binary/URI content."""

_TYPES = ("auto", "last_messages")


@dataclass(frozen=True, slots=True)
class TruncationStrategy:
    """How to cut the history before a model call (the Agents API ``TruncationObject``)."""

    type: Literal["auto", "last_messages"] = "auto"
    """``auto``: fit a token budget; ``last_messages``: keep the ``last_messages`` newest messages."""
    last_messages: int | None = None
    """How many messages ``last_messages`` keeps (>= 1); must be unset for ``auto``."""

    def __post_init__(self) -> None:
        _check(self.type, self.last_messages, "truncation_strategy")

    @classmethod
    def parse(cls, value: Any, *, where: str = "truncation_strategy") -> TruncationStrategy:
        """From ``{"type": ...}``, the string ``"auto"`` or a strategy; errors name ``where``."""
        if isinstance(value, TruncationStrategy):
            return value
        if value == "auto":
            return cls("auto")
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f'{where}: expected an object like {{"type": "auto"}} or '
                f'{{"type": "last_messages", "last_messages": 10}}, got {value!r}'
            )
        unknown = sorted(set(value) - {"type", "last_messages"})
        if unknown:
            raise ConfigurationError(f"{where}: unknown field(s) {unknown}; expected type and last_messages")
        if "type" not in value:
            raise ConfigurationError(f'{where}.type is required: "auto" or "last_messages"')
        kind, count = value["type"], value.get("last_messages")
        _check(kind, count, where)
        return cls(kind, count)

    def to_dict(self) -> dict[str, Any]:
        """The Agents API shape (``last_messages`` is ``None`` for ``auto``)."""
        return {"type": self.type, "last_messages": self.last_messages}

    @property
    def max_messages(self) -> int | None:
        """How many stored messages a load needs for this strategy; ``None`` for ``auto`` (token-driven).

        :func:`agentdown.sessions.load_session` uses it, and for ``auto`` grows the tail
        it reads until the token budget is covered.
        """
        return self.last_messages if self.type == "last_messages" else None


def _check(kind: Any, count: Any, where: str) -> None:
    if kind not in _TYPES:
        raise ConfigurationError(f'{where}.type: expected "auto" or "last_messages", got {kind!r}')
    if kind == "last_messages":
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigurationError(
                f"{where}.last_messages: expected an integer >= 1 with type last_messages, got {count!r}"
            )
    elif count is not None:
        raise ConfigurationError(f'{where}.last_messages is only valid with type "last_messages", not "auto"')


DEFAULT_TRUNCATION = TruncationStrategy("auto")


def resolve_truncation(agent_strategy: Any = None, run_strategy: Any = None) -> TruncationStrategy:
    """The strategy for one run: the run's if given, else the agent's, else ``auto``."""
    if run_strategy is not None:
        return TruncationStrategy.parse(run_strategy, where="run truncation_strategy")
    if agent_strategy is not None:
        return TruncationStrategy.parse(agent_strategy, where="agent truncation_strategy")
    return DEFAULT_TRUNCATION


def estimate_tokens(message: Message) -> int:
    """A cheap estimate: characters / 4, plus per-message framing and a flat cost per media item."""
    chars, media = 0, 0
    for content in message.contents:
        if content.type == "text" and content.items is None:  # most contents: no call for them
            chars += len(content.text or "") + len(content.name or "")
            continue
        c, m = _content_size(content)
        chars += c
        media += m
    return MESSAGE_OVERHEAD_TOKENS + -(-chars // 4) + media * MEDIA_TOKENS


def _content_size(content: Content) -> tuple[int, int]:
    if content.type in ("data", "uri"):
        return 0, 1
    chars = len(content.text or "") + len(content.name or "")
    if content.type == "tool_call":
        if content.raw_arguments is not None:
            chars += len(content.raw_arguments)
        elif content.arguments is not None:
            chars += len(json.dumps(content.arguments, ensure_ascii=False))
    media = 0
    for item in content.items or ():
        c, m = _content_size(item)
        chars += c
        media += m
    return chars, media


class TokenCache:
    """A :data:`TokenCounter` that counts each message once while the message stays unchanged.

    A :class:`Message` is a mutable dataclass, so an entry is not trusted on identity
    alone: it is kept with a snapshot of everything a request carries of the message
    (its role and every field of every content, nested items included) and reused
    only while that snapshot still compares equal. Strings and bytes are immutable,
    so the snapshot shares them and the comparison is mostly pointer checks. A
    message whose contents hold mutable containers a snapshot cannot capture cheaply
    (tool-call arguments or ``additional_properties`` with nested lists or dicts) is
    counted afresh every time rather than risk a stale count.

    With the default :func:`estimate_tokens`, a message of plain text contents is
    not cached at all: estimating it costs less than taking its snapshot. What is
    cached there is what is dear to estimate (tool calls, whose arguments are
    serialised, and nested results); with any other counter (a real tokenizer),
    every message is.

    Entries hold their messages: give a cache the lifetime of what it counts (one
    loaded session, one run), not the process's.
    """

    __slots__ = ("_entries", "_skip_plain", "count_tokens")

    def __init__(self, count_tokens: TokenCounter = estimate_tokens) -> None:
        self.count_tokens = count_tokens
        """The counter whose results are cached."""
        self._skip_plain = count_tokens is estimate_tokens
        self._entries: dict[int, tuple[Message, tuple[Any, ...], int]] = {}

    def __call__(self, message: Message) -> int:
        if self._skip_plain:
            plain = _plain_estimate(message)
            if plain is not None:
                return plain
        snapshot = _snapshot(message)
        if snapshot is None:
            return self.count_tokens(message)
        entry = self._entries.get(id(message))
        # ``is``: an id can be reused by a new object once the cached one is gone.
        if entry is not None and entry[0] is message and entry[1] == snapshot:
            return entry[2]
        tokens = self.count_tokens(message)
        self._entries[id(message)] = (message, snapshot, tokens)
        return tokens

    def __len__(self) -> int:
        return len(self._entries)


def _plain_estimate(message: Message) -> int | None:
    """:func:`estimate_tokens` of a message of plain text contents in one pass; ``None`` for any other.

    One loop and no further call: this runs twice per loaded message per request (the
    ``auto`` load's coverage check, then the truncation), so it is kept tight.
    """
    chars = 0
    for content in message.contents:
        if content.type != "text" or content.items is not None:
            return None
        chars += len(content.text or "") + len(content.name or "")
    return MESSAGE_OVERHEAD_TOKENS + -(-chars // 4)


_SCALARS = (str, int, float, bool, type(None))


def _snapshot(message: Message) -> tuple[Any, ...] | None:
    """An immutable copy of what a request carries of ``message``; ``None`` when not cheaply possible."""
    parts: list[Any] = [message.role]
    for content in message.contents:
        part = _content_snapshot(content)
        if part is None:
            return None
        parts.append(part)
    return tuple(parts)


def _content_snapshot(content: Content) -> tuple[Any, ...] | None:
    arguments = _flat(content.arguments) if content.arguments is not None else None
    properties = _flat(content.additional_properties) if content.additional_properties else None
    if arguments is _NESTED or properties is _NESTED:
        return None
    items: tuple[Any, ...] | None = None
    if content.items is not None:
        items = tuple(_content_snapshot(item) for item in content.items)
        if None in items:
            return None
    return (
        content.type,
        content.text,
        content.call_id,
        content.name,
        arguments,
        content.raw_arguments,
        items,
        content.is_error,
        content.uri,
        content.data,
        content.media_type,
        content.error_code,
        properties,
    )


_NESTED: tuple[Any, ...] = ("nested",)


def _flat(mapping: Mapping[str, Any]) -> tuple[Any, ...]:
    """The items of a mapping of scalars as a tuple; :data:`_NESTED` when a value is a container."""
    items = tuple(mapping.items())
    for _, value in items:
        if not isinstance(value, _SCALARS):
            return _NESTED
    return items


def truncate(
    messages: Sequence[Message],
    strategy: TruncationStrategy | None = None,
    *,
    max_input_tokens: int | None = None,
    reserved_tokens: int = 0,
    count_tokens: TokenCounter | None = None,
) -> list[Message]:
    """The messages to send: the leading system messages plus the newest groups the strategy allows.

    ``max_input_tokens`` (``auto`` only; default :data:`DEFAULT_MAX_INPUT_TOKENS`) is the
    budget for everything in ``messages``; ``reserved_tokens`` is taken off it first for
    what the request carries besides them (tool definitions, a system prompt passed
    separately). The input is not modified; the result shares its message objects.

    The work is proportional to what is kept, not to ``messages``: the groups are found
    walking back from the newest message and the walk stops at the bound (a long
    history is only read as far as the window reaches). ``count_tokens`` defaults to
    :func:`estimate_tokens`; pass a :class:`TokenCache` to count each message once
    across calls.
    """
    strategy = strategy or DEFAULT_TRUNCATION
    # ``is None``, not ``or``: a TokenCache holding no entries yet has len() 0, so it is falsy.
    count_tokens = count_tokens if count_tokens is not None else estimate_tokens
    if max_input_tokens is not None and max_input_tokens < 1:
        raise ValueError(f"max_input_tokens must be >= 1, got {max_input_tokens}")
    head = 0
    while head < len(messages) and messages[head].role == "system":
        head += 1
    by_count = strategy.type == "last_messages"
    if by_count:
        room = strategy.last_messages or 0
    else:
        room = (max_input_tokens or DEFAULT_MAX_INPUT_TOKENS) - reserved_tokens
        room -= sum(count_tokens(messages[i]) for i in range(head))
    # The default estimate of a message of plain text contents is computed here directly: it is
    # what the counter would compute (a TokenCache of the default does not cache such messages).
    plain_default = count_tokens is estimate_tokens or (
        isinstance(count_tokens, TokenCache) and count_tokens.count_tokens is estimate_tokens
    )
    starts: list[int] = []
    """Where each kept group starts, newest group first."""
    orphans: set[str] = set()
    end = len(messages)
    while end > head:
        last = messages[end - 1]
        # The most common case first: plain text, a group of its own, counted without a call.
        plain = _plain_estimate(last) if plain_default else None
        if plain is not None:
            found = end - 1
            cost = 1 if by_count else plain
        else:
            # Then a message answering no call: also a group of its own.
            start = end - 1 if _answers_nothing(last) else _group_start(messages, head, end, orphans)
            if start is None:
                continue  # ``orphans`` grew: find the same group again without them
            found = start
            if by_count:
                cost = end - found
            elif found == end - 1:
                cost = count_tokens(last)
            else:
                cost = sum(count_tokens(messages[i]) for i in range(found, end))
        if starts and cost > room:
            break
        starts.append(found)
        room -= cost
        end = found
    # The oldest kept groups go while they hold results whose call is not in the group.
    ends = [len(messages), *starts]
    k = len(starts) - 1
    while k >= 0 and _orphaned(messages[starts[k] : ends[k]]):
        k -= 1
    first = starts[k] if k >= 0 else len(messages)
    return [*messages[:head], *messages[first:]]


def _answers_nothing(message: Message) -> bool:
    """Holds no tool result, so the group ending with it is the message alone."""
    # A loop rather than all(...): a generator costs more on this hot path.
    for content in message.contents:  # noqa: SIM110
        if content.type == "tool_result":
            return False
    return True


def _group_start(messages: Sequence[Message], head: int, end: int, orphans: set[str]) -> int | None:
    """Where the group ending just before ``end`` starts: at the call of every result in it.

    A result whose call is nowhere before it (down to ``head``) is added to ``orphans``
    and ``None`` returned: such a result does not hold the messages before it in its
    group, so the caller walks that group again. Only a malformed history reads past
    the window here.
    """
    waiting: set[str] = set()
    i = end
    while i > head:
        i -= 1
        contents = messages[i].contents
        for content in contents:
            if content.type == "tool_result" and content.call_id and content.call_id not in orphans:
                waiting.add(content.call_id)
        if waiting:
            for content in contents:
                if content.type == "tool_call" and content.call_id:
                    waiting.discard(content.call_id)
        if not waiting:
            return i
    orphans.update(waiting)
    return None


def _orphaned(group: Sequence[Message]) -> bool:
    """Holds a tool result whose call is not in the group (the call was cut off earlier)."""
    calls = {c.call_id for m in group for c in m.tool_calls}
    return any(c.call_id not in calls for m in group for c in m.tool_results)
