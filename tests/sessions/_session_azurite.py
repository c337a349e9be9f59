"""Start a real Azurite blob service on a free loopback port (for the session tests and bench)."""

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

from agentdown.sessions.config import azurite_connection_string

REPO = Path(__file__).resolve().parents[2]
AZURITE_BLOB = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
_LISTENING = re.compile(rb"successfully listens on (http://[\d.]+:\d+)")


class Azurite:
    """A running Azurite blob service; ``connection_string`` points at it."""

    def __init__(self, process: subprocess.Popen[bytes], endpoint: str) -> None:
        self.process = process
        self.endpoint = endpoint
        self.connection_string = azurite_connection_string(endpoint)


@contextmanager
def running_azurite(timeout: float = 30.0) -> Iterator[Azurite]:
    """Azurite with in-memory storage on a port the OS picks (``--blobPort 0``), stopped on exit."""
    if not AZURITE_BLOB.exists():
        raise RuntimeError(
            f"Azurite is not installed at {AZURITE_BLOB}; run `make test` (it installs the npm "
            "package azurite into .tools/) before running the blob session tests"
        )
    with tempfile.TemporaryDirectory(prefix="agentdown-azurite-") as workdir:
        process = subprocess.Popen(
            [
                str(AZURITE_BLOB),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--loose",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )
        try:
            endpoint = _wait_for_endpoint(process, timeout)
            # Keep draining its output so a chatty Azurite never blocks on a full pipe.
            threading.Thread(target=_drain, args=(process,), daemon=True).start()
            yield Azurite(process, endpoint)
        finally:
            # In-memory storage has nothing to flush; a graceful stop waits ~10 s for idle sockets.
            process.kill()
            process.wait()


def _wait_for_endpoint(process: subprocess.Popen[bytes], timeout: float) -> str:
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
            match = _LISTENING.search(seen)
            if match:
                os.set_blocking(fd, True)
                return match.group(1).decode()
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
