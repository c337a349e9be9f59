"""``openapi_tools:``: HTTP APIs an agent calls, each from an OpenAPI 3 spec file in the app.

.. code-block:: yaml

    openapi_tools:
      - apis/weather.yaml              # the short form: name from the file, no auth
      - spec: apis/crm.json
        name: crm                      # tools are named crm_<operationId>
        description: The CRM.          # default: the spec's info
        auth: {type: api_key, key: $CRM_KEY}          # or {type: managed_identity, audience: ...}
        timeout_seconds: 10            # and the other web_request settings

Every call goes through the ``web_request`` guard (public addresses only, size caps,
timeouts). The spec is read and turned into tools when the app loads, so a spec that
cannot work is an error at its line, not a tool the model cannot use.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from agentdown.app.checks import MISSING, Reader
from agentdown.app.frontmatter import KeyPath
from agentdown.tools.system.openapi_auth import AnonymousAuth, ApiKeyAuth, ManagedIdentityAuth, OpenApiAuth
from agentdown.tools.system.web_settings import KEYS as WEB_KEYS

__all__ = ["OPENAPI_FORM", "OpenApiToolSpec", "read_openapi_tools"]

OPENAPI_FORM = "a list of spec files, or of {spec, name, description, auth, <web_request settings>}"
_KEYS = {
    "spec": "an OpenAPI 3 file (JSON or YAML) in the app folder",
    "name": "the prefix of the tools' names (letters, digits, _ or -; default: the file's name)",
    "description": "what the API is for, for the model (default: the spec's info)",
    "auth": "{type: anonymous} | {type: api_key, key} | {type: managed_identity, audience}",
    **{k: f"the web_request setting {k}" for k in WEB_KEYS},
}


@dataclass(frozen=True, slots=True)
class OpenApiToolSpec:
    """One checked ``openapi_tools`` entry."""

    name: str
    path: Path
    text: str
    """The spec file's content, read once at load."""
    description: str | None = None
    auth: OpenApiAuth = field(default_factory=AnonymousAuth)
    web: dict[str, Any] = field(default_factory=dict)

    def tools(self) -> list[Any]:
        from agentdown.tools.system.openapi import openapi_tools

        return list(
            openapi_tools(self.name, self.text, description=self.description, auth=self.auth, **self.web)
        )


def read_openapi_tools(r: Reader, path: KeyPath, app_dir: Path) -> tuple[OpenApiToolSpec, ...]:
    """The ``openapi_tools`` list at ``path``; each entry that cannot work is an error at its line."""
    value = r.get(path)
    if value is MISSING or value is None:
        return ()
    if not isinstance(value, list):
        r.expected(path, OPENAPI_FORM, value)
        return ()
    out: list[OpenApiToolSpec] = []
    for index, entry in enumerate(value):
        at: KeyPath = (*path, index)
        spec = _entry(r, at, {"spec": entry} if isinstance(entry, str) else entry, app_dir)
        if spec is None:
            continue
        if any(s.name == spec.name for s in out):
            r.error(at, f"a second OpenAPI tool named {spec.name!r}: give one of them another name")
            continue
        out.append(spec)
    return tuple(out)


def _entry(r: Reader, at: KeyPath, entry: Any, app_dir: Path) -> OpenApiToolSpec | None:
    if not isinstance(entry, dict):
        r.expected(at, "a spec file or {spec, name, ...}", entry)
        return None
    if isinstance(r.get(at), dict) and r.keys(at, _KEYS, "an OpenAPI tool", required=("spec",)) is None:
        return None
    spec_at = (*at, "spec") if isinstance(r.get(at), dict) else at
    file = _spec_file(r, spec_at, entry.get("spec"), app_dir)
    if file is None:
        return None
    name = entry.get("name", re.sub(r"[^A-Za-z0-9_-]", "_", file.stem))
    auth = _auth(r, (*at, "auth"), entry.get("auth"))
    if auth is None:
        return None
    web = {k: v for k, v in entry.items() if k in WEB_KEYS}
    spec = OpenApiToolSpec(
        str(name),
        file,
        file.read_text(encoding="utf-8", errors="replace"),
        entry.get("description"),
        auth,
        web,
    )
    try:
        spec.tools()
    except (ValueError, TypeError) as exc:
        r.error(at, f"{file.name}: {exc}")
        return None
    return spec


def _spec_file(r: Reader, at: KeyPath, raw: Any, app_dir: Path) -> Path | None:
    if not isinstance(raw, str) or not raw.strip():
        r.expected(at, _KEYS["spec"], raw)
        return None
    rel = PurePosixPath(raw.strip().replace("\\", "/"))
    root = Path(os.path.realpath(app_dir))
    real = Path(os.path.realpath(app_dir / rel))
    if rel.is_absolute() or ".." in rel.parts or root not in real.parents:
        r.error(at, f"{raw!r}: the spec must be a file inside the app folder ({app_dir})")
        return None
    if not real.is_file():
        r.error(at, f"{raw!r} does not exist in the app folder ({app_dir})")
        return None
    return real


def _auth(r: Reader, at: KeyPath, raw: Any) -> OpenApiAuth | None:
    if raw is None:
        return AnonymousAuth()
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "anonymous":
        return AnonymousAuth()
    if kind == "api_key" and isinstance(raw.get("key"), str) and raw["key"].strip():
        if raw["key"].startswith(("$", "%")):
            r.error((*at, "key"), f"{raw['key']!r} is not set in the environment")
            return None
        return ApiKeyAuth(raw["key"].strip(), raw.get("scheme"))
    if kind == "managed_identity" and isinstance(raw.get("audience"), str) and raw["audience"].strip():
        return ManagedIdentityAuth(raw["audience"].strip())
    r.expected(at, _KEYS["auth"], raw)
    return None
