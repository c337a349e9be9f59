"""The Agents API's ``code_interpreter`` tool: the thread's sandbox, its input files, what it writes.

A run's code runs in the local sandbox of its thread (files written by one run are
there for the next; docs/system-tools.md says what the sandbox guarantees). Before a
run's first call, the files of ``tool_resources.code_interpreter.file_ids`` (the
assistant's, the thread's, the run's) and of the thread's ``code_interpreter``
attachments are put in the directory under their file names. Every file the code
writes becomes an ``assistants_output`` file of the caller; images also become
``image_file`` contents of the answer and ``image`` outputs of the run step, logs the
step's ``logs`` output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import bad_request
from agentdown.tools.context import FunctionInvocationContext
from agentdown.tools.system.code_interpreter import Sandbox, SandboxError
from agentdown.tools.system.code_interpreter.files import read_file
from agentdown.tools.system.code_interpreter.sandbox import IMAGE_TYPES
from agentdown.tools.system.code_interpreter.tool import clean_code

__all__ = ["CODE_INTERPRETER", "RunCodeInterpreter", "check_code_interpreter_resources", "input_file_ids"]

logger = logging.getLogger("agentdown.agents_api")

CODE_INTERPRETER = "code_interpreter"
MAX_INPUT_FILES = 20
MAX_OUTPUT_BYTES = 64 * 2**20
MAX_INPUT_BYTES = 64 * 2**20


def check_code_interpreter_resources(value: Any, field: str) -> None:
    """``{file_ids: [...]}`` with at most 20 ids; a 400 naming the field otherwise."""
    if not isinstance(value, Mapping):
        raise bad_request(f"{field} must be an object with file_ids", field)
    unknown = sorted(set(value) - {"file_ids", "data_sources"})
    if unknown:
        raise bad_request(f"{field}: unknown keys {unknown}; expected file_ids", field)
    if value.get("data_sources"):
        raise bad_request(
            f"{field}.data_sources: give the code interpreter uploaded files (file_ids)",
            f"{field}.data_sources",
        )
    ids = value.get("file_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request(f"{field}.file_ids must be a list of file ids", f"{field}.file_ids")
    if len(ids) > MAX_INPUT_FILES:
        raise bad_request(f"{field}.file_ids: at most {MAX_INPUT_FILES} files", f"{field}.file_ids")


def input_file_ids(resources: Sequence[tuple[str, Any]]) -> list[str]:
    """The ``code_interpreter.file_ids`` of every resources object, in order, once each."""
    ids: list[str] = []
    for _, value in resources:
        found = (
            ((value or {}).get(CODE_INTERPRETER) or {}).get("file_ids")
            if isinstance(value, Mapping)
            else None
        )
        ids += [str(i) for i in found or []]
    return list(dict.fromkeys(ids))


class RunCodeInterpreter:
    """``code_interpreter(code)`` for one run (the tool protocol: name, description, parameters, invoke)."""

    name = CODE_INTERPRETER
    kind = CODE_INTERPRETER
    description = (
        "Run Python code in a sandbox with no network. Files you were given are in the working "
        "directory; files you write there are returned to the user (images are shown). The state "
        "persists between calls of this thread."
    )

    def __init__(self, api: AgentsApi, *, thread_id: str, owner: str, file_ids: Sequence[str]) -> None:
        self.parameters: dict[str, Any] = {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run"}},
            "required": ["code"],
        }
        self.api = api
        self.thread_id = thread_id
        self.owner = owner
        self.file_ids = list(file_ids)
        self.calls: dict[str, dict[str, Any]] = {}
        """Per tool call id: the step's ``{input, outputs}``."""
        self.images: list[str] = []
        """File ids of the images written, for the answer's ``image_file`` contents."""
        self._prepared = False

    async def invoke(self, arguments: Mapping[str, Any], context: FunctionInvocationContext) -> str:
        code = clean_code(str(arguments.get("code") or ""))
        detail: dict[str, Any] = {"input": code, "outputs": []}
        self.calls[context.call_id] = detail
        try:
            sandbox = self.api.sandbox(self.thread_id)
            if not self._prepared:
                await self._put_inputs(sandbox)
                self._prepared = True
            execution = await sandbox.run(code)
        except SandboxError as exc:
            logger.warning("code interpreter of thread %s: %s", self.thread_id, exc)
            return json.dumps({"error": f"the code interpreter is not available: {exc}"})
        logs = "".join(
            part
            for part in (
                execution.stdout,
                execution.stderr,
                f"{execution.result}\n" if execution.result is not None else "",
                f"{execution.error}\n" if execution.error else "",
            )
            if part
        )
        if logs:
            detail["outputs"].append({"type": "logs", "logs": logs})
        written: dict[str, str] = {}
        directory = execution.directory or sandbox.directory
        for path in execution.files_created:
            name = str(path.relative_to(directory))
            data = read_file(directory, name, MAX_OUTPUT_BYTES)
            if data is None:
                continue
            file_id = await self._upload(path.name, data)
            written[name] = file_id
            if path.suffix.lower() in IMAGE_TYPES:
                detail["outputs"].append({"type": "image", "image": {"file_id": file_id}})
                self.images.append(file_id)
        answer = execution.to_dict()
        if written:
            answer["files"] = written
        return json.dumps(answer, ensure_ascii=False)

    async def _put_inputs(self, sandbox: Sandbox) -> None:
        files = self.api.files()
        ids = [*self.file_ids, *await self._attached()]
        for file_id in list(dict.fromkeys(ids))[:MAX_INPUT_FILES]:
            record = await files.find(file_id, self.owner)
            if record is None:
                continue  # deleted since the run was created: the code finds it missing
            chunks: list[bytes] = []
            size = 0
            async for chunk in files.content(file_id):
                size += len(chunk)
                if size > MAX_INPUT_BYTES:
                    break
                chunks.append(chunk)
            if size <= MAX_INPUT_BYTES:
                sandbox.put_file(str(record.body.get("filename") or file_id), b"".join(chunks))

    async def _attached(self) -> list[str]:
        """The ids of the thread's files attached for the code interpreter (newest 100 messages)."""
        page = await self.api.store.list("message", self.thread_id, limit=100, order="desc")
        ids: list[str] = []
        for record in page.records:
            for attachment in record.body.get("attachments") or []:
                if any(t.get("type") == CODE_INTERPRETER for t in attachment.get("tools") or []):
                    ids.append(str(attachment["file_id"]))
        return ids

    async def _upload(self, filename: str, data: bytes) -> str:
        files = self.api.files()
        file_id = files.new_id()
        writer = await files.writer(file_id)
        try:
            await writer.write(data)
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        await files.add(file_id, self.owner, filename, "assistants_output", len(data))
        return file_id
