from __future__ import annotations

from collections.abc import Iterator

import pytest

from azurite_peer import Azurite, running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as server:
        yield server
