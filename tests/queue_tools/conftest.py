"""Fixtures for the queue tool tests: Azurite once per run, a backend-parametrised environment."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "triggers"))

from azurite_peer import Azurite, running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as server:
        yield server


@pytest.fixture(params=["embedded", "azure"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def environ(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    env = {
        "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        "AGENTDOWN_QUEUE_MAX_POLLING_INTERVAL": "0.05",
        "AGENTDOWN_QUEUE_LEASE_SECONDS": "2",
        "AGENTDOWN_DRAIN_SECONDS": "2",
    }
    if backend == "azure":
        server: Azurite = request.getfixturevalue("azurite")
        env["AzureWebJobsStorage"] = server.connection_string
    return env
