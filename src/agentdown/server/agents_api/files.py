"""Routes of files: ``POST /files`` (multipart upload), ``GET /files``, ``GET/DELETE /files/{id}``, content.

The upload is parsed as it arrives (``python-multipart``'s streaming parser) and the
``file`` part goes straight to the file's storage in 4 MiB pieces: a request body is
never held whole in memory, nor spooled twice. The other routes of the server read
their bodies with ``read_body`` and its ``AGENTDOWN_MAX_BODY_BYTES`` cap (4 MiB); this
one route reads its own way, bounded by ``AGENTDOWN_MAX_FILE_BYTES`` instead (413
beyond it, from ``Content-Length`` before reading, else as soon as the part grows past
it). The form fields besides the file (``purpose``, ``filename``) are at most 64 KiB.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import ApiProblem, bad_request, not_found
from agentdown.runtime.agents_api.files import FileService, check_purpose, clean_filename
from agentdown.runtime.agents_api.files_blobs import FileBytesWriter, FileGoneError
from agentdown.runtime.agents_api.store import public
from agentdown.server.agents_api.http import agents_endpoint, caller_of, ok
from agentdown.server.context import ServerContext

__all__ = ["MAX_FIELD_BYTES", "file_routes"]

MAX_FIELD_BYTES = 64 * 1024
"""All form fields but the file, together."""
MAX_PARTS = 16
_FORM_OVERHEAD = MAX_FIELD_BYTES + 64 * 1024
"""What a declared ``Content-Length`` may exceed the file limit by (boundaries, headers, fields)."""
_DRAIN_BYTES = 16 * 1024 * 1024
"""After a 413 mid-body, how much more is read (and dropped) so the client sees the answer."""


def too_large(limit: int) -> ApiProblem:
    return ApiProblem(
        413,
        f"file too large: the limit is {limit} bytes (AGENTDOWN_MAX_FILE_BYTES)",
        "file_too_large",
        param="file",
    )


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    header_field: bytes = b""
    header_value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)


class _Form:
    """The state of one upload: the fields read so far and the writer of the file part."""

    def __init__(self, files: FileService, file_id: str) -> None:
        self.files = files
        self.file_id = file_id
        self.events: list[tuple[str, bytes]] = []
        self.part = _Part()
        self.fields: dict[str, str] = {}
        self.field_bytes = 0
        self.parts = 0
        self.current: str | None = None
        """``file``, a field's name, or ``None`` for a part that is dropped."""
        self.value = bytearray()
        self.writer: FileBytesWriter | None = None
        self.part_filename: str | None = None
        self.size = 0

    def callbacks(self) -> Any:
        def data(kind: str) -> Any:
            def on(data: bytes, start: int, end: int) -> None:
                self.events.append((kind, data[start:end]))

            return on

        def mark(kind: str) -> Any:
            def on() -> None:
                self.events.append((kind, b""))

            return on

        return {
            "on_part_begin": mark("begin"),
            "on_part_data": data("data"),
            "on_part_end": mark("end"),
            "on_header_field": data("hfield"),
            "on_header_value": data("hvalue"),
            "on_header_end": mark("hend"),
            "on_headers_finished": mark("headers"),
        }

    async def handle(self) -> None:
        events, self.events = self.events, []
        for kind, data in events:
            if kind == "begin":
                self.part = _Part()
                self.parts += 1
                if self.parts > MAX_PARTS:
                    raise bad_request(f"the form has more than {MAX_PARTS} parts", "body")
            elif kind == "hfield":
                self.part.header_field += data
            elif kind == "hvalue":
                self.part.header_value += data
            elif kind == "hend":
                self.part.headers[self.part.header_field.lower()] = self.part.header_value
                self.part.header_field = self.part.header_value = b""
                if len(self.part.headers) > 8:
                    raise bad_request("a form part has more than 8 headers", "body")
            elif kind == "headers":
                await self._begin_part()
            elif kind == "data":
                await self._data(data)
            elif kind == "end" and self.current not in (None, "file"):
                self.fields[self.current] = self.value.decode("utf-8", errors="replace")

    async def _begin_part(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", errors="replace")
        self.value = bytearray()
        if name == "file":
            if self.writer is not None:
                raise bad_request("file: the form has more than one file part", "file")
            raw = options.get(b"filename")
            self.part_filename = raw.decode("utf-8", errors="replace") if raw is not None else None
            self.writer = await self.files.writer(self.file_id)
            self.current = "file"
        else:
            self.current = name if name in ("purpose", "filename") else None

    async def _data(self, data: bytes) -> None:
        if self.current == "file":
            self.size += len(data)
            if self.size > self.files.max_bytes:
                raise too_large(self.files.max_bytes)
            assert self.writer is not None
            await self.writer.write(data)
            return
        self.field_bytes += len(data)
        if self.field_bytes > MAX_FIELD_BYTES:
            raise bad_request(f"the form fields besides the file exceed {MAX_FIELD_BYTES} bytes", "body")
        if self.current is not None:
            self.value += data


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise bad_request(
            "expected a multipart/form-data body with a 'file' part and a 'purpose' field", "body"
        )
    return params[b"boundary"]


async def _drain(stream: AsyncIterator[bytes]) -> None:
    """Read a little more of a refused body so the client gets to read the answer."""
    seen = 0
    with contextlib.suppress(ClientDisconnect, Exception):
        async for chunk in stream:
            seen += len(chunk)
            if seen > _DRAIN_BYTES:
                break


async def upload(request: Request, files: FileService, owner: str) -> dict[str, Any]:
    """Stream the form of ``request`` into a new file; its served body."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > files.max_bytes + _FORM_OVERHEAD:
        raise too_large(files.max_bytes)
    boundary = _boundary(request)
    form = _Form(files, files.new_id())
    parser = MultipartParser(boundary, form.callbacks())
    stream = request.stream()
    try:
        try:
            async for chunk in stream:
                parser.write(chunk)
                await form.handle()
            parser.finalize()
            await form.handle()
        except FormParserError as exc:
            raise bad_request(f"the multipart body is malformed: {exc}", "body") from None
        except ApiProblem as exc:
            if exc.status == 413:
                await _drain(stream)
            raise
        if form.writer is None:
            raise bad_request("file: is required (a form part named 'file')", "file")
        purpose = check_purpose(form.fields.get("purpose"))
        filename = clean_filename(form.fields.get("filename") or form.part_filename, "file")
        await form.writer.commit()
    except BaseException:
        if form.writer is not None:
            with contextlib.suppress(Exception):
                await form.writer.abort()
        raise
    try:
        return await files.add(form.file_id, owner, filename, purpose, form.size)
    except BaseException:
        with contextlib.suppress(Exception):
            await files.storage.delete(form.file_id)
        raise


def file_routes(ctx: ServerContext, api: AgentsApi) -> list[Route]:
    @agents_endpoint
    async def create(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        return ok(await upload(request, api.files(), caller.owner))

    @agents_endpoint
    async def list_files(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        purpose = request.query_params.get("purpose")
        # Given but empty is a mistake, not "every purpose" (leave the parameter out for that).
        data = await api.files().list(caller.owner, check_purpose(purpose) if purpose is not None else None)
        return ok({"object": "list", "data": data})

    @agents_endpoint
    async def get(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        record = await api.files().require(request.path_params["file_id"], caller.owner)
        return ok(public(record.body))

    @agents_endpoint
    async def delete(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        files = api.files()
        record = await files.require(request.path_params["file_id"], caller.owner)
        if not await files.delete(record):
            raise not_found("file", record.id)
        return ok({"id": record.id, "object": "file", "deleted": True})

    @agents_endpoint
    async def content(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        files = api.files()
        record = await files.require(request.path_params["file_id"], caller.owner)
        chunks = files.content(record.id)
        try:
            first = await anext(chunks, b"")
        except FileGoneError:
            raise not_found("file", record.id) from None

        async def body() -> AsyncIterator[bytes]:
            yield first
            async for chunk in chunks:
                yield chunk

        headers = {"content-length": str(record.body.get("bytes", 0))}
        return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)

    return [
        Route("/files", create, methods=["POST"]),
        Route("/files", list_files, methods=["GET"]),
        Route("/files/{file_id}", get, methods=["GET"]),
        Route("/files/{file_id}", delete, methods=["DELETE"]),
        Route("/files/{file_id}/content", content, methods=["GET"]),
    ]
