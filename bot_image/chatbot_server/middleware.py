"""Per-request bookkeeping as one pure ASGI middleware: the body size limit and the HTTP metrics.

Pure ASGI (not BaseHTTPMiddleware) because it wraps every request, streams included, and must add
as little as possible to the bot's latency.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatbot_server.direct_routes import CLIENT_LEFT
from chatbot_server.errors import BotError
from chatbot_server.metrics import Metrics


class BodyTooLarge(Exception):
    pass


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        limit = self.max_body_bytes

        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    await self._reject(scope, receive, send, self._too_large())
                    self._observe(scope, 413, started)
                    return
                break

        # A body without Content-Length (chunked) is counted as it arrives. The app turns a read
        # error into its own 400, so the overflow is remembered and that response replaced by a 413.
        received = 0
        overflow = False

        async def limited_receive() -> Message:
            nonlocal received, overflow
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflow = True
                    raise BodyTooLarge
            return message

        replaced = False
        answered = False

        async def observed_send(message: Message) -> None:
            nonlocal status, replaced, answered
            if overflow:
                if not replaced:
                    replaced = True
                    status = 413
                    await self._too_large().response()(scope, receive, send)
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = True
            await send(message)

        try:
            await self.app(scope, limited_receive, observed_send)
        except BodyTooLarge:
            if not replaced:
                status = 413
                await self._too_large().response()(scope, receive, send)
        finally:
            if not answered and scope.get(CLIENT_LEFT):
                status = 499  # as nginx logs it: the client closed the connection before any answer
            self._observe(scope, status, started)

    def _too_large(self) -> BotError:
        return BotError(
            413, f"The request body is larger than {self.max_body_bytes} bytes.", code="request_too_large"
        )

    async def _reject(self, scope: Scope, receive: Receive, send: Send, error: BotError) -> None:
        await error.response()(scope, receive, send)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        label = getattr(route, "path", None) or "unmatched"
        # The labelled series, looked up once: prometheus_client's labels() validates and locks on
        # every call. Few keys: routes are the app's own, methods (httptools knows a fixed set) and
        # statuses a handful.
        key = (label, scope["method"], status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.metrics.requests.labels(label, scope["method"], str(status)),
                self.metrics.latency.labels(label),
            )
        series[0].inc()
        series[1].observe(time.perf_counter() - started)
