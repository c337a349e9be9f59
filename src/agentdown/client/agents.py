"""An ``azure-ai-agents`` client for an agentdown server.

>>> from agentdown.client import agents_client
>>> client = agents_client("http://127.0.0.1:7071", key=os.environ.get("AGENTDOWN_FUNCTION_KEY"))
>>> agent = client.get_agent("asst_app_main")            # the app's agent main.agent.md

The SDK authenticates with Entra ID tokens (``Authorization: Bearer``), and its bearer
policy refuses plain http. The server takes its access keys instead, so the client is
given an ``authentication_policy`` that sends the key as ``x-functions-key`` (or
nothing, for a server without keys); the credential it requires is never asked for a
token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast, overload
from urllib.parse import quote

if TYPE_CHECKING:
    from azure.ai.agents import AgentsClient
    from azure.ai.agents.aio import AgentsClient as AsyncAgentsClient

__all__ = ["KEY_HEADER", "agents_client", "endpoint_of"]

KEY_HEADER = "x-functions-key"
_INSTALL = "pip install 'agentdown[client]'"


class _NoToken:
    """The credential the SDK's constructor requires; with our policy in place it is never used."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise RuntimeError("agentdown servers take access keys, not tokens: use agents_client(url, key)")

    async def close(self) -> None:
        return None


def endpoint_of(base_url: str, project: str = "local") -> str:
    """``http://host:port/api/projects/<project>``; a URL that already names a project is kept."""
    url = base_url.rstrip("/")
    if "/api/projects/" in url:
        return url
    return f"{url}/api/projects/{quote(project, safe='')}"


@overload
def agents_client(
    base_url: str, key: str | None = None, *, aio: Literal[False] = False, project: str = "local"
) -> AgentsClient: ...


@overload
def agents_client(
    base_url: str, key: str | None = None, *, aio: Literal[True], project: str = "local"
) -> AsyncAgentsClient: ...


def agents_client(
    base_url: str, key: str | None = None, *, aio: bool = False, project: str = "local"
) -> AgentsClient | AsyncAgentsClient:
    """An ``azure.ai.agents`` ``AgentsClient`` (``aio``: the asyncio one) for the server at ``base_url``.

    ``key`` is a function or master key of the server, sent as ``x-functions-key``;
    without one nothing is sent (a server with no keys configured, on loopback).
    """
    try:
        from azure.core.credentials import AzureKeyCredential
        from azure.core.pipeline.policies import AzureKeyCredentialPolicy, SansIOHTTPPolicy
    except ImportError as exc:
        raise ImportError(f"agents_client needs the azure-ai-agents SDK: {_INSTALL}") from exc
    policy: SansIOHTTPPolicy[Any, Any] = (
        AzureKeyCredentialPolicy(AzureKeyCredential(key), KEY_HEADER) if key else SansIOHTTPPolicy()
    )
    endpoint = endpoint_of(base_url, project)
    try:
        if aio:
            from azure.ai.agents.aio import AgentsClient as AsyncClient

            return AsyncClient(endpoint, cast(Any, _NoToken()), authentication_policy=policy)
        from azure.ai.agents import AgentsClient as SyncClient
    except ImportError as exc:
        raise ImportError(f"agents_client needs the azure-ai-agents SDK: {_INSTALL}") from exc
    return SyncClient(endpoint, cast(Any, _NoToken()), authentication_policy=policy)
