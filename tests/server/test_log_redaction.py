"""Access keys and other credentials never reach a log line: a real `agentdown serve`, and the unit."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import aiohttp
import pytest
from serverkit import agent_md, post_json, serve_process, write_app

from agentdown.server.redact import REDACTED, install_log_redaction, redact
from agentdown.testing import FakeModelServer

FUNCTION_KEY = "SECRETfunctionkey0123456789"
MASTER_KEY = "SECRETmasterkey0123456789"
SECRETS = ("SECRET", "sv-sig-value", "tok-value", "bearer-value")

GUARDED = agent_md("name: Guarded\ndescription: Needs a key.\nbuiltin_endpoints: true\nhttp_auth: function")


async def test_served_requests_log_no_access_key(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"guarded.agent.md": GUARDED})
    keys = tmp_path / "host.json"
    keys.write_text(
        json.dumps(
            {
                "masterKey": {"name": "master", "value": MASTER_KEY},
                "functionKeys": [{"name": "default", "value": FUNCTION_KEY}],
            }
        )
    )
    async with FakeModelServer() as fake:
        env = {
            "AGENTDOWN_PROVIDER": "openai_compatible",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "AGENTDOWN_MODEL": "fake-model",
            "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        }
        # Access log on, debug level: the most our server and uvicorn ever print.
        args = ["-m", "agentdown.cli", "serve", str(app), "--port", "0", "--log-level", "debug"]
        args += ["--keys-file", str(keys)]
        with serve_process(args, env) as server:
            async with aiohttp.ClientSession() as http:
                chat = f"{server.url}/agents/guarded/chat"
                status, _, body = await post_json(http, f"{chat}?code={FUNCTION_KEY}", {"prompt": "hi"})
                assert status == 200, body
                status, _, _ = await post_json(http, f"{chat}?x=1&code={MASTER_KEY}&sig=sv-sig-value", {})
                assert status in (200, 400, 422)
                # A wrong key is refused, and is not printed either.
                status, _, _ = await post_json(
                    http, f"{chat}?code=SECRETwrong&token=tok-value", {"prompt": "x"}
                )
                assert status == 401
                status, _, _ = await post_json(
                    http,
                    chat,
                    {"prompt": "hi"},
                    {"x-functions-key": FUNCTION_KEY, "Authorization": "Bearer bearer-value"},
                )
                assert status == 200
            output = server.stop()
    # The requests were logged (the access log is on) ...
    assert output.count("/agents/guarded/chat") >= 4, output
    assert f"code={REDACTED}" in output
    # ... and no secret of any of them is in any line.
    for secret in SECRETS:
        assert secret not in output, output


def test_redact_covers_query_strings_headers_and_tokens() -> None:
    cases = {
        "GET /a/chat?code=abc123 HTTP/1.1": "GET /a/chat?code=[redacted] HTTP/1.1",
        "https://x.blob.core.windows.net/c/b?sv=2024&sig=abc%2Fdef&se=1": (
            "https://x.blob.core.windows.net/c/b?sv=2024&sig=[redacted]&se=1"
        ),
        "/p?api-key=k1&api_key=k2&apikey=k3&access_token=t&keep=1": (
            "/p?api-key=[redacted]&api_key=[redacted]&apikey=[redacted]&access_token=[redacted]&keep=1"
        ),
        "{'Authorization': 'Bearer abc.def', 'api-key': 'k'}": (
            "{'Authorization': '[redacted]', 'api-key': '[redacted]'}"
        ),
        "x-functions-key: k\nnext": "x-functions-key: [redacted]\nnext",
        "sent Bearer eyJhbGciOi.payload.sig": "sent Bearer [redacted]",
    }
    for text, expected in cases.items():
        assert redact(text) == expected
    # Nothing else changes: a path, a session id, ordinary words.
    for text in ("/agents/helper/chat?session=1&stream=true", "keyboard code review", ""):
        assert redact(text) == text


def test_every_logger_is_redacted_arguments_and_tracebacks_too() -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent: one wrapper, not two
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    third_party = logging.getLogger("some.library")
    third_party.addHandler(handler)
    third_party.setLevel(logging.INFO)
    try:
        # uvicorn's access formatter reads the record's args, so they must be clean too.
        third_party.info('%s - "%s %s" %d', "127.0.0.1", "GET", "/x?code=SECRETa", 200)
        third_party.info("headers %(h)s", {"h": "Authorization: Bearer SECRETb"})
        try:
            raise RuntimeError("request to https://h/p?api-key=SECRETc failed")
        except RuntimeError:
            third_party.exception("model call failed")
        record = logging.getLogger("other").makeRecord(
            "other", logging.INFO, "f", 1, "%s", ("?sig=SECRETd",), None
        )
        assert record.getMessage() == f"?sig={REDACTED}"
    finally:
        third_party.removeHandler(handler)
    text = stream.getvalue()
    assert "SECRET" not in text
    assert '"GET /x?code=[redacted]" 200' in text
    assert "RuntimeError: request to https://h/p?api-key=[redacted] failed" in text


@pytest.mark.parametrize("value", [42, 1.5, None])
def test_non_text_arguments_keep_their_type(value: object) -> None:
    install_log_redaction()
    record = logging.getLogger("x").makeRecord("x", logging.INFO, "f", 1, "%r", (value,), None)
    assert record.args == (value,)
