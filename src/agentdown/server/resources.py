"""Routers whose ``405 Method Not Allowed`` names every method of the resource.

Starlette's router answers a method no route takes with the ``Allow`` of the first route
whose path matched, so ``OPTIONS /threads/{id}`` (served by three routes: GET, POST,
DELETE) said ``Allow: GET, HEAD``, and a client trusting it never learns it may
delete. A resource here is a path template: ``Allow`` is every method of the routes
registered with the template the request resolved to (sorted, so it is stable).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Receive, Scope, Send

__all__ = ["ResourceRouter", "resource_app"]


class ResourceRouter(Router):
    """A :class:`~starlette.routing.Router` answering 405 with the resource's whole ``Allow``."""

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().app(scope, receive, send)
        except HTTPException as exc:
            route = scope.get("route")
            # Only the router's own refusal (the method is not the route's), of one of its routes.
            if (
                exc.status_code == 405
                and isinstance(route, Route)
                and route.methods
                and scope.get("method") not in route.methods
                and any(r is route for r in self.routes)
            ):
                exc.headers = {**(exc.headers or {}), "Allow": self.allow(route.path)}
            raise

    def allow(self, path: str) -> str:
        """Every method the routes of ``path`` (a template) serve, for the ``Allow`` header."""
        methods: set[str] = set()
        for route in self.routes:
            if isinstance(route, Route) and route.path == path and route.methods:
                methods |= route.methods
        return ", ".join(sorted(methods))


def resource_app(routes: Sequence[BaseRoute], *, lifespan: Any = None, **options: Any) -> Starlette:
    """``Starlette(routes=routes, ...)`` routing with a :class:`ResourceRouter`."""
    app = Starlette(**options)
    # Starlette builds its middleware stack around app.router on the first request, so the
    # router is swapped before any; the lifespan belongs to the router.
    app.router = ResourceRouter(routes, lifespan=lifespan)
    return app
