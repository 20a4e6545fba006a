"""A fake OpenTelemetry collector on loopback: receives OTLP/HTTP (protobuf) traces and metrics.

It keeps every span and metric data point it is sent, decoded, so that tests can read the bot's
telemetry as a collector would. It runs in its own thread and event loop, like the fake LLM.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


class OtlpCollector:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []  # name, kind, trace_id, attributes, status
        self.points: list[dict[str, Any]] = []  # metric, unit, attributes, sum, count
        self.resources: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otlp-collector", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OtlpCollector:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._metrics)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _traces(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in export.resource_spans:
            self.resources.append(attributes(resource_spans.resource.attributes))
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        {
                            "name": span.name,
                            "kind": span.kind,
                            "trace_id": span.trace_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "attributes": attributes(span.attributes),
                            "status": span.status.code,
                        }
                    )
        return web.Response(content_type="application/x-protobuf")

    async def _metrics(self, request: web.Request) -> web.Response:
        export = ExportMetricsServiceRequest.FromString(await request.read())
        for resource_metrics in export.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.histogram.data_points:
                        self.points.append(
                            {
                                "metric": metric.name,
                                "unit": metric.unit,
                                "attributes": attributes(point.attributes),
                                "sum": point.sum,
                                "count": point.count,
                            }
                        )
        return web.Response(content_type="application/x-protobuf")
