"""Fixtures for the session store tests: one store of each kind, Azurite started once per run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from _session_stores import STORE_KINDS, build_store, store_config

from agentdown.sessions import SessionStore
from azurite_peer import Azurite, running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as server:
        yield server


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_config_for(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    server = request.getfixturevalue("azurite") if store_kind == "azure_blob" else None
    return store_config(store_kind, tmp_path, server)


@pytest.fixture
async def store(store_config_for: dict[str, str]) -> AsyncIterator[SessionStore]:
    instance = build_store(store_config_for)
    try:
        yield instance
    finally:
        await instance.aclose()
