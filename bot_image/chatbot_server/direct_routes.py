"""A way past FastAPI's router for the chat endpoints, the bot's hot path.

On a proxied completion, FastAPI's routing, its per-route exception and exit-stack wrappers and its
request handler cost about as much CPU as everything else the bot does (docs/benchmarks.md). The
endpoints given here take nothing but the Request (they read their own bodies: chatbot_server.bodies),
so this middleware calls them directly and hands their errors to the app's own exception handlers:
the responses are those FastAPI would give. The routes stay declared in FastAPI, which documents
them in the OpenAPI document.

A client that goes away stops its request wherever it is: waiting for the language model's first
byte, in the middle of a stream, or before a whole answer. From 50 ms after the request body is
read, a watcher task waits for the disconnect and cancels the request's task: the upstream call is
closed at once, instead of being read to its end (and paid for) with nobody waiting. Uvicorn by
itself would only notice on the next write, and a non-streamed answer has none until it is whole.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
# Set in the scope when the client went away before its answer was complete (metrics: status 499).
CLIENT_LEFT = "chatbot_server.client_left"
# A request still running this long after its body came in starts watching for its client leaving.
WATCH_AFTER_SECONDS = 0.05
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
        task = asyncio.current_task()
        assert task is not None
        watcher: asyncio.Task[None] | None = None
        timer: asyncio.TimerHandle | None = None
        left = False  # the client went away
        ended = False  # the response's last message is on its way: nothing left to stop

        async def watch() -> None:
            nonlocal left
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass
            except Exception:  # receive itself failed: no disconnect to act on
                return
            if not ended:
                left = True
                task.cancel()

        def start_watching() -> None:
            nonlocal watcher
            if not ended:
                watcher = asyncio.create_task(watch())

        async def receive_then_watch() -> Message:
            nonlocal timer
            message = await receive()
            if timer is None and message["type"] == "http.request" and not message.get("more_body"):
                # The whole body is in: from now on, the next message can only be the disconnect.
                # Watched only if the request lasts: most are over sooner, and a watcher task is
                # a tenth of the CPU time of a proxied answer.
                timer = asyncio.get_running_loop().call_later(WATCH_AFTER_SECONDS, start_watching)
            return message

        async def send_until_ended(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.body" and not message.get("more_body"):
                ended = True
            await send(message)

        request = Request(scope, receive_then_watch, send_until_ended)
        try:
            try:
                response: Response = await route.endpoint(request)
            except Exception as error:
                handler = self._handler(error)
                if handler is None:
                    raise
                handled = handler(request, error)
                response = await handled if inspect.isawaitable(handled) else handled
            await response(scope, receive_then_watch, send_until_ended)
        except asyncio.CancelledError:
            # The watcher's cancellation is taken back, unless another came too (a shutdown's).
            if not left or task.uncancel() > 0:
                raise
            scope[CLIENT_LEFT] = True
        finally:
            if timer is not None:
                timer.cancel()
            if watcher is not None:
                watcher.cancel()

    def _handler(self, error: Exception) -> Handler | None:
        for kind in type(error).__mro__:
            if kind in self.handlers:
                return self.handlers[kind]
        return None
