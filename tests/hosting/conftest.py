"""Fixtures: the sample app, the fake model server, Azurite, and calling a function as the host does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

# As in a deployed app with agentdown[functions]: the worker's HTTP streams extension is
# imported, so every created app's HTTP functions take its types (the worker's switch is
# process-wide; the buffered fallback is tested in a fresh interpreter).
import azurefunctions.extensions.http.fastapi  # type: ignore[import-untyped]  # noqa: F401
import pytest
from _hosting_kit import SAMPLE, Hosted

from agentdown.hosting import create_function_app
from agentdown.testing import FakeModelServer
from azurite_peer import Azurite, running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as server:
        yield server


@pytest.fixture
async def fake() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeModelServer) -> dict[str, str]:
    """A model on the fake server, sessions in a SQLite file of this test."""
    return {
        "AGENTDOWN_PROVIDER": "openai_compatible",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test",
        "AGENTDOWN_MODEL": "fake-model",
        "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        "AGENTDOWN_MODELS_DIR": str(tmp_path / "no-models"),
        "AGENTDOWN_STATE_KEY": "tests-only-state-key",
    }


@pytest.fixture
async def hosted(env: dict[str, str]) -> AsyncIterator[Hosted]:
    app = Hosted(create_function_app(SAMPLE, environ=env))
    yield app
    await app.aclose()
