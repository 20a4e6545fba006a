"""The chat endpoints are served past FastAPI's router, and only endpoints that allow it can be."""

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient

from chatbot_server.app import DIRECT_PATHS, create_app
from chatbot_server.direct_routes import DirectRoutes, direct_routes
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
