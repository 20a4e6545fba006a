"""The chat endpoints are served past FastAPI's router, and only endpoints that allow it can be."""

import asyncio
import time
from typing import Any

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from chatbot_server.app import DIRECT_PATHS, create_app
from chatbot_server.direct_routes import CLIENT_LEFT, DirectRoutes, direct_routes
from chatbot_server.settings import Settings


def test_the_app_serves_both_chat_routes_directly() -> None:
    app = create_app(Settings(api_keys_dir=None))
    middleware = [entry for entry in app.user_middleware if entry.cls is DirectRoutes]
    assert len(middleware) == 1
    routes = middleware[0].kwargs["routes"]
    assert sorted(routes) == sorted(("POST", path) for path in DIRECT_PATHS)


def test_an_endpoint_that_needs_more_than_the_request_is_refused() -> None:
    router = APIRouter()

    @router.post("/answer")
    async def answer(request: Request, question: str) -> Response:
        return Response(question)

    with pytest.raises(TypeError, match="/answer: a direct route's endpoint takes only the Request"):
        direct_routes(router.routes, ["/answer"])


def test_an_endpoint_with_dependencies_is_refused() -> None:
    router = APIRouter()

    async def check() -> None:
        return None

    @router.post("/answer", dependencies=[Depends(check)])
    async def answer(request: Request) -> Response:
        return Response(b"")

    with pytest.raises(TypeError, match="takes only the Request"):
        direct_routes(router.routes, ["/answer"])


def test_a_path_without_a_route_is_refused() -> None:
    with pytest.raises(LookupError, match="/missing"):
        direct_routes(APIRouter().routes, ["/missing"])


def test_other_paths_and_methods_still_go_through_fastapi() -> None:
    with TestClient(create_app(Settings(api_keys_dir=None))) as client:
        # Not served directly: FastAPI's router answers, with its usual 405 and 404.
        assert client.get("/v1/chat/completions").status_code == 405
        assert client.post("/v1/chat/completions/extra", json={}).status_code == 404
        assert client.get("/healthz").json() == {"status": "ok"}


def served_directly(endpoint_seconds: float) -> DirectRoutes:
    router = APIRouter()

    @router.post("/answer")
    async def answer(request: Request) -> Response:
        await request.body()
        await asyncio.sleep(endpoint_seconds)  # a language model thinking
        return Response(b"the answer")

    async def not_here(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("served directly, not by the app")

    return DirectRoutes(not_here, routes=direct_routes(router.routes, ["/answer"]), handlers={})


async def serve(
    middleware: DirectRoutes, client_leaves_after: float | None, scope: dict[str, Any]
) -> list[Message]:
    """What the middleware sends for one request whose client sends `{}`, then leaves (or stays)."""
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        if client_leaves_after is None:
            await asyncio.Event().wait()  # the client stays
        await asyncio.sleep(client_leaves_after or 0)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


def http_scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/answer", "headers": [], "query_string": b""}


def test_a_client_that_leaves_stops_its_request_at_once_and_is_marked_for_the_metrics() -> None:
    scope = http_scope()
    started = time.monotonic()
    # Bounded: a request that ignored the disconnect would wait out the endpoint's 30 s.
    sent = asyncio.run(asyncio.wait_for(serve(served_directly(30), 0.05, scope), timeout=5))
    assert time.monotonic() - started < 1
    assert sent == []  # nobody is there to answer
    assert scope[CLIENT_LEFT] is True


def test_a_client_that_stays_gets_its_answer() -> None:
    scope = http_scope()
    sent = asyncio.run(serve(served_directly(0.05), None, scope))
    assert sent[0]["status"] == 200
    assert sent[-1]["body"] == b"the answer"
    assert CLIENT_LEFT not in scope


def test_a_server_shutdown_still_cancels_the_request() -> None:
    async def shut_down_midway() -> None:
        task = asyncio.create_task(serve(served_directly(30), None, http_scope()))
        await asyncio.sleep(0.05)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(asyncio.wait_for(shut_down_midway(), timeout=5))
