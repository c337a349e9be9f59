"""Fixtures: fresh in-memory providers per test, injected (never the global ones)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from otelkit import Otel, install

from agentdown import telemetry


@pytest.fixture
def otel() -> Iterator[Otel]:
    yield install()
    telemetry.uninstall()


@pytest.fixture
def otel_content() -> Iterator[Otel]:
    yield install(capture=True)
    telemetry.uninstall()
