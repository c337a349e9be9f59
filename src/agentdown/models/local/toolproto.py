"""Tool calling for models that have no native ``tool_calls``: a prompt and a parser.

Small local models are told about the tools in the system prompt and answer with
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (Qwen2.5's trained
format). They do not always obey, so the parser also accepts fenced JSON blocks and
bare JSON objects, in the key spellings models are seen to use, and falls back to
plain text. Everything here is a pure function of strings, so it is tested on
recorded model outputs without a model.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentdown.models.base import ToolDefinition

__all__ = [
    "TOOL_CALL_CLOSE",
    "TOOL_CALL_OPEN",
    "ParsedCall",
    "ParsedOutput",
    "format_tool_call",
    "format_tool_result",
    "parse_output",
    "tools_prompt",
]

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

_NAME_KEYS = ("name", "tool", "tool_name", "function", "function_name")
_ARGS_KEYS = ("arguments", "parameters", "args", "tool_input", "input", "params")
_TAGGED = re.compile(r"<tool_call>(.*?)(?:</tool_call>|(?=<tool_call>)|\Z)", re.DOTALL)
_FENCED = re.compile(r"```[ \t]*(?:json|JSON|tool_call|javascript)?[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_NAME_IN_BROKEN_JSON = re.compile(r"[\"']name[\"']\s*:\s*[\"']([A-Za-z0-9_.\-]+)[\"']")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_DECODER = json.JSONDecoder()


def tools_prompt(tools: Sequence[ToolDefinition], *, required: bool = False) -> str:
    """The system-prompt section that offers ``tools``.

    The wording follows the shape Qwen2.5 was trained on (it is also clear to other
    instruction-tuned models); the last lines keep small models from calling a tool
    for every message, which the bench measures.
    """
    lines = [
        "# Tools",
        "",
        "You may call one or more functions to assist with the user query.",
        "",
        "You are provided with function signatures within <tools></tools> XML tags:",
        "<tools>",
    ]
    for tool in tools:
        spec = {
            "type": "function",
            "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
        }
        lines.append(json.dumps(spec, ensure_ascii=False))
    lines += [
        "</tools>",
        "",
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:",
        "<tool_call>",
        '{"name": <function-name>, "arguments": <args-json-object>}',
        "</tool_call>",
        "",
    ]
    if required:
        lines.append("You must call at least one of these functions now.")
    else:
        lines.append(
            "Call a function only when the user's request needs its result. Greetings, thanks, "
            "general knowledge, translation and writing need no function: answer those directly "
            "in plain text, without JSON."
        )
    lines.append("When a request needs several functions, call all of them, one <tool_call> block each.")
    return "\n".join(lines)


def format_tool_call(name: str, arguments: dict[str, Any] | None, raw_arguments: str | None = None) -> str:
    """A past tool call as the model should see it in the conversation history."""
    if arguments is None and raw_arguments is not None:
        # Show what the model really wrote, so a retry after "not valid JSON" makes sense.
        return f'{TOOL_CALL_OPEN}\n{{"name": {json.dumps(name)}, "arguments": {raw_arguments}}}\n{TOOL_CALL_CLOSE}'
    payload = json.dumps({"name": name, "arguments": arguments or {}}, ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}\n{payload}\n{TOOL_CALL_CLOSE}"


def format_tool_result(text: str) -> str:
    """A tool's output as Qwen2.5 reads it: in a user turn, inside ``<tool_response>`` tags."""
    return f"<tool_response>\n{text}\n</tool_response>"


@dataclass(frozen=True, slots=True)
class ParsedCall:
    """One tool call found in a model's output."""

    name: str
    arguments: dict[str, Any] | None
    """``None`` when the model's arguments were not a JSON object; see ``raw_arguments``."""
    raw_arguments: str | None = None


@dataclass(slots=True)
class ParsedOutput:
    """A model's output split into the text for the user and the tool calls."""

    text: str
    calls: list[ParsedCall] = field(default_factory=list)
    form: str = "text"
    """How the calls were written: ``tagged``, ``fenced``, ``json`` or ``text`` (none)."""
    unknown: list[ParsedCall] = field(default_factory=list)
    """Untagged calls of tools that were not offered, when the output held nothing else.

    They stay text here (ordinary JSON must never become a call), but a model that
    answers a greeting with ``{"name": "greet", "arguments": ...}`` invented a tool:
    the caller may ask again without tools.
    """


def parse_output(output: str, tool_names: Collection[str]) -> ParsedOutput:
    """Split ``output`` into text and tool calls for the offered ``tool_names``.

    Tried in order: ``<tool_call>`` tags (an unclosed last tag counts, since generation
    may stop at the closing tag); fenced code blocks; bare JSON objects or lists. Only
    the tagged form may name a tool that was not offered: the model clearly meant a
    call, and the run loop tells it the tool does not exist. Untagged JSON must name an
    offered tool, so an ordinary JSON answer is never mistaken for a call. With no
    tools offered the output is text.
    """
    if not tool_names:
        return ParsedOutput(text=output.strip())
    if TOOL_CALL_OPEN in output:
        tagged = _parse_tagged(output, tool_names)
        if tagged is not None:
            return tagged
    for form, pattern in (("fenced", _FENCED), ("json", None)):
        found = _parse_untagged(output, tool_names, pattern)
        if found is not None:
            text, calls = found
            return ParsedOutput(text=text, calls=calls, form=form)
    return ParsedOutput(text=output.strip(), unknown=_invented_calls(output))


def _invented_calls(output: str) -> list[ParsedCall]:
    body = _strip_fence(output.strip())
    value, rest = _values_in(body), ""
    if value is None:
        value, rest = _leading_value(body)
    return [] if rest.strip() else _calls_in_value(value, (), strict=False)


def _parse_tagged(output: str, tool_names: Collection[str]) -> ParsedOutput | None:
    calls: list[ParsedCall] = []
    pieces: list[str] = []
    last = 0
    for match in _TAGGED.finditer(output):
        pieces.append(output[last : match.start()])
        last = match.end()
        body = _strip_fence(match.group(1).strip())
        value, rest = _values_in(body), ""
        if value is None:
            value, rest = _leading_value(body)
        found = _calls_in_value(value, tool_names, strict=False)
        if found:
            calls.extend(found)
            pieces.append(rest)  # text after an unclosed tag's JSON is the model talking again
            continue
        broken = _broken_call(body)
        if broken is not None:
            calls.append(broken)
        else:
            pieces.append(match.group(0))  # not a call after all: keep what the model wrote
    pieces.append(output[last:])
    if not calls:
        return None
    return ParsedOutput(text=_join(pieces), calls=calls, form="tagged")


def _values_in(body: str) -> Any:
    """``body`` as one JSON value, or as a list when it is several in a row (as models write)."""
    value = _loads(body)
    if value is not None:
        return value
    spans = _json_spans(body)
    if len(spans) < 2:
        return None
    gaps = [body[end:start] for (_, end, _), (start, _, _) in itertools.pairwise(spans)]
    outside = body[: spans[0][0]] + "".join(gaps) + body[spans[-1][1] :]
    return [v for _, _, v in spans] if not outside.replace(",", "").strip() else None


def _leading_value(body: str) -> tuple[Any, str]:
    """The JSON value at the start of ``body`` and the text after it."""
    value = _loads(body)
    if value is not None or not body or body[0] not in "{[":
        return value, ""
    found = _value_at(body, 0)
    if found is None:
        return None, ""
    return found[0], body[found[1] :]


def _parse_untagged(
    output: str, tool_names: Collection[str], pattern: re.Pattern[str] | None
) -> tuple[str, list[ParsedCall]] | None:
    spans = _fenced_spans(output, pattern) if pattern is not None else _json_spans(output)
    calls: list[ParsedCall] = []
    pieces: list[str] = []
    last = 0
    for start, end, value in spans:
        found = _calls_in_value(value, tool_names, strict=True)
        if not found:
            continue
        pieces.append(output[last:start])
        last = end
        calls.extend(found)
    if not calls:
        return None
    pieces.append(output[last:])
    return _join(pieces), calls


def _fenced_spans(output: str, pattern: re.Pattern[str]) -> list[tuple[int, int, Any]]:
    spans = []
    for match in pattern.finditer(output):
        value = _values_in(match.group(1).strip())
        if value is not None:
            spans.append((match.start(), match.end(), value))
    return spans


def _json_spans(output: str) -> list[tuple[int, int, Any]]:
    """Every top-level JSON (or near-JSON) object or list in ``output``, left to right."""
    spans: list[tuple[int, int, Any]] = []
    index = 0
    while True:
        starts = [i for i in (output.find("{", index), output.find("[", index)) if i >= 0]
        if not starts:
            return spans
        start = min(starts)
        found = _value_at(output, start)
        if found is None:
            index = start + 1
            continue
        value, end = found
        spans.append((start, end, value))
        index = end


def _value_at(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON value starting at ``text[start]`` and where it ends, if there is one."""
    try:
        return _DECODER.raw_decode(text, start)
    except ValueError:
        pass
    end = _balanced_end(text, start)
    if end is None:
        return None
    value = _loads(text[start:end])
    return (value, end) if value is not None else None


def _balanced_end(text: str, start: int) -> int | None:
    """The end of the bracketed span opening at ``start``, quotes of both kinds respected."""
    depth = 0
    quote: str | None = None
    escaped = False
    for i in range(start, len(text)):
        char = text[i]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _calls_in_value(value: Any, tool_names: Collection[str], *, strict: bool) -> list[ParsedCall]:
    """The calls a decoded JSON value describes; ``[]`` unless every item is a call."""
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        call = _call_from_object(item, tool_names, strict=strict)
        if call is None:
            return []
        calls.append(call)
    return calls


def _call_from_object(obj: Any, tool_names: Collection[str], *, strict: bool) -> ParsedCall | None:
    if not isinstance(obj, dict):
        return None
    if obj.get("type") == "function" and isinstance(obj.get("function"), dict):
        obj = obj["function"]  # the OpenAI tools shape, echoed back by some models
    elif isinstance(obj.get("function"), dict) and "name" in obj["function"]:
        obj = obj["function"]
    name = next((obj[k] for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
    if name is None or not name.strip():
        return None
    name = name.strip()
    if strict and name not in tool_names:
        return None
    args_key = next((k for k in _ARGS_KEYS if k in obj), None)
    if args_key is None:
        # {"name": ...} alone is a call without arguments only when the name is offered
        # and nothing else is in the object, else it is likely ordinary data.
        extra = set(obj) - set(_NAME_KEYS) - {"type", "id"}
        if extra or name not in tool_names:
            return None
        return ParsedCall(name=name, arguments={})
    return _with_arguments(name, obj[args_key])


def _with_arguments(name: str, raw: Any) -> ParsedCall:
    if isinstance(raw, dict):
        return ParsedCall(name=name, arguments=raw)
    if raw is None:
        return ParsedCall(name=name, arguments={})
    if isinstance(raw, str):
        # Arguments as a JSON string, the way the OpenAI API carries them.
        decoded = _loads(raw)
        if isinstance(decoded, dict):
            return ParsedCall(name=name, arguments=decoded)
        if not raw.strip():
            return ParsedCall(name=name, arguments={})
        return ParsedCall(name=name, arguments=None, raw_arguments=raw)
    return ParsedCall(name=name, arguments=None, raw_arguments=json.dumps(raw, ensure_ascii=False))


def _broken_call(body: str) -> ParsedCall | None:
    """A tagged call whose JSON does not parse: keep the name, let the loop ask again."""
    match = _NAME_IN_BROKEN_JSON.search(body)
    if match is None:
        return None
    after = body[match.end() :]
    colon = re.search(r"[\"'](?:arguments|parameters)[\"']\s*:\s*", after)
    raw = after[colon.end() :].rstrip().removesuffix("}").strip() if colon else body
    return ParsedCall(name=match.group(1), arguments=None, raw_arguments=raw or body)


def _loads(text: str) -> Any:
    """JSON, or the near-JSON small models write (trailing commas, Python literals)."""
    text = text.strip()
    if not text or text[0] not in "{[":
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return json.loads(_TRAILING_COMMA.sub(r"\1", text))
    except ValueError:
        pass
    try:
        # literal_eval evaluates literals only, never code: safe on model output. Its
        # warnings about odd escapes in the model's text are of no use to anyone.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _strip_fence(body: str) -> str:
    match = _FENCED.fullmatch(body)
    return match.group(1).strip() if match else body


def _join(pieces: list[str]) -> str:
    return "\n\n".join(p.strip() for p in pieces if p.strip())
