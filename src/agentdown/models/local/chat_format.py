"""Our messages as a prompt string for a local model, and fitting them in its context.

Local models see tools only through text (see :mod:`toolproto`), so a conversation
becomes plain ``system`` / ``user`` / ``assistant`` turns: past calls are written back
as ``<tool_call>`` blocks and results as ``<tool_response>`` user turns, the way
Qwen2.5's own template renders them. Plain turns render with any chat template,
including strict ones that want user and assistant to alternate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentdown.exceptions import ModelError
from agentdown.messages import Message
from agentdown.models.base import ToolDefinition
from agentdown.models.local.toolproto import format_tool_call, format_tool_result, tools_prompt

__all__ = [
    "CHATML_STOPS",
    "ContextOverflowError",
    "Turn",
    "fit_turns",
    "render_chatml",
    "template_default_system",
    "to_turns",
]

CHATML_STOPS = ("<|im_end|>", "<|im_start|>", "<|endoftext|>")
_DEFAULT_SYSTEM = "You are a helpful assistant."


class ContextOverflowError(ModelError):
    """The request does not fit in the model's context window, even trimmed."""


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    """``system``, ``user`` or ``assistant``."""
    content: str


def to_turns(
    messages: Sequence[Message], tools: Sequence[ToolDefinition], *, tool_choice: str | None = None
) -> list[Turn]:
    """Plain turns for ``messages``, the tools described in the (first) system turn."""
    system_parts: list[str] = []
    turns: list[Turn] = []
    for message in messages:
        if message.role == "system":
            # Later system messages (rare) join the first: many templates allow one only.
            system_parts.append(message.text)
        elif message.role == "user":
            _append(turns, "user", _user_text(message))
        elif message.role == "assistant":
            _append(turns, "assistant", _assistant_text(message))
        else:
            for result in message.contents:
                if result.type in ("tool_result", "error"):
                    _append(turns, "user", format_tool_result(result.text or ""))
                else:
                    raise ModelError(f"a tool message cannot carry {result.type} content")
    if tools and tool_choice != "none":
        system_parts.append(tools_prompt(tools, required=tool_choice == "required"))
    system = "\n\n".join(p for p in system_parts if p.strip())
    return ([Turn("system", system)] if system else []) + turns


def _user_text(message: Message) -> str:
    parts = []
    for content in message.contents:
        if content.type == "text":
            parts.append(content.text or "")
        elif content.type in ("data", "uri"):
            # A text-only model cannot see media; say so rather than drop it silently.
            parts.append(f"[{content.media_type or content.type} attachment not shown: text-only model]")
        else:
            raise ModelError(f"a user message cannot carry {content.type} content")
    return "\n\n".join(parts)


def _assistant_text(message: Message) -> str:
    parts = []
    for content in message.contents:
        if content.type == "text" and content.text:
            parts.append(content.text)
        elif content.type == "tool_call":
            parts.append(format_tool_call(content.name or "", content.arguments, content.raw_arguments))
    return "\n".join(parts)


def _append(turns: list[Turn], role: str, content: str) -> None:
    # Consecutive turns of one role merge (several tool results answer one assistant turn).
    if turns and turns[-1].role == role:
        turns[-1] = Turn(role, f"{turns[-1].content}\n{content}")
    else:
        turns.append(Turn(role, content))


# The system turn a ChatML template writes when the conversation has none, e.g. Qwen2.5's
# {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. ...<|im_end|>\n' }}.
_TEMPLATE_SYSTEM = re.compile(r"""(['"])<\|im_start\|>system\\n([^'"<{}]+?)<\|im_end\|>""")


def template_default_system(template: str | None) -> str | None:
    """The default system prompt a ChatML chat template inserts, if it has one."""
    match = _TEMPLATE_SYSTEM.search(template or "")
    return match.group(2) if match else None


def render_chatml(turns: Sequence[Turn], default_system: str | None = None) -> str:
    """ChatML, the format of Qwen2.5 and SmolLM2, ending where the assistant speaks.

    A conversation without a system turn gets ``default_system``: the one the model's
    own template inserts (what it was trained with), else a generic one.
    """
    if not turns or turns[0].role != "system":
        turns = [Turn("system", default_system or _DEFAULT_SYSTEM), *turns]
    body = "".join(f"<|im_start|>{t.role}\n{t.content}<|im_end|>\n" for t in turns)
    return body + "<|im_start|>assistant\n"


def fit_turns(
    turns: list[Turn], render: Callable[[Sequence[Turn]], str], count: Callable[[str], int], budget: int
) -> tuple[list[Turn], str, int]:
    """Drop the oldest exchanges until the prompt is at most ``budget`` tokens.

    An exchange starts at a user turn that is not a tool result, so a call is never
    separated from its result. The system turn and the last exchange always stay;
    if those alone are too long, :class:`ContextOverflowError` says by how much.
    Returns the kept turns, the prompt and its token count.
    """
    system = turns[:1] if turns and turns[0].role == "system" else []
    rest = turns[len(system) :]
    starts = [
        i
        for i, t in enumerate(rest)
        if t.role == "user" and not t.content.startswith("<tool_response>") and i > 0
    ]
    while True:
        prompt = render(system + rest)
        used = count(prompt)
        if used <= budget:
            return system + rest, prompt, used
        if not starts:
            raise ContextOverflowError(
                f"the request needs {used} prompt tokens but only {budget} fit in the model's context "
                "after reserving room for the answer, even with older messages dropped: shorten the "
                "instructions or the last message, lower max_output_tokens, or raise "
                "AGENTDOWN_LOCAL_N_CTX"
            )
        cut = starts.pop(0)
        rest = rest[cut:]
        starts = [i - cut for i in starts]
