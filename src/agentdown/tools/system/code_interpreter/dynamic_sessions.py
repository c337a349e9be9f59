"""``dynamic_sessions_code_interpreter``: ``execute_python`` on Azure Container Apps dynamic sessions.

The request is the one the Azure Functions agents runtime sends (a code-interpreter
session pool's ``executions`` API); the session identifier is a hash of our session
key, so a conversation keeps its interpreter state and files in one ACA session.

The bearer token (audience ``https://dynamicsessions.io``) is only ever sent to an
``https://*.dynamicsessions.io`` endpoint, and redirects are never followed: a
mis-set endpoint or a hostile redirect cannot carry the token elsewhere.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from agentdown.lazy import lazy_module

if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = lazy_module("aiohttp")  # first used on a call: off the cold start

from agentdown.messages import Content
from agentdown.tools.system.code_interpreter.tool import PythonToolBase, error_result, hashed

__all__ = [
    "API_VERSION",
    "SCOPE",
    "DynamicSessionsCodeInterpreter",
    "dynamic_sessions_code_interpreter",
    "endpoint_allowed",
]

logger = logging.getLogger("agentdown.tools.code_interpreter")

API_VERSION = "2025-10-02-preview"
SCOPE = "https://dynamicsessions.io/.default"
_HOST_SUFFIX = ".dynamicsessions.io"
_EXECUTION_TIMEOUT = 60
_HTTP_TIMEOUT = 120.0
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}

# Defined once in each ACA session, so prompts written for the other runtime
# (which tells the model to call `launch_browser`) work unchanged.
_SESSION_SETUP = """
async def launch_browser(width=1280, height=800):
    from playwright.async_api import async_playwright
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(
        headless=True, args=[f"--window-size={width},{height}", "--disable-extensions"]
    )
    context = await browser.new_context(viewport={"width": width, "height": height})
    return await context.new_page()
"""

_DESCRIPTION = (
    "Execute Python code in a persistent sandboxed REPL (a Jupyter kernel in an Azure "
    "Container Apps dynamic session). Returns JSON with result, stdout, and stderr.\n"
    "\n"
    "The sandbox is ISOLATED and has its own file system. Only use this tool when you need to "
    "actually run code (computation, data processing, web browsing, ...) and no other tool "
    "can do it; do NOT call it just to print or format text you already have.\n"
    "\n"
    "Key behaviors:\n"
    "- State persists across calls: variables, imports, and files in /mnt/data/.\n"
    "- The last expression's value is returned in 'result'; print() goes to 'stdout'.\n"
    "- Top-level await works. Shell commands: subprocess.run(), not '!'.\n"
    "- Common packages are installed: numpy, pandas, matplotlib, scikit-learn, requests, playwright.\n"
    "- To return an image, encode it in base64 and print it, e.g. save a matplotlib figure to "
    "an io.BytesIO as PNG and print(base64.b64encode(buf.getvalue()).decode()).\n"
    "- Browser automation: call `page = await launch_browser()` once (a pre-loaded helper; do "
    "not launch Playwright yourself) and reuse `page` in later calls; read pages with "
    "page.inner_text(...) or query selectors, or take page.screenshot() as base64."
)


def endpoint_allowed(endpoint: str, *, allow_loopback: bool = False) -> bool:
    """``True`` for ``https://<host>.dynamicsessions.io[...]`` without userinfo.

    ``allow_loopback`` (tests only) also lets ``http://127.0.0.1:<port>`` through.
    """
    try:
        parsed = urllib.parse.urlsplit(endpoint)
        host = (parsed.hostname or "").lower()
        _ = parsed.port  # raises on a malformed port
    except ValueError:
        return False
    if "@" in parsed.netloc or not host or parsed.query or parsed.fragment:
        return False
    if allow_loopback and parsed.scheme == "http" and host in _LOOPBACK:
        return True
    return parsed.scheme == "https" and host.endswith(_HOST_SUFFIX) and len(host) > len(_HOST_SUFFIX)


def _default_credential(client_id: str | None) -> Any:
    # Lazily: azure-identity is an optional dependency (agentdown[azure]).
    try:
        from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "dynamic_sessions_code_interpreter needs azure-identity: pip install 'agentdown[azure]'"
        ) from exc
    if client_id:
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential()


class DynamicSessionsCodeInterpreter(PythonToolBase):
    """``execute_python`` on an ACA code-interpreter session pool (see :func:`dynamic_sessions_code_interpreter`)."""

    def __init__(self, endpoint: str, credential: Any, owns_credential: bool) -> None:
        super().__init__(_DESCRIPTION, {"backend": "dynamic_sessions", "endpoint": endpoint})
        self.endpoint = endpoint.rstrip("/")
        self._credential = credential
        self._owns_credential = owns_credential
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()
        self._http: aiohttp.ClientSession | None = None
        self._set_up: set[str] = set()
        self._setup_lock = asyncio.Lock()

    def url(self, identifier: str) -> str:
        query = urllib.parse.urlencode({"api-version": API_VERSION, "identifier": identifier})
        return f"{self.endpoint}/executions?{query}"

    async def _bearer(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._token[1] - 300 > time.time():
                return self._token[0]
            token = self._credential.get_token(SCOPE)
            if inspect.isawaitable(token):
                token = await token
            value = getattr(token, "token", None)
            if not isinstance(value, str) or not value:
                raise RuntimeError("the credential returned no token")
            expires = getattr(token, "expires_on", 0)
            self._token = (value, float(expires) if isinstance(expires, (int, float)) else 0.0)
            return value

    async def _post(self, identifier: str, code: str) -> dict[str, Any]:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        headers = {"Authorization": f"Bearer {await self._bearer()}", "Content-Type": "application/json"}
        body = {
            "codeInputType": "Inline",
            "executionType": "Synchronous",
            "code": code,
            "timeoutInSeconds": _EXECUTION_TIMEOUT,
        }
        async with self._http.post(
            self.url(identifier),
            headers=headers,
            json=body,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=_HTTP_TIMEOUT),
        ) as response:
            if response.status >= 300:
                text = (await response.content.read(2000)).decode("utf-8", "replace")
                raise RuntimeError(f"ACA sessions API error ({response.status}): {text[:500]}")
            data = await response.json(content_type=None)
        if not isinstance(data, dict):
            raise RuntimeError("ACA sessions API returned a body that is not a JSON object")
        result = data.get("result")
        return result if isinstance(result, dict) else {}

    async def execute(self, code: str, key: str, ephemeral: bool) -> str | list[Content]:
        identifier = hashed(key)
        try:
            async with self._setup_lock:
                if identifier not in self._set_up:
                    await self._post(identifier, _SESSION_SETUP)
                    self._set_up.add(identifier)
            result = await self._post(identifier, code)
        except Exception as exc:
            logger.warning("dynamic sessions code interpreter: %s: %s", type(exc).__name__, exc)
            return error_result(f"{type(exc).__name__}: {exc}")
        stdout, stderr = result.get("stdout"), result.get("stderr")
        return json.dumps(
            {
                "result": result.get("executionResult"),
                "stdout": stdout if isinstance(stdout, str) else "",
                "stderr": stderr if isinstance(stderr, str) else "",
            },
            indent=2,
            ensure_ascii=False,
        )

    async def aclose(self) -> None:
        """Close the HTTP session, and the credential if the tool made it."""
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._owns_credential:
            close = getattr(self._credential, "close", None)
            if close is not None:
                result = close()
                if inspect.isawaitable(result):
                    await result


def dynamic_sessions_code_interpreter(
    endpoint: str,
    *,
    client_id: str | None = None,
    credential: Any = None,
    _allow_loopback_for_tests: bool = False,
) -> DynamicSessionsCodeInterpreter:
    """The ``execute_python`` tool on an ACA dynamic sessions (code interpreter) pool.

    ``endpoint`` is the pool's management endpoint and must be ``https://*.dynamicsessions.io``
    (``ValueError`` otherwise). The token comes from ``credential`` (anything with
    ``get_token(scope)``, sync or async), else a ``ManagedIdentityCredential`` for
    ``client_id``, else ``DefaultAzureCredential``; both from ``azure.identity.aio``.
    ``_allow_loopback_for_tests`` lets a loopback stand-in of the API through, for tests.
    """
    if not isinstance(endpoint, str) or not endpoint_allowed(
        endpoint, allow_loopback=_allow_loopback_for_tests
    ):
        raise ValueError(
            f"dynamic sessions endpoint {endpoint!r} refused: it must be an https URL whose host is "
            "*.dynamicsessions.io (the bearer token is only ever sent there)"
        )
    owns = credential is None
    if credential is None:
        credential = _default_credential(client_id)
    return DynamicSessionsCodeInterpreter(endpoint, credential, owns)
