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
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentdown.exceptions import ConfigurationError
from agentdown.messages import Content, Message

__all__ = [
    "DEFAULT_MAX_INPUT_TOKENS",
    "DEFAULT_TRUNCATION",
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
        c, m = _content_size(content)
        chars += c
        media += m
    return MESSAGE_OVERHEAD_TOKENS + math.ceil(chars / 4) + media * MEDIA_TOKENS


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


def truncate(
    messages: Sequence[Message],
    strategy: TruncationStrategy | None = None,
    *,
    max_input_tokens: int | None = None,
    reserved_tokens: int = 0,
    count_tokens: TokenCounter = estimate_tokens,
) -> list[Message]:
    """The messages to send: the leading system messages plus the newest groups the strategy allows.

    ``max_input_tokens`` (``auto`` only; default :data:`DEFAULT_MAX_INPUT_TOKENS`) is the
    budget for everything in ``messages``; ``reserved_tokens`` is taken off it first for
    what the request carries besides them (tool definitions, a system prompt passed
    separately). The input is not modified; the result shares its message objects.
    """
    strategy = strategy or DEFAULT_TRUNCATION
    if max_input_tokens is not None and max_input_tokens < 1:
        raise ValueError(f"max_input_tokens must be >= 1, got {max_input_tokens}")
    head = 0
    while head < len(messages) and messages[head].role == "system":
        head += 1
    pinned, rest = list(messages[:head]), list(messages[head:])
    groups = _groups(rest)
    kept: list[list[Message]] = []
    if strategy.type == "last_messages":
        limit = strategy.last_messages or 0
        used = 0
        for group in reversed(groups):
            if kept and used + len(group) > limit:
                break
            kept.append(group)
            used += len(group)
    else:
        budget = (max_input_tokens or DEFAULT_MAX_INPUT_TOKENS) - reserved_tokens
        budget -= sum(count_tokens(m) for m in pinned)
        for group in reversed(groups):
            cost = sum(count_tokens(m) for m in group)
            if kept and cost > budget:
                break
            kept.append(group)
            budget -= cost
    kept.reverse()
    while kept and _orphaned(kept[0]):
        kept.pop(0)
    return pinned + [m for group in kept for m in group]


def _groups(messages: list[Message]) -> list[list[Message]]:
    """Split into runs that must stay together: from a tool call to its last result, merged when overlapping."""
    span: dict[str, tuple[int, int]] = {}
    for i, message in enumerate(messages):
        for content in message.contents:
            if content.type in ("tool_call", "tool_result") and content.call_id:
                first, _ = span.get(content.call_id, (i, i))
                span[content.call_id] = (first, i)
    reach = list(range(len(messages)))
    for first, last in span.values():
        reach[first] = max(reach[first], last)
    groups: list[list[Message]] = []
    start, end = 0, -1
    for i in range(len(messages)):
        end = max(end, reach[i])
        if i == end:
            groups.append(messages[start : i + 1])
            start = i + 1
    return groups


def _orphaned(group: list[Message]) -> bool:
    """Holds a tool result whose call is not in the group (the call was cut off earlier)."""
    calls = {c.call_id for m in group for c in m.tool_calls}
    return any(c.call_id not in calls for m in group for c in m.tool_results)
