"""Fixtures: real MCP servers over streamable HTTP and SSE, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp_test_servers import RunningServer


@pytest.fixture(scope="session")
def http_server() -> Iterator[RunningServer]:
    server = RunningServer("streamable-http")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sse_server() -> Iterator[RunningServer]:
    server = RunningServer("sse")
    yield server
    server.stop()


@pytest.fixture
def own_http_server() -> Iterator[RunningServer]:
    """A server for one test only (the test may kill it)."""
    server = RunningServer("streamable-http")
    yield server
    server.stop()
