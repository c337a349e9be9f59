"""The chat page: one self-contained HTML file (no CDN), served with a strict CSP.

The page's only inline script and style are allowed by their SHA-256 hashes, so a
string that slipped into the DOM as HTML could still not run script. The page itself
never parses model text as HTML (it builds DOM nodes with ``textContent``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from importlib import resources

from agentdown.app.spec import AgentSpec

__all__ = ["render_page"]

_PLACEHOLDER = "__AGENT_CONFIG__"


@functools.cache
def _template() -> tuple[str, str]:
    html = resources.files(__package__).joinpath("chat.html").read_text(encoding="utf-8")
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in re.findall(r"<script>(.*?)</script>", html, re.S)
    ]
    styles = [
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in re.findall(r"<style>(.*?)</style>", html, re.S)
    ]
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(hashes)}",
            f"style-src {' '.join(styles)}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return html, policy


def render_page(spec: AgentSpec, *, key_needed: bool) -> tuple[str, str]:
    """The page for ``spec`` and its ``Content-Security-Policy``."""
    html, policy = _template()
    config = {
        "slug": spec.slug,
        "name": spec.name,
        "description": spec.description,
        "key_needed": key_needed,
        "workflows": bool(spec.workflows is not None and spec.workflows.enabled),
    }
    # A JSON data block ends at the first "</script"; escaping "<" (and the JS line
    # separators) keeps any agent name or description inside it.
    data = (
        json.dumps(config, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return html.replace(_PLACEHOLDER, data, 1), policy
