"""Start a real Azurite (blob, queue and table services) on free loopback ports, for the tests and benchmarks."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentdown.sessions.config import AZURITE_ACCOUNT_KEY

REPO = Path(__file__).resolve().parents[1]
AZURITE = REPO / ".tools" / "node_modules" / ".bin" / "azurite"
_LISTENING = re.compile(
    rb"Azurite (Blob|Queue|Table) service is successfully listening at (http://[\d.]+:\d+)"
)


class Azurite:
    """A running Azurite; ``connection_string`` names its blob, queue and table endpoints."""

    def __init__(self, blob: str, queue: str, table: str) -> None:
        self.blob_endpoint = blob
        self.queue_endpoint = queue
        self.table_endpoint = table
        self.connection_string = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_ACCOUNT_KEY};"
            f"BlobEndpoint={blob}/devstoreaccount1;QueueEndpoint={queue}/devstoreaccount1;"
            f"TableEndpoint={table}/devstoreaccount1;"
        )


@contextmanager
def running_azurite(timeout: float = 30.0, debug_log: Path | None = None) -> Iterator[Azurite]:
    """Azurite with in-memory storage on ports the OS picks, stopped on exit.

    ``debug_log``: Azurite writes every request there (one ``Operation=<name>`` line
    each), so a test can count the storage operations a workload costs.
    """
    if not AZURITE.exists():
        raise RuntimeError(
            f"Azurite is not installed at {AZURITE}; run `make test` (it installs it into .tools/)"
        )
    with tempfile.TemporaryDirectory(prefix="agentdown-azurite-") as workdir:
        process = subprocess.Popen(
            [
                str(AZURITE),
                *("--blobHost", "127.0.0.1", "--blobPort", "0"),
                *("--queueHost", "127.0.0.1", "--queuePort", "0"),
                *("--tableHost", "127.0.0.1", "--tablePort", "0"),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--loose",
                *(("--debug", str(debug_log)) if debug_log is not None else ()),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )
        try:
            endpoints = _wait_for_endpoints(process, timeout)
            threading.Thread(target=_drain, args=(process,), daemon=True).start()
            yield Azurite(endpoints["Blob"], endpoints["Queue"], endpoints["Table"])
        finally:
            process.kill()
            process.wait()


def _wait_for_endpoints(process: subprocess.Popen[bytes], timeout: float) -> dict[str, str]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = b""
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = b""
        if chunk:
            seen += chunk
            found = {m.group(1).decode(): m.group(2).decode() for m in _LISTENING.finditer(seen)}
            if len(found) == 3:
                os.set_blocking(fd, True)
                return found
        elif process.poll() is not None:
            break
        else:
            time.sleep(0.02)
    raise RuntimeError(
        f"Azurite did not start within {timeout}s; its output:\n{seen.decode(errors='replace')}"
    )


def _drain(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    while process.stdout.read(65536):
        pass
