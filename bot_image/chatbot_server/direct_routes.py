"""A way past FastAPI's router for the chat endpoints, the bot's hot path.

On a proxied completion, FastAPI's routing, its per-route exception and exit-stack wrappers and its
request handler cost about as much CPU as everything else the bot does (docs/benchmarks.md). The
endpoints given here take nothing but the Request (they read their own bodies: chatbot_server.bodies),
so this middleware calls them directly and hands their errors to the app's own exception handlers:
the responses are those FastAPI would give. The routes stay declared in FastAPI, which documents
them in the OpenAPI document.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
# As Starlette keeps them: a handler may be a plain function or a coroutine function.
Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def direct_routes(routes: Iterable[Any], paths: Iterable[str]) -> dict[tuple[str, str], APIRoute]:
    """The app's routes for these paths, by method and path; each must take only the Request."""
    wanted = set(paths)
    found: dict[tuple[str, str], APIRoute] = {}
    for route in routes:
        if isinstance(route, APIRoute) and route.path in wanted:
            if list(inspect.signature(route.endpoint).parameters) != ["request"] or route.dependencies:
                raise TypeError(f"{route.path}: a direct route's endpoint takes only the Request")
            found.update({(method, route.path): route for method in route.methods or ()})
    missing = wanted - {path for _, path in found}
    if missing:
        raise LookupError(f"no route for {sorted(missing)}")
    return found


class DirectRoutes:
    """Serves the given routes itself; every other request goes on to the app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Mapping[tuple[str, str], APIRoute],
        handlers: Mapping[Any, Handler],
    ) -> None:
        self.app = app
        self.routes = routes
        self.handlers = handlers  # the app's own dict: handlers installed later are seen too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get((scope.get("method", ""), scope.get("path", "")))
            if scope["type"] == "http"
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # as the router sets it: the metrics label the route by its path
        request = Request(scope, receive, send)
        try:
            response: Response = await route.endpoint(request)
        except Exception as error:
            handler = self._handler(error)
            if handler is None:
                raise
            handled = handler(request, error)
            response = await handled if inspect.isawaitable(handled) else handled
        await response(scope, receive, send)

    def _handler(self, error: Exception) -> Handler | None:
        for kind in type(error).__mro__:
            if kind in self.handlers:
                return self.handlers[kind]
        return None
