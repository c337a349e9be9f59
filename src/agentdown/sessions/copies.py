"""Deep copies of decoded messages: what a store's turn cache hands out instead of its own objects.

Also what :meth:`~agentdown.sessions.stored.StoredSession.unshare` swaps into a session
loaded without copies (the runner's), before user code can edit its messages.
"""

from __future__ import annotations

from typing import Any

from agentdown.messages import Content, Message

__all__ = ["copy_messages"]


def copy_messages(messages: list[Message]) -> list[Message]:
    """Deep copies of messages decoded from JSON, cheaper than ``copy.deepcopy`` or decoding again.

    Every mutable part is new (the messages, their contents and items, and the dicts and
    lists of metadata, arguments and additional properties); strings, bytes and numbers
    are immutable and shared.
    """
    # One loop, positional arguments in field order (half the cost of keywords; a test pins
    # the field order of Message and Content to what is written here), and the common message
    # of one content without nested parts copied inline: an ``auto`` load of a long session
    # copies its whole window (some 130 messages) on every request, and in a server's large,
    # cold heap this was most of what a load at turn 500 cost (bench/session_growth.py).
    out: list[Message] = []
    add = out.append
    for m in messages:
        contents = m.contents
        if len(contents) == 1:
            c = contents[0]
            if c.arguments is None and c.items is None and not c.additional_properties:
                copied = [
                    Content(
                        c.type,
                        c.text,
                        c.call_id,
                        c.name,
                        None,
                        c.raw_arguments,
                        None,
                        c.is_error,
                        c.uri,
                        c.data,
                        c.media_type,
                        c.error_code,
                        {},
                    )
                ]
            else:
                copied = [_copy_content(c)]
        else:
            copied = [_copy_content(c) for c in contents]
        metadata = m.metadata
        add(
            Message(
                m.role,
                copied,
                m.author_name,
                m.message_id,
                m.created_at,
                _copy_json(metadata) if metadata else {},
            )
        )
    return out


def _copy_content(c: Content) -> Content:
    return Content(
        c.type,
        c.text,
        c.call_id,
        c.name,
        _copy_json(c.arguments) if c.arguments is not None else None,
        c.raw_arguments,
        [_copy_content(i) for i in c.items] if c.items is not None else None,
        c.is_error,
        c.uri,
        c.data,
        c.media_type,
        c.error_code,
        _copy_json(c.additional_properties) if c.additional_properties else {},
    )


def _copy_json(value: Any) -> Any:
    # What JSON decodes to: dicts, lists and immutable scalars, so this is a complete deep copy.
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value
