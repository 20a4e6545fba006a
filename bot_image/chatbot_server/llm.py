"""The language model upstream: one `openai` client per app, and raw pass-through calls.

The client is created once (in the lifespan) on aiohttp, and its own retry mechanism handles 429
and 5xx with backoff (`llm_max_retries`, honouring Retry-After). Responses are read raw rather than
parsed into the SDK's pydantic models: the bot forwards upstream bytes to OpenAI clients unchanged
and only needs a few fields itself, so a model object per streamed chunk would be pure overhead.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import httpx2
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI, DefaultAioHttpClient

from chatbot_server.errors import BotError
from chatbot_server.metrics import Metrics
from chatbot_server.settings import Settings

GENERATION_FIELDS = ("temperature", "max_tokens", "top_p", "presence_penalty", "frequency_penalty")


def create_llm_client(settings: Settings) -> AsyncOpenAI | None:
    """The client for the configured provider, or None in offline mode."""
    if settings.offline:
        return None
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    common: dict[str, Any] = {
        "timeout": settings.llm_timeout_seconds,
        "max_retries": settings.llm_max_retries,
        "http_client": DefaultAioHttpClient(),
    }
    if settings.llm_provider == "azure-openai":
        assert settings.llm_base_url is not None  # checked by Settings
        return AsyncAzureOpenAI(
            azure_endpoint=settings.llm_base_url,
            azure_deployment=settings.llm_deployment or settings.model,
            api_version=settings.llm_api_version,
            api_key=api_key,
            **common,
        )
    # Local OpenAI-compatible servers (Ollama, vLLM) often need no key, but the client insists on one.
    return AsyncOpenAI(api_key=api_key or "unused", base_url=settings.llm_base_url, **common)


def generation_params(settings: Settings) -> dict[str, Any]:
    """The generation parameters set in the settings; unset ones are left to the upstream's default."""
    values = {name: getattr(settings, name) for name in GENERATION_FIELDS}
    return {name: value for name, value in values.items() if value is not None}


def upstream_error(error: Exception, metrics: Metrics) -> BotError:
    """The client-facing error for a failed upstream call (no secrets, no stack trace)."""
    if isinstance(error, openai.APITimeoutError | httpx2.TimeoutException):
        kind, result = (
            "timeout",
            BotError(
                504,
                "The language model did not answer in time.",
                type="upstream_error",
                code="upstream_timeout",
            ),
        )
    elif isinstance(error, openai.RateLimitError):
        kind, result = (
            "rate_limited",
            BotError(
                429,
                "The language model is rate limiting this bot; try again shortly.",
                type="rate_limit_error",
                code="upstream_rate_limited",
                headers={"Retry-After": "5"},
            ),
        )
    elif isinstance(error, openai.APIStatusError):
        kind = "status_5xx" if error.status_code >= 500 else "status_4xx"
        result = BotError(
            502,
            f"The language model returned HTTP {error.status_code}: {_upstream_message(error)}",
            type="upstream_error",
            code="upstream_error",
        )
    elif isinstance(error, openai.APIConnectionError | httpx2.HTTPError | OSError):
        kind, result = (
            "connection",
            BotError(
                502,
                "The language model could not be reached.",
                type="upstream_error",
                code="upstream_unavailable",
            ),
        )
    elif isinstance(error, UpstreamStreamError):
        kind, result = "stream", BotError(502, str(error), type="upstream_error", code="upstream_error")
    else:
        kind, result = (
            "other",
            BotError(
                502,
                "The language model's answer could not be read.",
                type="upstream_error",
                code="upstream_error",
            ),
        )
    metrics.upstream_errors.labels(kind).inc()
    return result


class UpstreamStreamError(Exception):
    """The upstream reported an error inside a stream, or broke the SSE format."""


def _upstream_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message[:500]
    return error.message[:500]


class Upstream:
    """Calls the chat completions endpoint of the configured LLM."""

    def __init__(self, client: AsyncOpenAI, settings: Settings, metrics: Metrics) -> None:
        self._create = client.chat.completions.with_raw_response.create
        self._stream = client.chat.completions.with_streaming_response.create
        self._model = settings.model
        self._metrics = metrics

    async def complete(self, messages: list[dict[str, Any]], params: Mapping[str, Any]) -> bytes:
        """The raw JSON body of a non-streamed completion. Raises BotError on failure."""
        started = time.perf_counter()
        try:
            with self._metrics.upstream_open.track_inprogress():
                response = await self._create(model=self._model, **_body(messages, params))
                body: bytes = response.content
        except Exception as error:
            raise upstream_error(error, self._metrics) from error
        self._metrics.upstream_latency.observe(time.perf_counter() - started)
        return body

    async def stream(self, messages: list[dict[str, Any]], params: Mapping[str, Any]) -> AsyncIterator[str]:
        """The `data:` payloads of a streamed completion, up to (not including) `[DONE]`.

        Raises BotError when the upstream fails, before or during the stream. A stream that just
        stops is not detected here: the caller knows whether a final chunk (finish_reason) came.
        """
        started = time.perf_counter()
        first = True
        try:
            # Left (and the request closed) however the stream ends: finished, failed, or cancelled
            # because the bot's client went away.
            with self._metrics.upstream_open.track_inprogress():
                async with self._stream(
                    model=self._model, stream=True, **_body(messages, params)
                ) as response:
                    async for line in response.iter_lines():
                        if first:
                            self._metrics.upstream_latency.observe(time.perf_counter() - started)
                            first = False
                        if not line.startswith("data:"):
                            continue  # SSE comments, event names, keep-alives
                        data = line[5:].strip()
                        if data == "[DONE]":
                            return
                        if data.startswith('{"error"'):
                            raise UpstreamStreamError(
                                f"The language model failed mid-answer: {_stream_error(data)}"
                            )
                        yield data
        except BotError:
            raise
        except Exception as error:
            raise upstream_error(error, self._metrics) from error


def _body(messages: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """The create() arguments, with the messages sent as they are.

    The SDK walks typed `messages` recursively to transform them, which costs about as much as the
    whole HTTP round trip to a local upstream; the bot's messages are already plain JSON, so they go
    in `extra_body` (merged into the request body as is) and the typed argument stays empty.
    """
    return {"messages": cast(Any, []), "extra_body": {"messages": messages}, **params}


def _stream_error(data: str) -> str:
    try:
        message = json.loads(data)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return "unknown error"
    return str(message)[:500]
