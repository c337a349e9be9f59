"""The chat page shows an answer's citations (file name + quoted text) in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from browserkit import ARGS, require_chromium
from serverkit import agent_md, live_server, write_app

from agentdown.messages import Message
from agentdown.testing import CallInfo, Reply, tool_call

FILES = {
    "docs.agent.md": agent_md(
        "name: Docs\ndescription: Answers from the docs.\nbuiltin_endpoints: true\nknowledge: [docs/]"
    ),
    "docs/refunds.md": 'Refunds take 14 days. <img src=x onerror="window.pwned=1">',
    "docs/shipping.md": "Shipping is free over 50 euros.",
}


def model(messages: list[Message], info: CallInfo) -> Reply:
    if messages[-1].role != "tool":
        return [tool_call("file_search", {"query": "refunds"})]
    return "Refunds take **14 days** 【0†docs/refunds.md】."


@pytest.fixture
def chromium() -> str:
    return require_chromium()


async def test_the_page_shows_citations_and_keeps_them_after_a_reload(tmp_path: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright, expect

    app = write_app(tmp_path, FILES)
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), "AGENTDOWN_EMBEDDING_MODEL": "none"}
    async with live_server(app, model, environ=env, chunk_delay=0.01) as live, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = await browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        await page.goto(f"{live.url}/agents/docs/")
        await page.fill("#prompt", "How long do refunds take?")
        await page.press("#prompt", "Enter")
        await expect(page.locator("body")).to_have_attribute("data-busy", "false", timeout=15000)

        for _ in range(2):  # the streamed answer, then the same answer from /history after a reload
            answer = page.locator(".msg.assistant").last
            sources = answer.locator(".citations")
            await expect(sources.locator("h2")).to_have_text("Sources")
            await expect(sources.locator(".cite")).to_have_count(1)
            await expect(sources.locator(".cite .n")).to_have_text("[1]")
            await expect(sources.locator(".cite .file")).to_have_text("docs/refunds.md")
            await expect(sources.locator(".cite .quote")).to_have_text(
                'Refunds take 14 days. <img src=x onerror="window.pwned=1">'
            )
            # The marker reads as [1] in the answer; the quote is text, never HTML.
            await expect(answer.locator(".answer")).to_have_text("Refunds take 14 days [1].")
            await expect(answer.locator(".answer strong")).to_have_text("14 days")
            assert await page.locator(".citations img").count() == 0
            await page.reload()
            await expect(page.locator(".msg.user")).to_have_text("How long do refunds take?")
        assert await page.evaluate("window.pwned") is None
        await browser.close()
    assert problems == []
