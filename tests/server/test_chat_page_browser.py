"""The chat page in real headless Chromium (see browserkit for how it is found)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from browserkit import ARGS, require_chromium
from serverkit import HELPER, SLOW_TOOL, live_server, write_app

from agentdown.messages import Message
from agentdown.testing import CallInfo, Reply, tool_call

ANSWER = (
    "**Sunny** today, see `forecast`.\n\n"
    "- first point\n- second point\n\n"
    'Injected: <img src=x onerror="window.pwned=1"> and <b>not bold</b>\n\n'
    "[bad link](javascript:window.pwned=3) and [good link](https://example.com/)\n\n"
    "```\n<script>window.pwned=2</script>\n```"
)


def model(messages: list[Message], info: CallInfo) -> Reply:
    if messages[-1].role == "tool":
        return ANSWER
    return [tool_call("wait_a_while", {"seconds": 0.8})]


@pytest.fixture
def chromium() -> str:
    return require_chromium()


async def test_chat_page_streams_shows_tools_and_survives_reload(tmp_path: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright, expect

    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/slow.py": SLOW_TOOL})
    async with live_server(app, model, chunk_delay=0.03) as live, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = await browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        await page.goto(f"{live.url}/agents/helper/")
        await expect(page.locator("#name")).to_have_text("Helper")

        await page.fill("#prompt", "What's the weather?")
        await page.press("#prompt", "Enter")
        user = page.locator(".msg.user")
        await expect(user).to_have_text("What's the weather?")
        # The tool call shows while it runs...
        tool = page.locator(".msg.assistant .tool")
        await expect(tool).to_have_attribute("data-state", "running", timeout=5000)
        await expect(tool.locator(".name")).to_have_text("wait_a_while")
        # ...then the answer streams in: visible text while the page is still busy.
        answer = page.locator(".msg.assistant .answer")
        for _ in range(500):
            partial = await answer.text_content() or ""
            if partial and await page.locator("body").get_attribute("data-busy") == "true":
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no text was shown before the answer was complete")
        assert len(partial) < len("Sunny today, see forecast.first pointsecond point")
        await expect(page.locator("body")).to_have_attribute("data-busy", "false", timeout=10000)
        await expect(tool).to_have_attribute("data-state", "done")
        await expect(tool.locator(".result")).to_have_text("waited")

        await expect(answer.locator("strong")).to_have_text("Sunny")
        await expect(answer.locator("code").first).to_have_text("forecast")
        await expect(answer.locator("li")).to_have_count(2)
        await expect(answer.locator("a")).to_have_count(1)
        assert await answer.locator("a").get_attribute("href") == "https://example.com/"
        await expect(answer.locator("pre code")).to_have_text("<script>window.pwned=2</script>")
        await expect(answer).to_contain_text('<img src=x onerror="window.pwned=1"> and <b>not bold</b>')
        assert await page.locator(".answer img, .answer b, .answer script").count() == 0
        assert await page.evaluate("window.pwned") is None

        session_id = await page.evaluate("localStorage.getItem('agentdown.session.helper')")
        assert session_id

        # A reload shows the conversation again, tool call included.
        await page.reload()
        await expect(page.locator(".msg.user")).to_have_text("What's the weather?")
        await expect(page.locator(".msg.assistant .answer strong")).to_have_text("Sunny")
        await expect(page.locator(".msg.assistant .tool")).to_have_attribute("data-state", "done")
        await expect(page.locator(".msg.assistant .tool .name")).to_have_text("wait_a_while")

        # The conversation goes on in the same session.
        await page.fill("#prompt", "And tomorrow?")
        await page.click("#send")
        await expect(page.locator(".msg.user")).to_have_count(2)
        await expect(page.locator("body")).to_have_attribute("data-busy", "false", timeout=10000)
        history = await live.runner.history("helper", session_id)
        assert [m.text for m in history if m.role == "user"] == ["What's the weather?", "And tomorrow?"]

        # "New chat" forgets the session, also across reloads.
        await page.click("#new")
        await expect(page.locator(".msg")).to_have_count(0)
        await page.reload()
        await expect(page.locator("#name")).to_have_text("Helper")
        await expect(page.locator(".msg")).to_have_count(0)
        assert await page.evaluate("localStorage.getItem('agentdown.session.helper')") is None
        await browser.close()
    assert problems == []
