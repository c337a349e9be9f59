"""The chat page follows a planned workflow, in real headless Chromium against a live server.

The triage agent (the other runtime's sample shape, tests/runtime/workflows/wfkit.py)
starts a workflow; the page shows a progress card that turns Completed, then posts the
<workflow-notification> turn once, and the agent's summary streams in. A reload shows the
card again and does not notify twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from browserkit import ARGS, require_chromium
from serverkit import live_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "workflows"))
from wfkit import model, write_triage_app


@pytest.fixture
def chromium() -> str:
    return require_chromium()


async def test_the_progress_card_and_the_notification_turn(
    tmp_path: Path, chromium: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import async_playwright, expect

    marker = tmp_path / "marks.txt"
    monkeypatch.setenv("MARKER_FILE", str(marker))
    env = {
        "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        "AGENTDOWN_WORKFLOW_POLL_SECONDS": "0.1",
        "MARKER_FILE": str(marker),
    }
    app = write_triage_app(tmp_path)
    async with live_server(app, model, environ=env) as live, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = await browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(f"{live.url}/agents/main/")
        await page.fill("#prompt", "triage checkout wait PT1S")
        await page.press("#prompt", "Enter")
        await expect(page.locator(".msg.assistant .answer").first).to_contain_text(
            "Started workflow", timeout=10000
        )
        card = page.locator("section.wf")
        await expect(card).to_have_count(1, timeout=10000)
        await expect(card.locator("li")).to_have_count(7)
        await expect(card).to_have_attribute("data-state", "Completed", timeout=30000)
        await expect(card.locator("li[data-status='succeeded']")).to_have_count(7)
        notice = page.locator(".notice", has_text="finished (Completed)")
        await expect(notice).to_have_count(1, timeout=10000)
        summary = page.locator(".msg.assistant .answer", has_text="Summary: Completed")
        await expect(summary).to_have_count(1, timeout=15000)
        await expect(page.locator("body")).to_have_attribute("data-busy", "false")

        await page.reload()
        await expect(page.locator("section.wf")).to_have_attribute("data-state", "Completed", timeout=10000)
        await page.wait_for_timeout(1500)
        # Told once: the reload shows the conversation (both summaries are from before) and no new notice.
        await expect(page.locator(".notice", has_text="telling the assistant")).to_have_count(0)
        await expect(page.locator(".msg.assistant .answer", has_text="Summary: Completed")).to_have_count(1)
        await browser.close()
        assert problems == []
