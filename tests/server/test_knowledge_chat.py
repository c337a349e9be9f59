"""A chat turn of an agent with knowledge through the server: file_search, then citations in
``/chat``, the stream's ``done`` and ``/history`` (the model is the loopback fake model server)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest
from serverkit import agent_md, live_server, parse_sse, post_json, write_app

from agentdown.messages import Message
from agentdown.testing import CallInfo, Reply, tool_call

AGENT = agent_md(
    "name: Docs\ndescription: Answers from the docs.\nbuiltin_endpoints: true\nknowledge: [docs/]",
    "Answer from the docs and cite them.",
)
FILES = {
    "docs.agent.md": AGENT,
    "docs/refunds.md": "# Refunds\nRefunds take 14 days from the day the parcel arrives.",
    "docs/shipping.md": "# Shipping\nShipping is free for orders over 50 euros.",
}


def model(messages: list[Message], info: CallInfo) -> Reply:
    last = messages[-1]
    if last.role != "tool":
        return [
            tool_call("file_search", {"query": "refunds days"}),
            tool_call("file_search", {"query": "shipping free"}),
        ]
    results = "\n".join(r.text or "" for r in last.tool_results)
    assert "【0†docs/refunds.md】" in results and "【1†docs/shipping.md】" in results, results
    return "Refunds take 14 days 【0†docs/refunds.md】 and shipping is free over 50 euros 【1†docs/shipping.md】. 【7†made-up.md】"


def environ(tmp_path: Path) -> dict[str, str]:
    return {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), "AGENTDOWN_EMBEDDING_MODEL": "none"}


EXPECTED = [
    {
        "marker": "【0†docs/refunds.md】",
        "file_name": "docs/refunds.md",
        "quote": "# Refunds\nRefunds take 14 days from the day the parcel arrives.",
    },
    {
        "marker": "【1†docs/shipping.md】",
        "file_name": "docs/shipping.md",
        "quote": "# Shipping\nShipping is free for orders over 50 euros.",
    },
]


def shown(citations: list[dict[str, str]]) -> list[dict[str, str]]:
    assert all(c["file_id"].startswith("kf_") for c in citations)
    return [{k: c[k] for k in ("marker", "file_name", "quote")} for c in citations]


async def test_chat_and_stream_answers_carry_citations(tmp_path: Path) -> None:
    app = write_app(tmp_path, FILES)
    async with live_server(app, model, environ=environ(tmp_path)) as live, aiohttp.ClientSession() as http:
        status, _, body = await post_json(http, f"{live.url}/agents/docs/chat", {"prompt": "Refunds?"})
        assert status == 200, body
        assert shown(body["citations"]) == EXPECTED  # the made-up marker 7 names no result
        assert [c["tool_name"] for c in body["tool_calls"]] == ["file_search", "file_search"]

        async with http.post(
            f"{live.url}/agents/docs/chatstream", json={"prompt": "And shipping?"}
        ) as response:
            assert response.status == 200
            events = parse_sse(await response.text())
        done = [data for name, data in events if name == "done"]
        assert len(done) == 1 and shown(done[0]["citations"]) == EXPECTED
        sid = done[0]["session_id"]

        async with http.get(f"{live.url}/agents/docs/history", headers={"x-ms-session-id": sid}) as response:
            history = await response.json()
        answers = [m for m in history["messages"] if m["role"] == "assistant" and m["text"]]
        assert shown(answers[-1]["citations"]) == EXPECTED

        # A file changed while serving is searched in its new version.
        (app / "docs" / "refunds.md").write_text("# Refunds\nRefunds take 30 days now.")
        folder = live.catalog.knowledge.folder(live.catalog["docs"])
        folder.rescan_seconds = 0.0
        hits = await folder.search("refunds", max_results=3)
        assert hits[0].text == "# Refunds\nRefunds take 30 days now."


async def test_an_agent_without_citations_has_no_citations_field(tmp_path: Path) -> None:
    app = write_app(tmp_path, FILES)

    def plain(messages: list[Message], info: CallInfo) -> Reply:
        return "No sources needed."

    async with live_server(app, plain, environ=environ(tmp_path)) as live, aiohttp.ClientSession() as http:
        status, _, body = await post_json(http, f"{live.url}/agents/docs/chat", {"prompt": "Hi"})
        assert status == 200 and "citations" not in body


async def test_serving_indexes_in_the_background_and_logs_failures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = write_app(tmp_path, {**FILES, "docs/broken.pdf": "not a pdf"})
    caplog.set_level(logging.INFO, logger="agentdown.knowledge")
    async with live_server(app, model, environ=environ(tmp_path)) as live:
        folder = live.catalog.knowledge.folder(live.catalog["docs"])
        for _ in range(500):
            if folder.ready:
                break
            await asyncio.sleep(0.01)
        assert folder.ready and folder.last_report is not None
        assert sorted(folder.last_report.added) == ["docs/refunds.md", "docs/shipping.md"]
    logged = [r.getMessage() for r in caplog.records if r.name == "agentdown.knowledge"]
    assert any("knowledge of docs: 2 files, 2 chunks (2 added" in m for m in logged), logged
    assert any("knowledge of docs: docs/broken.pdf is not indexed: " in m for m in logged), logged
