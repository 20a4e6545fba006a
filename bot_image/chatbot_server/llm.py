"""The language model upstream: one `openai` client per app, and raw pass-through calls.

The SDK client is created once (in the lifespan) on aiohttp. A call's first attempt is one plain
aiohttp POST; the SDK's own retry mechanism takes over a failed one (429 and 5xx with backoff,
`llm_max_retries`, honouring Retry-After). Responses are read raw rather than parsed into the SDK's
pydantic models: the bot forwards upstream bytes to OpenAI clients unchanged and only needs a few
fields itself, so a model object per streamed chunk would be pure overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, cast

import aiohttp
import httpx2
from openai import DEFAULT_CONNECTION_LIMITS, AsyncAzureOpenAI, AsyncOpenAI, DefaultAioHttpClient

from chatbot_server.errors import BotError
from chatbot_server.metrics import Metrics
from chatbot_server.settings import LlmModel, Settings
from chatbot_server.upstream_errors import (
    UpstreamStreamError,
    status_error,
    stream_error_message,
    upstream_error,
)

# As the SDK does: its first retry waits about this long; a longer Retry-After is not waited for.
INITIAL_RETRY_SECONDS = 0.5
MAX_RETRY_AFTER_SECONDS = 60.0

# An SSE line is one JSON chunk of a few hundred bytes: a longer one is a broken upstream, not held.
MAX_LINE_BYTES = 1024 * 1024

GENERATION_FIELDS = ("temperature", "max_tokens", "top_p", "presence_penalty", "frequency_penalty")


def create_http_client() -> httpx2.AsyncClient:
    """The SDK's HTTP client on aiohttp, with the SDK's defaults (pool size, redirects)."""
    client: httpx2.AsyncClient = DefaultAioHttpClient()
    return client


def create_session() -> aiohttp.ClientSession:
    """The aiohttp session of first attempts, set up as the SDK sets up its own.

    Same pool size and keep-alive as the SDK's defaults, same certificate store (httpx2's, which
    honours SSL_CERT_FILE). Proxies are not looked up per request (`trust_env` does that in a worker
    thread on every call): `environment_proxy` finds the one for the upstream once.
    """
    limits = DEFAULT_CONNECTION_LIMITS
    connector = aiohttp.TCPConnector(
        limit=limits.max_connections or 0,
        keepalive_timeout=limits.keepalive_expiry or 0,
        ssl=httpx2.create_ssl_context(trust_env=True),
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=False)


def environment_proxy(url: str) -> str | None:
    """The proxy the environment sets for this URL (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY), as the SDK's
    HTTP client would use it."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def create_llm_client(model: LlmModel, settings: Settings, http: httpx2.AsyncClient) -> AsyncOpenAI:
    """The client for one model (the primary or a fallback), on the given HTTP client."""
    api_key = model.api_key.get_secret_value() if model.api_key else None
    common: dict[str, Any] = {
        "timeout": settings.llm_timeout_seconds,
        "max_retries": settings.llm_max_retries,
        "http_client": http,
    }
    if model.provider == "azure-openai":
        assert model.base_url is not None  # checked by Settings
        return AsyncAzureOpenAI(
            azure_endpoint=model.base_url,
            azure_deployment=model.deployment or model.model,
            api_version=model.api_version,
            api_key=api_key,
            **common,
        )
    # Local OpenAI-compatible servers (Ollama, vLLM) often need no key, but the client insists on one.
    return AsyncOpenAI(api_key=api_key or "unused", base_url=model.base_url, **common)


def generation_params(settings: Settings) -> dict[str, Any]:
    """The generation parameters set in the settings; unset ones are left to the upstream's default."""
    values = {name: getattr(settings, name) for name in GENERATION_FIELDS}
    return {name: value for name, value in values.items() if value is not None}


class Upstream:
    """Calls the chat completions endpoint of the configured LLM.

    Each call is first sent as one plain aiohttp POST, with the URL and headers the SDK derives for
    this provider, computed once: building a request through the SDK (options model, body
    transform, header merging, URL parsing) and its httpx2 layer over aiohttp cost more than the
    rest of the bot's work on a request. When that attempt fails in a way the SDK would retry (a
    connection error, 408, 409, 429, 5xx), the SDK takes the call over with one retry fewer, so its
    backoff, Retry-After handling and error types stay those of the SDK.
    """

    def __init__(
        self,
        client: AsyncOpenAI,
        session: aiohttp.ClientSession,
        model: LlmModel,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.model = model.model  # the model id, as sent and as the metrics label it
        self.provider = model.provider
        self.url = urllib.parse.urlsplit(str(client.base_url))
        self._session = session
        query = {name: str(value) for name, value in client.default_query.items()}  # Azure's api-version
        self._url = str(client.base_url.join("chat/completions").copy_merge_params(query))
        self._proxy = environment_proxy(self._url)
        headers = {name: value for name, value in client.default_headers.items() if isinstance(value, str)}
        self._headers = {**headers, **client.auth_headers}
        # The SDK's timeout, as its aiohttp transport applies it: per connection and per read.
        seconds = settings.llm_timeout_seconds
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=seconds, sock_connect=seconds, sock_read=seconds
        )
        self._retries = settings.llm_max_retries
        retrying = client.with_options(max_retries=max(0, settings.llm_max_retries - 1))
        self._create = retrying.chat.completions.with_raw_response.create
        self._stream = retrying.chat.completions.with_streaming_response.create
        self._model = model.model
        self._metrics = metrics
        self._open = metrics.upstream_open

    async def complete(self, messages: list[dict[str, Any]], params: Mapping[str, Any]) -> bytes:
        """The raw JSON body of a non-streamed completion. Raises UpstreamError on failure."""
        started = time.perf_counter()
        try:
            with self._open.track_inprogress():
                response = await self._send(messages, params, stream=False)
                if response is not None:
                    async with response:
                        body = await response.read()
                else:
                    body = (await self._create(model=self._model, **_body(messages, params))).content
        except Exception as error:
            raise upstream_error(error, self._metrics) from error
        self._metrics.upstream_latency.observe(time.perf_counter() - started)
        return body

    async def stream(
        self, messages: list[dict[str, Any]], params: Mapping[str, Any]
    ) -> AsyncIterator[list[str]]:
        """The `data:` payloads of a streamed completion, up to (not including) `[DONE]`, in batches:
        the payloads that arrived together, so that they are passed on together.

        Raises UpstreamError when the upstream fails, before or during the stream (after passing on the
        payloads that came before the failure). A stream that just stops is not detected here: the
        caller knows whether a final chunk (finish_reason) came.
        """
        started = time.perf_counter()
        first = True
        try:
            # Left (and the request closed) however the stream ends: finished, failed, or cancelled
            # because the bot's client went away.
            with self._open.track_inprogress():
                async with contextlib.aclosing(self._lines(messages, params)) as batches:
                    async for lines in batches:
                        if first:
                            self._metrics.upstream_latency.observe(time.perf_counter() - started)
                            first = False
                        payloads: list[str] = []
                        for line in lines:
                            if not line.startswith("data:"):
                                continue  # SSE comments, event names, keep-alives, blank lines
                            data = line[5:].strip()
                            if data == "[DONE]":
                                if payloads:
                                    yield payloads
                                return
                            if data.startswith('{"error"'):
                                if payloads:
                                    yield payloads
                                raise UpstreamStreamError(
                                    f"The language model failed mid-answer: {stream_error_message(data)}"
                                )
                            payloads.append(data)
                        if payloads:
                            yield payloads
        except BotError:
            raise
        except Exception as error:
            raise upstream_error(error, self._metrics) from error

    async def _lines(
        self, messages: list[dict[str, Any]], params: Mapping[str, Any]
    ) -> AsyncGenerator[list[str], None]:
        """The response's lines, a list per read: what arrived together."""
        response = await self._send(messages, params, stream=True)
        if response is not None:
            async with response:
                async for lines in split_lines(response.content.iter_any()):
                    yield lines
            return
        async with self._stream(model=self._model, stream=True, **_body(messages, params)) as retried:
            async for lines in split_lines(retried.iter_bytes()):
                yield lines

    async def _send(
        self, messages: list[dict[str, Any]], params: Mapping[str, Any], *, stream: bool
    ) -> aiohttp.ClientResponse | None:
        """The response of the first attempt, or None when the SDK is to retry the call."""
        payload: dict[str, Any] = {"model": self._model, "messages": messages, **params}
        if stream:
            payload["stream"] = True
        try:
            response = await self._session.post(
                self._url,
                data=json.dumps(payload).encode(),
                headers=self._headers,
                timeout=self._timeout,
                proxy=self._proxy,
            )
        except (aiohttp.ClientError, TimeoutError):
            if self._retries:
                return None
            raise
        if response.status < 300:  # redirects are followed, as the SDK's client follows them
            return response
        async with response:
            body = await response.read()
        if self._retries and _retryable(response.status):
            await asyncio.sleep(_retry_delay(response.headers.get("retry-after", "")))
            return None
        raise status_error(response, body, self._url)


def _retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def _retry_delay(retry_after: str) -> float:
    """The wait before the SDK's first retry: the upstream's Retry-After, else the SDK's initial delay."""
    try:
        wait = float(retry_after)
    except ValueError:
        return INITIAL_RETRY_SECONDS
    return wait if 0 <= wait <= MAX_RETRY_AFTER_SECONDS else INITIAL_RETRY_SECONDS


def _body(messages: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """The create() arguments, with the messages sent as they are.

    The SDK walks typed `messages` recursively to transform them, which costs about as much as the
    whole HTTP round trip to a local upstream; the bot's messages are already plain JSON, so they go
    in `extra_body` (merged into the request body as is) and the typed argument stays empty.
    """
    return {"messages": cast(Any, []), "extra_body": {"messages": messages}, **params}


async def split_lines(reads: AsyncIterator[bytes]) -> AsyncIterator[list[str]]:
    """The complete lines of each read, without their line ends ("\n" or "\r\n"); a line cut
    between two reads comes with the second. A last line without a line end still counts."""
    rest = b""
    async for read in reads:
        *lines, rest = (rest + read).split(b"\n")
        if len(rest) > MAX_LINE_BYTES:
            raise UpstreamStreamError(f"The language model sent a line longer than {MAX_LINE_BYTES} bytes.")
        if lines:
            yield [line.decode().removesuffix("\r") for line in lines]
    if rest:
        yield [rest.decode().removesuffix("\r")]


def read_chunk(data: str) -> tuple[Any, list[str], bool]:
    """What the bot keeps of one streamed chat.completion.chunk: its usage (or None), its pieces of
    answer text, and whether it finishes a choice. Raises ValueError or AttributeError when the
    payload is not such a chunk."""
    chunk = json.loads(data)
    pieces: list[str] = []
    finished = False
    for choice in chunk.get("choices") or ():
        piece = (choice.get("delta") or {}).get("content")
        if piece:
            pieces.append(piece)
        finished = finished or bool(choice.get("finish_reason"))
    return chunk.get("usage"), pieces, finished
