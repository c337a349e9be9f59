"""Stand-in queue functions: one written with the azure-storage-queue SDK as the Azure docs do, one on our queues."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from agentdown.runtime.queues import open_queue_service, resolve_account

Handler = Callable[[dict[str, Any]], Any]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class SdkFunction:
    """What the Azure AI Agent Service docs' function does: base64 policies both ways, one reply per call."""

    def __init__(self, connection_string: str, input_queue: str, output_queue: str, handler: Handler) -> None:
        from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy, QueueClient

        self.input = QueueClient.from_connection_string(
            connection_string,
            input_queue,
            message_encode_policy=BinaryBase64EncodePolicy(),
            message_decode_policy=BinaryBase64DecodePolicy(),
        )
        self.output = QueueClient.from_connection_string(
            connection_string,
            output_queue,
            message_encode_policy=BinaryBase64EncodePolicy(),
            message_decode_policy=BinaryBase64DecodePolicy(),
        )
        for client in (self.input, self.output):
            with contextlib.suppress(Exception):
                client.create_queue()
        self.handler = handler
        self.stopping = threading.Event()
        self.calls: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SdkFunction:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(10)

    def _run(self) -> None:
        while not self.stopping.is_set():
            got = False
            for msg in self.input.receive_messages(
                messages_per_page=32, visibility_timeout=30, max_messages=32
            ):
                got = True
                payload = json.loads(msg.content.decode("utf-8"))
                self.calls.append(payload)
                result = {"Value": self.handler(payload), "CorrelationId": payload["CorrelationId"]}
                self.output.send_message(json.dumps(result).encode("utf-8"))
                self.input.delete_message(msg)
            if not got:
                self.stopping.wait(0.02)


async def serve_embedded(
    environ: dict[str, str],
    input_queue: str,
    output_queue: str,
    handler: Handler,
    stop: asyncio.Event,
    *,
    copies: int = 1,
) -> None:
    """A stand-in function on the embedded queue (our queue API, raw JSON bodies)."""
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    inputs, outputs = service.queue(input_queue), service.queue(output_queue)
    try:
        while not stop.is_set():
            token = inputs.change_token()  # type: ignore[attr-defined]
            messages = await inputs.receive(32, 30)
            for message in messages:
                payload = json.loads(message.body)
                reply = json.dumps({"Value": handler(payload), "CorrelationId": payload["CorrelationId"]})
                for _ in range(copies):
                    await outputs.send(reply)
                await inputs.delete(message)
            if not messages:
                await inputs.wait_for_change(token, 0.05)  # type: ignore[attr-defined]
    finally:
        await service.aclose()
