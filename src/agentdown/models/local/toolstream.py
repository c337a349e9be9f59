"""Which part of a model's output can be streamed before it is known to hold no tool call."""

from __future__ import annotations

from collections.abc import Collection

from agentdown.models.local.toolproto import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ParsedOutput, parse_output

__all__ = ["StreamSplitter"]


_MARKERS = (TOOL_CALL_OPEN, "```", "{", "[")


class StreamSplitter:
    """Decides, while tokens arrive, which text can be streamed to the user now.

    Text is passed through until something that may start a tool call appears (a
    ``<tool_call>`` tag, a code fence or a JSON bracket); from there on everything
    is held back and parsed at the end, so a call is never shown as text. Trailing
    whitespace and a partial marker are held back too, so what was streamed is always
    a prefix of the final :attr:`ParsedOutput.text` whenever the output held no call.
    """

    def __init__(self, tool_names: Collection[str]) -> None:
        self.tool_names = tool_names
        self._output: list[str] = []
        self._emitted = 0
        """Characters of the (left-stripped) output already streamed."""
        self._holding = False

    @property
    def output(self) -> str:
        return "".join(self._output)

    def feed(self, chunk: str) -> str:
        """Add generated text; return the text that is safe to stream now."""
        self._output.append(chunk)
        if self._holding:
            return ""
        text = self.output.lstrip()
        safe = len(text)
        if self.tool_names:
            for marker in _MARKERS:
                at = text.find(marker, self._emitted)
                if at >= 0:
                    self._holding = True
                    safe = min(safe, at)
            if not self._holding:
                safe = _partial_marker_start(text)
        safe = len(text[:safe].rstrip())
        if safe <= self._emitted:
            return ""
        out = text[self._emitted : safe]
        self._emitted = safe
        return out

    def calls_done(self) -> bool:
        """Whether a closed ``<tool_call>`` is followed by something that starts no new call.

        Small models go on talking after their call, inventing its result; the caller
        stops generating then, and :meth:`finish` drops what came after the call.
        """
        output = self.output
        end = output.rfind(TOOL_CALL_CLOSE)
        if end < 0:
            return False
        tail = output[end + len(TOOL_CALL_CLOSE) :].lstrip()
        return len(tail) >= len(TOOL_CALL_OPEN) and not tail.startswith(TOOL_CALL_OPEN)

    def finish(self, *, cut_after_calls: bool = False) -> tuple[ParsedOutput, str]:
        """The parsed output and the text not streamed yet (the rest of ``parsed.text``)."""
        output = self.output
        if cut_after_calls and (end := output.rfind(TOOL_CALL_CLOSE)) >= 0:
            output = output[: end + len(TOOL_CALL_CLOSE)]
        parsed = parse_output(output, self.tool_names)
        streamed = output.lstrip()[: self._emitted]
        if parsed.text.startswith(streamed):
            return parsed, parsed.text[len(streamed) :]
        # Cannot happen with the rules above; never lose text the user has not seen.
        return parsed, ""


def _partial_marker_start(text: str) -> int:
    """Where a suffix of ``text`` that could grow into a multi-character marker begins."""
    start = len(text)
    for marker in (TOOL_CALL_OPEN, "```"):
        for size in range(min(len(marker) - 1, len(text)), 0, -1):
            if marker.startswith(text[-size:]):
                start = min(start, len(text) - size)
                break
    return start
