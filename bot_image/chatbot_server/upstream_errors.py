"""What a failed call to a language model becomes: the client-facing error, its kind, and whether the
next model of the chain may take the call over (chatbot_server.model_chain)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx2
import openai

from chatbot_server.errors import BotError
from chatbot_server.metrics import Metrics

# The failures another model may well not have: rate limits, server errors, timeouts, connections.
# A 4xx other than 429 (a bad key, a bad request) or a broken answer is not one of them.
RETRYABLE_KINDS = frozenset({"rate_limited", "status_5xx", "timeout", "connection"})


class UpstreamError(BotError):
    """A failed call to a model; `kind` labels the metrics (rate_limited, status_5xx, timeout, ...)."""

    def __init__(self, kind: str, status: int, message: str, **details: Any) -> None:
        super().__init__(status, message, **details)
        self.kind = kind

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


class UpstreamStreamError(Exception):
    """The upstream reported an error inside a stream, or broke the SSE format."""


def upstream_error(error: Exception, metrics: Metrics) -> UpstreamError:
    """The client-facing error for a failed upstream call (no secrets, no stack trace)."""
    result = _classify(error)
    metrics.upstream_errors.labels(result.kind).inc()
    return result


def _classify(error: Exception) -> UpstreamError:
    if isinstance(error, openai.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        return UpstreamError(
            "timeout",
            504,
            "The language model did not answer in time.",
            type="upstream_error",
            code="upstream_timeout",
        )
    if isinstance(error, openai.RateLimitError):
        return UpstreamError(
            "rate_limited",
            429,
            "The language model is rate limiting this bot; try again shortly.",
            type="rate_limit_error",
            code="upstream_rate_limited",
            headers={"Retry-After": "5"},
        )
    if isinstance(error, openai.APIStatusError):
        return UpstreamError(
            "status_5xx" if error.status_code >= 500 else "status_4xx",
            502,
            f"The language model returned HTTP {error.status_code}: {_upstream_message(error)}",
            type="upstream_error",
            code="upstream_error",
        )
    if isinstance(error, openai.APIConnectionError | httpx2.HTTPError | aiohttp.ClientError | OSError):
        return UpstreamError(
            "connection",
            502,
            "The language model could not be reached.",
            type="upstream_error",
            code="upstream_unavailable",
        )
    if isinstance(error, UpstreamStreamError):
        return UpstreamError("stream", 502, str(error), type="upstream_error", code="upstream_error")
    return UpstreamError(
        "other",
        502,
        "The language model's answer could not be read.",
        type="upstream_error",
        code="upstream_error",
    )


def _upstream_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message[:500]
    return error.message[:500]


def status_error(response: aiohttp.ClientResponse, content: bytes, url: str) -> openai.APIStatusError:
    """The SDK's exception for an error status, with the upstream's error object as its body."""
    # The SDK's exceptions carry an httpx2 response: one is made for this (rare) path only.
    failed = httpx2.Response(
        response.status,
        headers=list(response.raw_headers),
        content=content,
        request=httpx2.Request("POST", url),
    )
    try:
        body: Any = failed.json()
    except ValueError:
        body = failed.text or None
    if isinstance(body, Mapping):
        body = body.get("error", body)
    kind = openai.RateLimitError if response.status == 429 else openai.APIStatusError
    return kind(f"Error code: {response.status}", response=failed, body=body)


def stream_error_message(data: str) -> str:
    """The message of an SSE error event's payload."""
    try:
        message = json.loads(data)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return "unknown error"
    return str(message)[:500]
