"""``agentdown worker`` / ``agentdown enqueue`` as real processes, with their output collected."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

PROVIDER_VARIABLES = (
    "AGENTDOWN_PROVIDER",
    "AZURE_FUNCTIONS_AGENTS_PROVIDER",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_OPENAI_ENDPOINT",
    "FOUNDRY_PROJECT_ENDPOINT",
    "AzureWebJobsStorage",
)


def process_environ(settings: dict[str, str], base_url: str) -> dict[str, str]:
    """The test's settings plus a model provider pointing at the fake server; nothing inherited that matters."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARIABLES}
    return {
        **env,
        **settings,
        "AGENTDOWN_PROVIDER": "openai_compatible",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "test",
        "AGENTDOWN_MODEL": "fake-model",
    }


class Worker:
    """A running ``agentdown worker`` (or another command) whose output is collected in :attr:`lines`."""

    def __init__(self, app: Path, env: dict[str, str], *extra: str, command: str = "worker") -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentdown.cli", command, str(app), *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 30.0, marker: str = "worker running") -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.output}")
            time.sleep(0.05)

    def finish(self, timeout: float = 20.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentdown.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )
