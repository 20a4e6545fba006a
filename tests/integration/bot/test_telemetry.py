"""OpenTelemetry export: GenAI spans and metrics reach an OTLP collector when an endpoint is set, and
nothing of the SDK is even imported when none is."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
from tests.support.bot_server import BotServer
from tests.support.fake_llm import FakeLLM
from tests.support.otlp_collector import OtlpCollector

StartBot = Callable[..., BotServer]
QUESTION = [{"role": "user", "content": "What is new?"}]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_KIND_CLIENT = 3  # opentelemetry.proto.trace.v1.Span.SpanKind
STATUS_ERROR = 2


def test_model_calls_are_exported_as_genai_spans_and_metrics_in_the_callers_trace(
    start_bot: StartBot, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLLM(answer="Fallback here.") as second, OtlpCollector() as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        fallback = {"provider": "openai-compatible", "model": "backup-model", "base_url": second.base_url}
        bot = start_bot(
            **fake_llm.bot_settings(
                name="traced-bot", model="primary-model", temperature=0.3, llm_fallbacks=[fallback]
            )
        )
        fake_llm.play("500")
        traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
        response = httpx.post(
            f"{bot.url}/v1/chat/completions",
            json={"model": "traced-bot", "messages": QUESTION, "max_tokens": 50},
            headers={"traceparent": traceparent},
            timeout=10,
        )
        assert response.json()["model"] == "backup-model"
        deadline = time.monotonic() + 10
        while len(collector.spans) < 2:
            assert time.monotonic() < deadline, f"spans exported: {collector.spans}"
            time.sleep(0.05)
        bot.stop()  # the lifespan's end exports the metrics still pending

    failed, answered = collector.spans
    assert (failed["name"], answered["name"]) == ("chat primary-model", "chat backup-model")
    assert {failed["trace_id"], answered["trace_id"]} == {TRACE_ID}
    assert failed["parent_span_id"] == "00f067aa0ba902b7"
    assert failed["kind"] == SPAN_KIND_CLIENT
    assert failed["status"] == STATUS_ERROR
    assert failed["attributes"]["error.type"] == "status_5xx"
    assert answered["attributes"] == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "backup-model",
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.usage.output_tokens": 7,
        "server.address": "127.0.0.1",
        "server.port": second.port,
        "chatbot.bot": "traced-bot",
        "chatbot.api": "openai",
        "chatbot.api_key": "anonymous",
        "chatbot.stream": False,
    }
    assert {"service.name": "traced-bot"}.items() <= collector.resources[0].items()

    tokens = {
        point["attributes"]["gen_ai.token.type"]: point
        for point in collector.points
        if point["metric"] == "gen_ai.client.token.usage"
    }
    assert (tokens["input"]["sum"], tokens["output"]["sum"]) == (42, 7)
    assert tokens["input"]["unit"] == "{token}"
    assert tokens["input"]["attributes"]["gen_ai.request.model"] == "backup-model"
    durations = {
        (point["attributes"]["gen_ai.request.model"], point["attributes"].get("error.type")): point
        for point in collector.points
        if point["metric"] == "gen_ai.client.operation.duration"
    }
    assert set(durations) == {("primary-model", "status_5xx"), ("backup-model", None)}
    assert durations[("backup-model", None)]["unit"] == "s"


def test_without_an_otlp_endpoint_the_sdk_is_not_even_imported() -> None:
    program = (
        "import sys; from chatbot_server.app import create_app; "
        "from chatbot_server.settings import Settings; create_app(Settings()); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk'))))"
    )
    environment = {"PATH": "/usr/bin:/bin", "CHATBOT_API_KEYS_DIR": ""}
    result = subprocess.run(
        [sys.executable, "-c", "import json; " + program],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == []
