"""OpenTelemetry spans and metrics of the bot's model calls, after the GenAI semantic conventions.

Off unless an OTLP endpoint is configured by the standard variables (OTEL_EXPORTER_OTLP_ENDPOINT,
or its _TRACES_ / _METRICS_ forms; OTEL_SDK_DISABLED=true turns it off): then, and only then, the
SDK and its OTLP/HTTP exporters are imported, and each call to a model (the primary or a fallback)
is a CLIENT span `chat <model>` with `gen_ai.*` attributes, recorded in the histograms
`gen_ai.client.operation.duration` and `gen_ai.client.token.usage`. A caller's W3C `traceparent`
makes the spans part of its trace. Off, the hot path pays one `is None` test per call.

The exporters read the rest of the standard variables themselves (headers, timeouts, certificates);
OTEL_SERVICE_NAME defaults to the bot's name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from chatbot_server.llm import Upstream
    from chatbot_server.usage import Account

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
# gen_ai.provider.name: the conventions' names. An OpenAI-compatible server speaks OpenAI's API, as
# OpenAI's own client instrumentation reports it; server.address tells which server it is.
PROVIDER_NAMES = {"openai": "openai", "azure-openai": "azure.ai.openai", "openai-compatible": "openai"}
# The conventions' advised bucket boundaries.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
# Generation parameters recorded as gen_ai.request.* attributes.
REQUEST_ATTRIBUTES = {
    "temperature": "gen_ai.request.temperature",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "top_p": "gen_ai.request.top_p",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "seed": "gen_ai.request.seed",
}


def configured(environ: Mapping[str, str]) -> bool:
    """Whether the environment asks for OTLP export."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def create_telemetry(bot_name: str, environ: Mapping[str, str]) -> Telemetry | None:
    """The bot's telemetry when the environment configures an OTLP endpoint, else None."""
    if not configured(environ):
        return None
    protocol = environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip()
    if protocol != "http/protobuf":
        log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s: the bot exports with http/protobuf only", protocol)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": bot_name}
    resource = Resource.create(attributes)
    # Providers of the bot's own, not the global ones: several apps may share a process (tests).
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    log.info("exporting GenAI spans and metrics over OTLP/HTTP")
    return Telemetry(tracer_provider, meter_provider, bot_name)


class Telemetry:
    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider, bot: str) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self.bot = bot
        self.tracer: Tracer = tracer_provider.get_tracer("chatbot_server")
        meter = meter_provider.get_meter("chatbot_server")
        self.duration: Histogram = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.tokens: Histogram = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        self.client_kind = SpanKind.CLIENT
        self.error_status = Status(StatusCode.ERROR)
        self._propagator = TraceContextTextMapPropagator()

    def context_of(self, headers: Mapping[str, str]) -> Context | None:
        """The caller's trace context (W3C traceparent), if it sent one."""
        if "traceparent" not in headers:
            return None
        return self._propagator.extract(dict(headers))

    def start_call(
        self,
        upstream: Upstream,
        params: Mapping[str, Any],
        stream: bool,
        account: Account,
        context: Context | None,
    ) -> ModelCall:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER_NAMES.get(upstream.provider, upstream.provider),
            "gen_ai.request.model": upstream.model,
            "server.address": upstream.url.hostname or "",
        }
        if upstream.url.port is not None:
            attributes["server.port"] = upstream.url.port
        metric_attributes = dict(attributes)
        for name, attribute in REQUEST_ATTRIBUTES.items():
            value = params.get(name)
            if isinstance(value, int | float):
                attributes[attribute] = value
        attributes.update(
            {
                "chatbot.stream": stream,
                "chatbot.bot": self.bot,
                "chatbot.api": account.api,
                "chatbot.api_key": account.api_key,
            }
        )
        span = self.tracer.start_span(
            f"chat {upstream.model}", context=context, kind=self.client_kind, attributes=attributes
        )
        return ModelCall(self, span, metric_attributes)

    def shutdown(self) -> None:
        """Export what is pending and stop (blocking: run it in a worker thread)."""
        self._tracer_provider.shutdown()
        self._meter_provider.shutdown()


class ModelCall:
    """One call to a model, timed from its start to its answer's end (or its failure)."""

    __slots__ = ("_attributes", "_span", "_started", "_telemetry")

    def __init__(self, telemetry: Telemetry, span: Span, attributes: dict[str, Any]) -> None:
        self._telemetry = telemetry
        self._span = span
        self._attributes = attributes
        self._started = time.perf_counter()

    def end(self, input_tokens: int = 0, output_tokens: int = 0, error_type: str | None = None) -> None:
        attributes = self._attributes
        span = self._span
        if input_tokens or output_tokens:
            span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
            self._telemetry.tokens.record(input_tokens, {**attributes, "gen_ai.token.type": "input"})
            self._telemetry.tokens.record(output_tokens, {**attributes, "gen_ai.token.type": "output"})
        if error_type is not None:
            attributes = {**attributes, "error.type": error_type}
            span.set_attribute("error.type", error_type)
            span.set_status(self._telemetry.error_status)
        self._telemetry.duration.record(time.perf_counter() - self._started, attributes)
        span.end()
