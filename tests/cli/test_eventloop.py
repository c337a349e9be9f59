"""serve and worker run on uvloop unless told otherwise; a wrong AGENTDOWN_EVENT_LOOP is a clear error."""

from __future__ import annotations

import asyncio

import pytest

from agentdown.cli import eventloop
from agentdown.exceptions import ConfigurationError


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTDOWN_EVENT_LOOP", raising=False)
    assert eventloop.run(_loop_module()).startswith("uvloop")


def test_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTDOWN_EVENT_LOOP", "asyncio")
    assert eventloop.run(_loop_module()).startswith("asyncio")


def test_an_unknown_loop_is_refused_and_the_coroutine_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTDOWN_EVENT_LOOP", "trio")
    main = _loop_module()
    with pytest.raises(ConfigurationError, match="AGENTDOWN_EVENT_LOOP must be one of auto, asyncio, uvloop"):
        eventloop.run(main)
    assert main.cr_frame is None  # closed: no "never awaited" warning
