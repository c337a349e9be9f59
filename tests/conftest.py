"""Fixtures for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _empty_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no-local-models")


@pytest.fixture(autouse=True)
def _no_pulled_local_models(monkeypatch: pytest.MonkeyPatch, _empty_models_dir: Path) -> None:
    """A model pulled on this machine must not become the default provider behind a test's
    back (with no provider configured, agentdown uses a pulled local model). tests/local
    finds the real models directory itself, at import time."""
    monkeypatch.setenv("AGENTDOWN_MODELS_DIR", str(_empty_models_dir))


@pytest.fixture(autouse=True)
def _state_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paused-run states are signed; a fixed key keeps tests out of the user's data dir."""
    monkeypatch.setenv("AGENTDOWN_STATE_KEY", "tests-only-state-key")
