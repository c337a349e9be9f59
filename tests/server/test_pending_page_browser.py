"""Paused turns on the chat page, in real headless Chromium against a live server.

A tool that needs approval shows Approve / Deny, a declaration-only tool a field for its
result; the decision continues the same turn's stream, a reload shows a still-waiting
turn again, and Discard closes it. Tool arguments are the model's: they must show as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browserkit import ARGS, require_chromium
from serverkit import HELPER, Live, live_server, write_app

from agentdown.loop.engine import REJECTED_RESULT
from agentdown.messages import Message
from agentdown.testing import CallInfo, Reply, ToolCalls, tool_call

TOOLS = '''
from pathlib import Path

from agentdown import FunctionTool, tool

RAN = Path(__file__).resolve().parent.parent / "ran.log"


@tool(approval_mode="always_require")
def delete_file(path: str) -> str:
    """Delete a file (asks first)."""
    with RAN.open("a", encoding="utf-8") as log:
        log.write(path + "\\n")
    return f"deleted {path}"


ask_human = FunctionTool(
    name="ask_human",
    description="Ask a person; they give the answer.",
    schema={"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]},
)
'''

# Model-controlled arguments that would run script if the page ever parsed them as HTML.
XSS = '<img src=x onerror="window.pwned=1"></pre><script>window.pwned=2</script>'


def model(messages: list[Message], info: CallInfo) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        return "**Done.** Results: " + " | ".join(c.text or "" for c in last.contents)
    if "several" in (last.text or ""):
        # "__proto__" as a call id: a page building its answer with obj[id] = ... would lose it.
        return ToolCalls(
            tool_call("delete_file", {"path": "b.txt"}, call_id="__proto__"),
            tool_call("ask_human", {"question": "Which colour?"}, call_id="call_ask"),
            text="Two things first.",
        )
    return ToolCalls(tool_call("delete_file", {"path": XSS}), text="Let me check.")


@pytest.fixture
def chromium() -> str:
    return require_chromium()


async def _session(page: Any) -> str:
    session_id = await page.evaluate("localStorage.getItem('agentdown.session.helper')")
    assert isinstance(session_id, str) and session_id
    return session_id


async def _browse(live: Live, chromium: str, pw: Any) -> tuple[Any, Any, list[str]]:
    browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
    page = await browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{live.url}/agents/helper/")
    return browser, page, problems


async def test_approve_runs_the_tool_and_the_answer_streams_also_after_a_reload(
    tmp_path: Path, chromium: str
) -> None:
    from playwright.async_api import async_playwright, expect

    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/ops.py": TOOLS})
    ran = app / "ran.log"
    async with live_server(app, model, chunk_delay=0.01) as live, async_playwright() as pw:
        browser, page, problems = await _browse(live, chromium, pw)
        await page.fill("#prompt", "Delete that file")
        await page.press("#prompt", "Enter")

        box = page.locator(".msg.assistant .tool")
        await expect(box).to_have_attribute("data-state", "waiting", timeout=10000)
        await expect(box.locator(".state")).to_have_text("waits for approval")
        await expect(box.locator(".name")).to_have_text("delete_file")
        await expect(box.locator(".approve")).to_be_visible()
        await expect(box.locator(".deny")).to_be_visible()
        await expect(page.locator(".waiting .discard")).to_be_visible()
        await expect(page.locator(".msg.assistant .answer")).to_have_text("Let me check.")
        # The arguments are shown as text, exactly as the model sent them.
        args = json.loads(await box.locator(".args").text_content() or "")
        assert args == {"path": XSS}
        assert await page.locator(".tool img, .tool script").count() == 0
        assert await page.evaluate("window.pwned") is None
        # A new prompt would be refused (409) while the turn waits: the page does not offer one.
        await expect(page.locator("body")).to_have_attribute("data-pending", "true")
        await expect(page.locator("#send")).to_be_disabled()
        assert not ran.exists()
        session_id = await _session(page)
        assert (await live.runner.pending("helper", session_id)) is not None

        # After a reload the waiting turn comes back from /history, buttons included.
        await page.reload()
        await expect(page.locator(".msg.user")).to_have_text("Delete that file")
        box = page.locator(".msg.assistant .tool")
        await expect(box).to_have_attribute("data-state", "waiting")
        await expect(page.locator(".msg.assistant .answer")).to_have_text("Let me check.")
        await expect(page.locator("#send")).to_be_disabled()
        assert json.loads(await box.locator(".args").text_content() or "") == {"path": XSS}

        await box.locator(".approve").click()
        await expect(box).to_have_attribute("data-state", "done", timeout=10000)
        await expect(box.locator(".result")).to_have_text(f"deleted {XSS}")
        answer = page.locator(".msg.assistant .answer")
        await expect(answer.locator("strong")).to_have_text("Done.")
        await expect(answer).to_contain_text(f"Results: deleted {XSS}")
        await expect(page.locator("body")).to_have_attribute("data-busy", "false")
        await expect(page.locator("body")).to_have_attribute("data-pending", "false")
        await expect(page.locator(".decide, .waiting")).to_have_count(0)
        await expect(page.locator("#send")).to_be_enabled()
        assert ran.read_text(encoding="utf-8") == XSS + "\n"
        assert await page.evaluate("window.pwned") is None

        assert (await live.runner.pending("helper", session_id)) is None
        history = await live.runner.history("helper", session_id)
        assert history[-1].role == "assistant"
        assert history[-1].text == f"**Done.** Results: deleted {XSS}"

        # Answered turns are not offered again.
        await page.reload()
        await expect(page.locator(".msg.assistant .tool")).to_have_attribute("data-state", "done")
        await expect(page.locator(".decide, .waiting")).to_have_count(0)
        await expect(page.locator("#send")).to_be_enabled()
        await browser.close()
    assert problems == []


async def test_deny_an_output_for_a_declared_tool_and_discard(tmp_path: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright, expect

    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/ops.py": TOOLS})
    ran = app / "ran.log"
    async with live_server(app, model, chunk_delay=0.01) as live, async_playwright() as pw:
        browser, page, problems = await _browse(live, chromium, pw)
        await page.fill("#prompt", "Do several things")
        await page.press("#prompt", "Enter")
        boxes = page.locator(".msg.assistant .tool")
        await expect(boxes).to_have_count(2, timeout=10000)
        delete, ask = boxes.nth(0), boxes.nth(1)
        await expect(delete).to_have_attribute("data-state", "waiting")
        await expect(ask).to_have_attribute("data-state", "waiting")
        await expect(ask.locator(".state")).to_have_text("needs its result")
        await expect(ask.locator(".approve")).to_have_count(0)
        await expect(page.locator(".waiting")).to_contain_text("2 tool calls")

        # One decision is not enough: nothing is sent until every call has one.
        await delete.locator(".deny").click()
        await expect(delete.locator(".state")).to_have_text("denied")
        await expect(page.locator("#status")).to_have_text("1 more decision(s) needed.")
        assert (await live.runner.pending("helper", await _session(page))) is not None
        requests_before = len(live.fake.requests)

        await ask.locator("textarea").fill('{"colour": "teal"}')
        await ask.locator(".give").click()
        answer = page.locator(".msg.assistant .answer")
        await expect(answer.locator("strong")).to_have_text("Done.", timeout=10000)
        await expect(page.locator("body")).to_have_attribute("data-busy", "false")
        # The model read the rejection and the given result: parsed as JSON (so re-serialised
        # compactly), not sent as the typed text.
        await expect(answer).to_contain_text(f'Results: {REJECTED_RESULT} | {{"colour":"teal"}}')
        assert len(live.fake.requests) == requests_before + 1
        await expect(delete).to_have_attribute("data-state", "error")
        await expect(delete.locator(".state")).to_have_text("denied")
        await expect(ask).to_have_attribute("data-state", "done")
        assert not ran.exists()

        # Discard: a new conversation's waiting turn is closed without running anything.
        await page.click("#new")
        await page.fill("#prompt", "Delete the next one")
        await page.press("#prompt", "Enter")
        box = page.locator(".msg.assistant .tool")
        await expect(box).to_have_attribute("data-state", "waiting", timeout=10000)
        session_id = await _session(page)
        await page.locator(".waiting .discard").click()
        await expect(box.locator(".state")).to_have_text("discarded")
        await expect(page.locator("#status")).to_contain_text("discarded")
        await expect(page.locator(".decide, .waiting")).to_have_count(0)
        await expect(page.locator("#send")).to_be_enabled()
        assert (await live.runner.pending("helper", session_id)) is None
        history = await live.runner.history("helper", session_id)
        assert history[-1].role == "tool"
        assert history[-1].contents[0].text == "Not run: the user discarded this turn before deciding."
        assert not ran.exists()

        # The session takes prompts again (no 409), and a reload shows the discarded call closed.
        await page.fill("#prompt", "Delete it after all")
        await page.press("#prompt", "Enter")
        await expect(page.locator(".msg.assistant .tool")).to_have_count(2, timeout=10000)
        await expect(page.locator(".msg.assistant .tool").nth(1)).to_have_attribute("data-state", "waiting")
        await page.reload()
        restored = page.locator(".msg.assistant .tool")
        await expect(restored).to_have_count(2)
        await expect(restored.nth(0)).to_have_attribute("data-state", "error")
        await expect(restored.nth(1)).to_have_attribute("data-state", "waiting")
        assert await page.locator(".error").count() == 0
        await browser.close()
    assert problems == []
