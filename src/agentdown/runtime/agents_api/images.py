"""Images named by file id: ``image_file`` content blocks checked when sent, read when a run needs them.

A message shows the model an uploaded file with ``{"type": "image_file", "image_file":
{"file_id": ...}}``. When the message is sent, the file must be the caller's (another
caller's file is a 404, as one that does not exist), hold an image (PNG, JPEG, GIF or
WebP, told from its first bytes, not from its name) and be at most
:data:`MAX_IMAGE_BYTES`, what OpenAI-compatible providers accept for one image. The
message keeps the file id; when a run reads the thread, the block becomes the image's
bytes (sent as a ``data:`` URI). A file deleted since the message was sent becomes a
note saying so, which is what the model reads instead, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentdown.messages import Content, Message
from agentdown.runtime.agents_api.errors import bad_request
from agentdown.runtime.agents_api.files import FileService
from agentdown.runtime.agents_api.files_blobs import FileGoneError
from agentdown.runtime.agents_api.objects import FILE_URI

__all__ = ["MAX_IMAGE_BYTES", "check_image_files", "image_type", "resolve_images"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(head: bytes) -> str | None:
    """The media type of an image from its first bytes (at least 12), or ``None`` for anything else."""
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


async def _head(files: FileService, file_id: str) -> bytes:
    chunks = files.content(file_id)
    try:
        async for chunk in chunks:
            return chunk[:16]
        return b""
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


async def check_image_files(
    files: FileService, messages: Sequence[tuple[str, dict[str, Any]]], owner: str
) -> None:
    """Every ``image_file`` block names an image file of the caller's: a 404 or 400 naming the block."""
    for field, body in messages:
        prefix = f"{field}." if field else ""
        for index, block in enumerate(body.get("content") or []):
            if block.get("type") != "image_file":
                continue
            file_id = str(block["image_file"]["file_id"])
            param = f"{prefix}content[{index}].image_file.file_id"
            record = await files.require(file_id, owner, param=param)
            size = int(record.body.get("bytes") or 0)
            if size > MAX_IMAGE_BYTES:
                raise bad_request(
                    f"{param}: file {file_id} is {size} bytes; an image may be at most {MAX_IMAGE_BYTES} bytes",
                    param,
                )
            try:
                head = await _head(files, file_id)
            except FileGoneError:
                head = b""
            if image_type(head) is None:
                raise bad_request(
                    f"{param}: file {file_id} ({record.body.get('filename')!r}) is not a PNG, JPEG, GIF or "
                    "WebP image",
                    param,
                )


async def resolve_images(files: FileService, messages: list[Message], owner: str) -> None:
    """Replace each file reference of ``messages`` by the image's bytes (in place), once per file."""
    read: dict[str, Content] = {}
    for message in messages:
        for index, content in enumerate(message.contents):
            uri = content.uri
            if content.type != "uri" or uri is None or not uri.startswith(FILE_URI):
                continue
            file_id = uri[len(FILE_URI) :]
            if file_id not in read:
                read[file_id] = await _image(files, file_id, owner)
            message.contents[index] = read[file_id]


async def _image(files: FileService, file_id: str, owner: str) -> Content:
    gone = Content.from_text(f"[image file {file_id} was deleted and cannot be shown]")
    if await files.find(file_id, owner) is None:
        return gone
    data = bytearray()
    try:
        async for chunk in files.content(file_id):
            data += chunk
            if len(data) > MAX_IMAGE_BYTES:
                return Content.from_text(f"[image file {file_id} is larger than {MAX_IMAGE_BYTES} bytes]")
    except FileGoneError:
        return gone
    media_type = image_type(bytes(data[:16]))
    if media_type is None:
        return Content.from_text(f"[file {file_id} is not an image]")
    return Content.from_data(bytes(data), media_type)
