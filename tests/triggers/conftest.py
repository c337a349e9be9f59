"""Fixtures for the trigger tests: Azurite (blob + queue) started once per run, backend environments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _triggers_apps import base_environ

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
    """Settings for the parametrised backend: the embedded store in ``tmp_path``, or Azurite."""
    env = base_environ(tmp_path / "data")
    if backend == "azure":
        server: Azurite = request.getfixturevalue("azurite")
        env["AzureWebJobsStorage"] = server.connection_string
    return env
