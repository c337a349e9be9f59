"""The chat page's run inspector in real headless Chromium, against the loopback fake model.

The panel opens from an "Inspect" button (keyboard too) and shows each model call's
tokens and time and each tool call's name, arguments, result and time. Tool results and
arguments are hostile input: they must show as text, never run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browserkit import ARGS, require_chromium
from serverkit import HELPER, live_server, write_app

from agentdown.messages import Message, Usage
from agentdown.models.base import ChatResponse
from agentdown.testing import CallInfo, Reply, tool_call

HOSTILE = '<img src=x onerror="window.pwned=1"></pre></script><script>window.pwned=2</script>'

TOOL = '''
import asyncio
from agentdown import tool


@tool
async def fetch_page(url: str) -> str:
    """Fetch a page."""
    await asyncio.sleep(0.3)
    return "page of " + url + ": " + HOSTILE
'''.replace("HOSTILE", repr(HOSTILE))


def model(messages: list[Message], info: CallInfo) -> Reply:
    # Known token counts, so the panel's numbers can be checked exactly.
    if messages[-1].role == "tool":
        return ChatResponse(Message.assistant("It says hello."), Usage(300, 42, 342, 1))
    call = tool_call("fetch_page", {"url": "https://example.com/" + HOSTILE})
    return ChatResponse(Message(role="assistant", contents=[call]), Usage(120, 7, 127, 1))


@pytest.fixture
def chromium() -> str:
    return require_chromium()


async def test_inspector_shows_steps_tokens_and_timings_and_keeps_hostile_results_inert(
    tmp_path: Path, chromium: str
) -> None:
    from playwright.async_api import async_playwright, expect

    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/web.py": TOOL})
    async with live_server(app, model) as live, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = await browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        await page.goto(f"{live.url}/agents/helper/")
        await page.fill("#prompt", "What does the page say?")
        await page.press("#prompt", "Enter")
        await expect(page.locator("body")).to_have_attribute("data-busy", "false", timeout=10000)
        await expect(page.locator(".msg.assistant .answer")).to_have_text("It says hello.")

        toggle = page.locator(".msg.assistant .inspect-toggle")
        panel = page.locator(".msg.assistant .inspector")
        await expect(toggle).to_have_count(1)
        await expect(toggle).to_have_attribute("aria-expanded", "false")
        assert await toggle.get_attribute("aria-controls") == await panel.get_attribute("id")
        assert await panel.get_attribute("aria-label") == "Run inspector"
        await expect(panel).to_be_hidden()

        # Keyboard: focus the toggle and press Enter; Space closes it again.
        await toggle.focus()
        await page.keyboard.press("Enter")
        await expect(panel).to_be_visible()
        await expect(toggle).to_have_attribute("aria-expanded", "true")

        totals = panel.locator(".totals")
        await expect(totals).to_contain_text("2 model calls · 1 tool call · 469 tokens (420 in, 49 out)")
        steps = panel.locator("li.step")
        await expect(steps).to_have_count(2)
        await expect(steps.nth(0)).to_have_attribute("data-step-type", "tool_calls")
        await expect(steps.nth(0).locator(".tokens")).to_have_text("127 tokens (120 in, 7 out)")
        await expect(steps.nth(1).locator(".tokens")).to_have_text("342 tokens (300 in, 42 out)")
        await expect(steps.nth(1)).to_have_attribute("data-step-type", "message_creation")
        for step in (steps.nth(0), steps.nth(1)):
            await expect(step.locator(".model-time")).to_have_text(re.compile(r"^model \d+ ms$"))
            await expect(step.locator(".step-time")).to_have_text(re.compile(r"^step \d+ ms$"))

        call = steps.nth(0).locator(".call")
        await expect(call).to_have_count(1)
        await expect(call.locator(".name")).to_have_text("fetch_page")
        await expect(call).to_have_attribute("data-error", "false")
        # The tool sleeps 300 ms.
        took = await call.locator(".call-time").text_content() or ""
        match = re.fullmatch(r"(\d+) ms", took)
        assert match and 300 <= int(match.group(1)) < 1000, took
        args = await call.locator(".args").text_content() or ""
        assert '"url": ' in args and HOSTILE.replace('"', '\\"') in args
        result = await call.locator(".result").text_content()
        assert result == f"page of https://example.com/{HOSTILE}: {HOSTILE}"
        # The whole turn took at least the tool's time; shown in ms or s.
        text = await totals.text_content() or ""
        match = re.search(r"· (\d+) ms$|· (\d+\.\d\d) s$", text)
        assert match, text
        total_ms = int(match.group(1)) if match.group(1) else float(match.group(2)) * 1000
        assert total_ms >= 300

        # Hostile content stayed text: nothing of it became an element, nothing ran.
        assert await page.locator(".inspector img, .inspector script, .tool img, .tool script").count() == 0
        assert await page.evaluate("window.pwned") is None

        await page.keyboard.press("Space")
        await expect(panel).to_be_hidden()
        await expect(toggle).to_have_attribute("aria-expanded", "false")
        await browser.close()
    assert len(live.fake.requests) == 2
    assert problems == []


APPROVAL_TOOL = '''
from agentdown import tool


@tool(approval_mode="always_require")
def delete_file(path: str) -> str:
    """Delete a file (asks first)."""
    return f"deleted {path}"
'''


def approval_model(messages: list[Message], info: CallInfo) -> Reply:
    if messages[-1].role == "tool":
        return "Gone."
    return [tool_call("delete_file", {"path": "a.txt"})]


async def test_a_paused_step_is_shown_waiting_then_completed_in_place(tmp_path: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright, expect

    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/files.py": APPROVAL_TOOL})
    async with live_server(app, approval_model) as live, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = await browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(f"{live.url}/agents/helper/")
        await page.fill("#prompt", "delete a.txt")
        await page.press("#prompt", "Enter")
        await expect(page.locator("body")).to_have_attribute("data-pending", "true", timeout=10000)

        await page.click(".msg.assistant .inspect-toggle")
        panel = page.locator(".msg.assistant .inspector")
        steps = panel.locator("li.step")
        await expect(steps).to_have_count(1)
        await expect(steps.nth(0)).to_have_attribute("data-status", "in_progress")
        await expect(steps.nth(0).locator(".call-time")).to_have_text("waiting")
        await expect(steps.nth(0).locator(".result")).to_have_text("(no result yet)")

        await page.click(".decide .approve")
        await expect(page.locator(".msg.assistant .answer")).to_have_text("Gone.", timeout=10000)
        await expect(page.locator("body")).to_have_attribute("data-busy", "false", timeout=10000)
        # The same step, now completed (not a second copy), then the answer's step.
        await expect(steps).to_have_count(2)
        await expect(steps.nth(0)).to_have_attribute("data-status", "completed")
        await expect(steps.nth(0).locator(".result")).to_have_text("deleted a.txt")
        await expect(steps.nth(0).locator(".call-time")).to_have_text(re.compile(r"^\d+ ms$"))
        await expect(panel.locator(".totals")).to_contain_text("2 model calls · 1 tool call")
        await browser.close()
    assert problems == []
