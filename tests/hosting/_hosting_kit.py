"""Calling a created FunctionApp's functions as the Functions host does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import azure.functions as func

HERE = Path(__file__).parent
SAMPLE = HERE / "apps" / "sample"
SAMPLES = HERE / "samples"


class Hosted:
    """A created FunctionApp, its functions indexed once (as the host does) by name."""

    def __init__(self, app: func.FunctionApp) -> None:
        self.app = app
        self.functions = {f.get_function_name(): f for f in app.get_functions()}

    def bindings(self, name: str) -> list[dict[str, Any]]:
        raw: list[dict[str, Any]] = json.loads(self.functions[name].get_function_json())["bindings"]
        return raw

    async def call(self, name: str, *args: Any) -> Any:
        result = self.functions[name].get_user_function()(*args)
        return await result if hasattr(result, "__await__") else result

    async def aclose(self) -> None:
        await self.app.agentdown.aclose()  # type: ignore[attr-defined]


def http(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> func.HttpRequest:
    """A request as the host hands it over (routePrefix "")."""
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    merged = {"content-type": "application/json", **(headers or {})}
    return func.HttpRequest(method, f"http://localhost:7071{path}", headers=merged, body=data)
