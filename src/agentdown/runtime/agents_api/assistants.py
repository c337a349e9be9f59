"""Assistants: the ones callers create (stored records) and the app's own agents (read-only).

Every ``.agent.md`` agent of the app is an assistant with the stable id
``asst_app_<slug>`` (its bare slug finds it too). It shows the agent as its file
defines it: name, description, instructions, model, response format, and its tools.
Those tools run on the server (a run of an app agent never stops for their outputs),
so they are listed for information and marked as such in the metadata:

- ``tools/`` tools the agent gets: ``function`` definitions with their JSON Schemas;
- ``subagents``: ``connected_agent`` definitions naming the subagent's assistant
  (``delegate_<slug>``, the tool name agentdown's delegation uses);
- MCP servers and skills add tools only when a run starts; their names are in
  ``metadata.agentdown_mcp_servers`` / ``metadata.agentdown_skills``.

``metadata.agentdown_source`` is ``"app"`` and ``metadata.agentdown_file`` the agent
file; changing or deleting such an assistant is refused (edit the file instead).

Lists show app agents first (oldest: they exist before any stored assistant), then
stored ones by creation; ``desc`` is the exact reverse, and cursors of either kind page
through both. When a caller is a known principal, stored assistants belong to it
(``_owner``): another caller's id is not found, and lists show only one's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentdown.app.catalog import AgentCatalog
from agentdown.app.links import delegate_tool_name
from agentdown.app.spec import AgentSpec
from agentdown.exceptions import ConfigurationError
from agentdown.runtime.agents_api.errors import bad_request, not_found
from agentdown.runtime.agents_api.ids import PREFIXES, new_record_id
from agentdown.runtime.agents_api.objects import now
from agentdown.runtime.agents_api.schemas import (
    MAX_METADATA_VALUE,
    TOOL_RESOURCE_KEYS,
    AssistantCreate,
    AssistantObject,
    AssistantUpdate,
    dump,
)
from agentdown.runtime.agents_api.store import AgentsStore, Order, mutate, public
from agentdown.runtime.agents_api.tooldefs import CLOUD_ONLY, LATER, check_tool_definitions

__all__ = [
    "APP_PREFIX",
    "Assistant",
    "AssistantDirectory",
    "Visible",
    "check_tool_resources",
    "owner_key",
]

APP_PREFIX = "asst_app_"
KIND = "assistant"

ToolList = list[dict[str, Any]]

Visible = Callable[[AgentSpec], bool]
"""Whether the caller may see (and run) an app agent: its ``http_auth`` admits them."""


def owner_key(principal: str | None) -> str:
    """What ``_owner`` holds for a caller: a digest of its principal, ``""`` when none is known."""
    if principal is None:
        return ""
    return "p-" + hashlib.sha256(principal.encode("utf-8")).hexdigest()[:40]


def check_tool_resources(value: Mapping[str, Any] | None, field: str = "tool_resources") -> None:
    """Refuse resources for tools that do not run here (accepting them would silently do nothing)."""
    for key, item in (value or {}).items():
        if key not in TOOL_RESOURCE_KEYS:
            # Even when empty: the document lists the keys there are, and an unknown one is a typo.
            feature = LATER.get(key) or CLOUD_ONLY.get(key)
            needs = (
                f"needs {feature}, which this agentdown version does not have" if feature else "is unknown"
            )
            raise bad_request(
                f"{field}.{key}: the {key!r} tool {needs} (expected {', '.join(TOOL_RESOURCE_KEYS)})",
                f"{field}.{key}",
                "unsupported_tool",
            )
        if item in (None, {}, []):
            continue
        if key == "azure_ai_search":
            continue  # checked with the connection settings when a run uses it
        if key == "code_interpreter":
            from agentdown.runtime.agents_api.code_interpreter import check_code_interpreter_resources

            check_code_interpreter_resources(item, f"{field}.{key}")
            continue
        if key == "file_search":
            from agentdown.runtime.agents_api.search_tools import check_file_search_resources

            check_file_search_resources(item, f"{field}.{key}")


@dataclass(frozen=True, slots=True)
class Assistant:
    """What a run executes: the served body, and the app agent's slug (``None`` when stored)."""

    body: dict[str, Any]
    slug: str | None

    @property
    def id(self) -> str:
        return str(self.body["id"])


class AssistantDirectory:
    """Stored assistants (CRUD through the store) plus the app's agents."""

    def __init__(self, store: AgentsStore, catalog: AgentCatalog) -> None:
        self.store = store
        self.catalog = catalog
        self._app_bodies: dict[str, dict[str, Any]] = {}

    # -- app agents -------------------------------------------------------------------------------

    @staticmethod
    def app_id(slug: str) -> str:
        return APP_PREFIX + slug

    def app_slug(self, assistant_id: str) -> str | None:
        """The slug of the app agent ``assistant_id`` names (``asst_app_<slug>`` or the bare slug)."""
        slug = assistant_id.removeprefix(APP_PREFIX)
        return slug if slug in self.catalog.specs else None

    def _app_body(self, spec: AgentSpec) -> dict[str, Any]:
        if spec.slug not in self._app_bodies:
            self._app_bodies[spec.slug] = dump(self._app_object(spec))
        return self._app_bodies[spec.slug]

    def _app_object(self, spec: AgentSpec) -> AssistantObject:
        try:
            created = int(spec.file.stat().st_mtime)
        except OSError:
            created = 0
        try:
            model = spec.model or self.catalog.model_for(spec).model_name
        except ConfigurationError:
            model = "unconfigured"  # the app may be served before a provider is set up
        tools: list[dict[str, Any]] = []
        for found in self.catalog.tools:
            if found.is_toolset or not spec.tools.allows(found.name):
                continue
            tool: Any = found.tool
            function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
            tools.append({"type": "function", "function": function})
        for ref in spec.subagents:
            sub = self.catalog.specs[ref.agent]
            connected = {
                "id": self.app_id(ref.agent),
                "name": delegate_tool_name(ref.agent),
                "description": ref.when or sub.description,
            }
            tools.append({"type": "connected_agent", "connected_agent": connected})
        metadata = {
            "agentdown_source": "app",
            "agentdown_file": self._relative(spec),
            "agentdown_tools": "server-side",
        }
        servers = [n for n in self.catalog.mcp_servers if spec.mcp.allows(n)]
        skills = [s.name for s in self.catalog.skills if spec.skills.allows(s.name)]
        if servers:
            metadata["agentdown_mcp_servers"] = ", ".join(servers)[:MAX_METADATA_VALUE]
        if skills:
            metadata["agentdown_skills"] = ", ".join(skills)[:MAX_METADATA_VALUE]
        response_format: Any = None
        if spec.response_schema is not None:
            schema = {"name": spec.slug, "schema": dict(spec.response_schema)}
            response_format = {"type": "json_schema", "json_schema": schema}
        elif spec.response_example is not None or spec.response_example_text is not None:
            response_format = {"type": "json_object"}
        return AssistantObject(
            id=self.app_id(spec.slug),
            created_at=created,
            name=spec.name,
            description=spec.description,
            model=model,
            instructions=spec.instructions,
            tools=tools,
            response_format=response_format,
            metadata=metadata,
        )

    def _relative(self, spec: AgentSpec) -> str:
        try:
            text = spec.file.relative_to(self.catalog.app_dir).as_posix()
        except ValueError:
            text = spec.file.name
        return text[:MAX_METADATA_VALUE]

    def _visible_specs(self, allow: Visible | None) -> list[AgentSpec]:
        return [s for s in self.catalog.specs.values() if allow is None or allow(s)]

    # -- reading ----------------------------------------------------------------------------------

    async def get(
        self, assistant_id: str, *, owner: str | None = None, allow: Visible | None = None
    ) -> Assistant | None:
        """The assistant ``assistant_id``, or ``None``.

        ``owner`` (a :func:`owner_key`) hides other callers' stored assistants and ``allow``
        app agents the caller may not use; ``None`` for either checks nothing (the run
        executor, which got the id from a request that was checked).
        """
        slug = self.app_slug(assistant_id)
        if slug is not None:
            spec = self.catalog.specs[slug]
            return Assistant(dict(self._app_body(spec)), slug) if allow is None or allow(spec) else None
        record = await self.store.get(KIND, "", assistant_id)
        if record is None or (owner is not None and record.body.get("_owner", "") != owner):
            return None
        return Assistant(public(record.body), None)

    async def require(
        self, assistant_id: str, *, owner: str | None = None, allow: Visible | None = None
    ) -> Assistant:
        """:meth:`get`, or a 404."""
        found = await self.get(assistant_id, owner=owner, allow=allow)
        if found is None:
            raise not_found("assistant", assistant_id)
        return found

    async def list(
        self,
        *,
        limit: int,
        order: Order = "desc",
        after: str | None = None,
        before: str | None = None,
        owner: str | None = None,
        allow: Visible | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of assistants (app agents, then stored ones, in ``asc``) and whether more follow."""
        apps = [self._app_body(s) for s in self._visible_specs(allow)]
        ids = [body["id"] for body in apps]

        def position(cursor: str | None, name: str) -> int | None:
            if cursor is None or not cursor.startswith(APP_PREFIX):
                return None
            if cursor not in ids:
                raise bad_request(f"{name}: no assistant {cursor!r} to page from", name)
            return ids.index(cursor)

        after_app, before_app = position(after, "after"), position(before, "before")
        where = None if owner is None else {"_owner": owner}
        if order == "desc":
            # Stored ones (newest first), then the app agents in reverse.
            apps.reverse()
            if after_app is not None:
                after_app = len(ids) - 1 - after_app
            if before_app is not None:
                before_app = len(ids) - 1 - before_app
            lo = 0 if after_app is None else after_app + 1
            hi = len(apps) if before is None else before_app if before_app is not None else 0
            data: list[dict[str, Any]] = []
            if after_app is None:
                stored_before = before if before_app is None else None
                page = await self.store.list(
                    KIND, "", limit=limit, order=order, after=after, before=stored_before, where=where
                )
                data = [public(r.body) for r in page.records]
                if page.has_more:
                    return data, True
            rest = apps[lo:hi]
            room = limit - len(data)
            return data + rest[:room], len(rest) > room
        # asc: the app agents, then stored ones (oldest first).
        lo = 0 if after is None else after_app + 1 if after_app is not None else len(apps)
        hi = len(apps) if before_app is None else before_app
        rest = apps[lo:hi]
        if len(rest) > limit:
            return rest[:limit], True
        if before_app is not None:
            return rest, False
        room = limit - len(rest)
        stored_after = after if after_app is None else None
        page = await self.store.list(
            KIND, "", limit=max(room, 1), order=order, after=stored_after, before=before, where=where
        )
        if room == 0:
            return rest, bool(page.records)
        return rest + [public(r.body) for r in page.records], page.has_more

    # -- writing ----------------------------------------------------------------------------------

    async def create(
        self, request: AssistantCreate, *, owner: str = "", allow: Visible | None = None
    ) -> dict[str, Any]:
        """Store a new assistant; its served body."""
        tools = await self._check_tools(request.tools, owner=owner, allow=allow)
        check_tool_resources(request.tool_resources)
        assistant = AssistantObject(
            id=new_record_id(PREFIXES["assistant"]),
            created_at=now(),
            name=request.name,
            description=request.description,
            model=request.model,
            instructions=request.instructions,
            tools=tools,
            tool_resources=dict(request.tool_resources or {}),
            temperature=request.temperature,
            top_p=request.top_p,
            response_format=None if request.response_format is None else _plain(request.response_format),
            metadata=request.metadata or {},
        )
        body = dump(assistant)
        await self.store.create(KIND, "", assistant.id, {**body, "_owner": owner})
        return body

    async def update(
        self, assistant_id: str, request: AssistantUpdate, *, owner: str = "", allow: Visible | None = None
    ) -> dict[str, Any]:
        """Change the fields ``request`` sets; the new served body (404 / 400 as :meth:`delete`)."""
        self._refuse_app(assistant_id, "changed")
        await self.require(assistant_id, owner=owner)
        changes: dict[str, Any] = {}
        for name in request.model_fields_set:
            value = getattr(request, name)
            if value is None:
                continue  # the SDK leaves out what it was not given; an explicit null changes nothing either
            if name == "tools":
                changes[name] = await self._check_tools(value, owner=owner, allow=allow, own_id=assistant_id)
            elif name == "tool_resources":
                check_tool_resources(value)
                changes[name] = dict(value)
            elif name == "response_format":
                changes[name] = _plain(value)
            else:
                changes[name] = value

        def change(body: dict[str, Any]) -> dict[str, Any]:
            return {**body, **changes}

        record = await mutate(self.store, KIND, "", assistant_id, change)
        if record is None:
            raise not_found("assistant", assistant_id)
        return public(record.body)

    async def delete(self, assistant_id: str, *, owner: str = "") -> None:
        """Remove a stored assistant; a 404 if there is none the caller owns, a 400 for an app agent."""
        self._refuse_app(assistant_id, "deleted")
        await self.require(assistant_id, owner=owner)
        if not await self.store.delete(KIND, "", assistant_id):
            raise not_found("assistant", assistant_id)

    def _refuse_app(self, assistant_id: str, what: str) -> None:
        slug = self.app_slug(assistant_id)
        if slug is not None:
            spec = self.catalog.specs[slug]
            raise bad_request(
                f"assistant {assistant_id!r} is the app's agent '{slug}', defined by the file "
                f"{self._relative(spec)}; it cannot be {what} through the API: edit the file instead",
                code="read_only_assistant",
            )

    async def _check_tools(
        self, tools: Any, *, owner: str, allow: Visible | None, own_id: str | None = None
    ) -> ToolList:
        checked = check_tool_definitions(tools)
        for index, definition in enumerate(checked):
            if definition["type"] != "connected_agent":
                continue
            target = str(definition["connected_agent"]["id"])
            where = f"tools[{index}].connected_agent.id"
            if target == own_id:
                raise bad_request(f"{where}: an assistant cannot delegate to itself", where)
            if await self.get(target, owner=owner, allow=allow) is None:
                raise bad_request(f"{where}: no assistant with id {target!r} to delegate to", where)
        return checked


def _plain(value: Any) -> Any:
    """A validated request value as JSON (models by their aliases, without nulls)."""
    return (
        value.model_dump(mode="json", by_alias=True, exclude_none=True)
        if hasattr(value, "model_dump")
        else value
    )
