"""Real MCP servers (the ``mcp`` SDK's MCPServer) in subprocesses, for the MCP tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentdown.app.mcp_config import McpServerConfig

DEMO_SERVER = Path(__file__).parent / "servers" / "demo_server.py"


class RunningServer:
    """A demo server in a subprocess, listening on a loopback port."""

    def __init__(self, transport: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(DEMO_SERVER), transport],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("PORT "), f"the demo server did not start: {line!r}"
        self.port = int(line.split()[1])
        path = "/mcp" if transport == "streamable-http" else "/sse"
        self.url = f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def stdio_config(name: str = "local", **kwargs: object) -> McpServerConfig:
    return McpServerConfig(name, "stdio", command=sys.executable, args=(str(DEMO_SERVER), "stdio"), **kwargs)  # type: ignore[arg-type]
