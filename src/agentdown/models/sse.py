"""Server-sent events, as chat-completion streams use them."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

__all__ = ["SSEDecoder", "sse_data"]


class SSEDecoder:
    """Server-sent events from a byte stream: ``data`` payloads, comments and CR/LF/CRLF handled."""

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """``(event, data)`` pairs completed by ``chunk``."""
        buffer = self._buffer + chunk if self._buffer else chunk
        lines = buffer.splitlines(keepends=True)
        self._buffer = b""
        # A trailing partial line (or a CR that may be the first half of CRLF) waits for more.
        if lines and (not lines[-1].endswith((b"\n", b"\r")) or lines[-1].endswith(b"\r")):
            self._buffer = lines.pop()
        events: list[tuple[str, str]] = []
        for line in lines:
            self._line(_text(line), events)
        return events

    def close(self) -> list[tuple[str, str]]:
        """Events left when the stream ends without a final blank line."""
        events: list[tuple[str, str]] = []
        if self._buffer:
            self._line(_text(self._buffer), events)
            self._buffer = b""
        self._line("", events)
        return events

    def _line(self, line: str, events: list[tuple[str, str]]) -> None:
        if not line:
            if self._data:
                events.append((self._event or "message", "\n".join(self._data)))
            self._data = []
            self._event = ""
            return
        if line[0] == ":":
            return
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value


def _text(line: bytes) -> str:
    # The SSE standard decodes with replacement: a model server's stray invalid byte must not
    # abort the whole stream with a UnicodeDecodeError. Lines are whole, so a character is
    # never split here.
    return line.rstrip(b"\r\n").decode("utf-8", errors="replace")


async def sse_data(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """The ``data`` payloads of a byte stream, up to ``[DONE]`` or the end of the stream."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for _event, data in decoder.feed(chunk):
            if data == "[DONE]":
                return
            yield data
    for _event, data in decoder.close():
        if data != "[DONE]":
            yield data
