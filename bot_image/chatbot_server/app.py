"""The app factory: assembles settings, state, middleware, error handlers and routers. Nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from chatbot_server.bodies import document_models
from chatbot_server.direct_routes import DirectRoutes, direct_routes
from chatbot_server.errors import install_error_handlers
from chatbot_server.middleware import RequestMiddleware
from chatbot_server.routes import chat, feedback, health, openai, web
from chatbot_server.schemas import ChatCompletionRequest, ChatRequest, FeedbackRequest
from chatbot_server.settings import Settings
from chatbot_server.state import BotState
from chatbot_server.telemetry import create_telemetry

log = logging.getLogger(__name__)

DESCRIPTION = """\
A chatbot with a web page, a JSON API and an OpenAI-compatible API. It answers from a language
model with its FAQ and documents in the prompt, or, offline, from its FAQ and documents alone.
"""


# The chat endpoints, the bot's hot path, bypass FastAPI's router (chatbot_server.direct_routes).
DIRECT_PATHS = ("/api/chat", "/v1/chat/completions")


def create_app(settings: Settings) -> FastAPI:
    """A bot app for these settings. Nothing starts until the app's lifespan does."""
    telemetry = create_telemetry(settings.name, os.environ)
    state = BotState.create(settings, telemetry)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.open_client()
        # Indexing runs in the background: the server answers /healthz at once, /readyz when done.
        preparing = asyncio.create_task(state.prepare(), name="index-corpus")
        preparing.add_done_callback(_log_unexpected)
        watching = state.watch_llm_keys()
        try:
            yield
        finally:
            for task in (preparing, *watching):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await state.close()
            if telemetry is not None:
                await asyncio.to_thread(telemetry.shutdown)

    app = FastAPI(
        title=f"{settings.name} (chatbot-operator bot)",
        description=DESCRIPTION,
        version=_version(),
        lifespan=lifespan,
        # The interactive viewers load their scripts from a CDN; the bot serves only its own files.
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry asks the global providers on every request whether one is
        # configured (8 to 30 us, a few % of a proxied request's CPU), and the bot sets no global
        # provider: its own GenAI spans and metrics (chatbot_server.telemetry) use providers of its own.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.bot = state
    app.state.page = web.PageRenderer(settings)
    install_error_handlers(app)
    routers = (web.router, chat.router, feedback.router, openai.router, health.router)
    for router in routers:
        app.include_router(router)
    document_models(app, (ChatRequest, ChatCompletionRequest, FeedbackRequest))  # bodies routes read
    # The last middleware added is the outermost: the metrics and the body limit cover both ways.
    routes = direct_routes([route for router in routers for route in router.routes], DIRECT_PATHS)
    app.add_middleware(DirectRoutes, routes=routes, handlers=app.exception_handlers)
    app.add_middleware(RequestMiddleware, metrics=state.metrics, max_body_bytes=settings.max_body_bytes)
    app.mount("/static", StaticFiles(packages=[("chatbot_server", "static")]), name="static")
    return app


def _log_unexpected(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the bot will not become ready: %s", task.exception())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chatbot-operator")
    except PackageNotFoundError:
        return "0.0.0"
