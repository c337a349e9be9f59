"""Thread messages from requests: content blocks and attachments checked and stored.

Shared by the message routes, thread creation and (for ``additional_messages``) runs,
so a message is refused the same way wherever it is sent.
"""

from __future__ import annotations

import re
from typing import Any

from agentdown.runtime.agents_api.attachments import attachment_bodies
from agentdown.runtime.agents_api.errors import bad_request
from agentdown.runtime.agents_api.objects import message_object, text_block
from agentdown.runtime.agents_api.schemas import (
    IMAGE_URL_PATTERN,
    ImageFileBlockIn,
    ImageUrlBlockIn,
    MessageCreate,
    TextBlockIn,
    dump,
)

__all__ = ["message_content", "new_message"]


def message_content(content: str | list[Any], field: str = "content") -> list[dict[str, Any]]:
    """Validated ``content`` in stored block form; a 400 for what cannot be kept.

    An ``image_file`` block is kept as sent: whether it names an image of the caller's
    is checked by :func:`~agentdown.runtime.agents_api.attachments.check_message_files`,
    before anything is written.
    """
    if isinstance(content, str):
        if not content:
            raise bad_request(f"{field}: must not be empty", field)
        return [text_block(content)]
    if not content:
        raise bad_request(f"{field}: must hold at least one content block", field)
    blocks: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        where = f"{field}[{index}]"
        if isinstance(block, TextBlockIn):
            blocks.append(text_block(block.text))
        elif isinstance(block, ImageUrlBlockIn):
            url = block.image_url.url
            if not _is_image_url(url):
                raise bad_request(
                    f"{where}.image_url.url: expected an http(s) or data: URL, got {url[:80]!r}",
                    f"{where}.image_url.url",
                )
            blocks.append({"type": "image_url", "image_url": dump(block.image_url)})
        else:
            assert isinstance(block, ImageFileBlockIn)
            blocks.append({"type": "image_file", "image_file": dump(block.image_file)})
    return blocks


def _is_image_url(url: str) -> bool:
    # The very pattern the document publishes (searched as JSON Schema does), so what it calls
    # valid is accepted and nothing else.
    return re.search(IMAGE_URL_PATTERN, url) is not None


def new_message(
    thread_id: str,
    request: MessageCreate,
    field: str = "",
    *,
    run_id: str | None = None,
    assistant_id: str | None = None,
) -> dict[str, Any]:
    """The stored ``thread.message`` body for ``request`` (``field`` prefixes error paths)."""
    prefix = f"{field}." if field else ""
    attachments = attachment_bodies(request.attachments, f"{prefix}attachments")
    return message_object(
        thread_id,
        request.role,
        message_content(request.content, f"{prefix}content"),
        run_id=run_id,
        assistant_id=assistant_id,
        metadata=request.metadata,
        attachments=attachments,
    )
