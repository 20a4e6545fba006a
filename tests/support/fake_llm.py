"""A fake OpenAI-compatible upstream on loopback, for the bot's integration tests.

It serves `POST /v1/chat/completions` (and Azure's `/openai/deployments/<d>/chat/completions`),
streaming SSE chunks ending in `data: [DONE]` like OpenAI does, and plays scripted failures:

  "ok"          a normal answer
  "429"         HTTP 429 with Retry-After: 0
  "500"         HTTP 500
  "400"         HTTP 400 (a request the upstream refuses)
  "disconnect"  (stream) two content chunks, then the connection is dropped
  "stall"       no response for `stall_seconds` (`stalls_abandoned` counts the bot closing it)
  "stall-mid"   (stream) one content chunk, then silence for `stall_seconds`
  "error-mid"   (stream) two content chunks and an SSE error event, in one write

It serves `POST /v1/embeddings` too (and Azure's `/openai/deployments/<d>/embeddings`), with the
vectors of tests/support/fake_embeddings.py; `embedding_failure` makes every embeddings call fail
until it is cleared: "401", "404" (no such model), "500", "429", "stall" (no answer for
`stall_seconds`) or "dimensions" (vectors of the wrong size). With `api_key` set, both routes
answer 401 to any other key, as OpenAI does.

Each chat request takes the next behaviour from `script` (then "ok"). Every request body is recorded
(unless `record=False`, for long load runs). `streams_open` counts the streams being written now and
`streams_cut` those whose reader (the bot) went away before the end, so tests can see that a
client's disconnect reaches the upstream. It runs in its own thread and event loop, so synchronous
tests (the openai SDK, Playwright) can use it; `python -m tests.support.fake_llm` serves it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections import deque
from typing import Any

from aiohttp import web

from tests.support.fake_embeddings import embeddings_response


class FakeLLM:
    def __init__(
        self,
        answer: str = "The fake model says hello from the test upstream.",
        chunk_delay: float = 0.0,
        stall_seconds: float = 30.0,
        record: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.answer = answer
        # Loopback, or the host's end of the real node's veth for bots in real pods.
        self.host = host
        # Answers to particular questions (the last message's content); others get `answer`.
        self.answers: dict[str, str] = {}
        self.record = record
        self.streams_open = 0
        self.streams_cut = 0
        self.stalls_abandoned = 0  # stalled requests whose client (the bot) closed them
        self.chunk_delay = chunk_delay
        self.stall_seconds = stall_seconds
        self.script: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.api_key: str | None = None  # None: any key (or none) is accepted
        self.embedding_failure: str | None = None
        self.embedding_requests: list[dict[str, Any]] = []
        self.embedding_keys: list[str] = []  # the key each embeddings request carried
        self.embedding_paths: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-llm", daemon=True)
        self._runner: web.AppRunner | None = None
        self._stalls: list[asyncio.Event] = []
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def bot_settings(self, **extra: Any) -> dict[str, Any]:
        """Settings for a bot that talks to this fake, with short timeouts and no retries."""
        return {
            "llm_provider": "openai-compatible",
            "llm_base_url": self.base_url,
            "llm_timeout_seconds": 2.0,
            "llm_max_retries": 0,
            **extra,
        }

    def play(self, *behaviours: str) -> None:
        self.script.extend(behaviours)

    def start(self) -> FakeLLM:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        # A large backlog: a bot opening a thousand upstream connections at once must not see SYNs
        # dropped (and retried seconds later) because the fake accepts too slowly.
        await web.SockSite(self._runner, sock, backlog=4096).start()

    async def _stop(self) -> None:
        for stall in self._stalls:
            stall.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _stall(self, request: web.Request) -> None:
        """Wait stall_seconds (or until stopped); a client that closes its request ends the wait.

        aiohttp does not cancel a handler whose client left, so the connection is looked at.
        """
        event = asyncio.Event()
        self._stalls.append(event)
        deadline = time.monotonic() + self.stall_seconds
        while not event.is_set() and time.monotonic() < deadline:
            if request.transport is None or request.transport.is_closing():
                self.stalls_abandoned += 1
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 0.02)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if self.record:
            self.requests.append(body)
            self.paths.append(request.path_qs)
            self.headers.append(dict(request.headers))
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        behaviour = self.script.popleft() if self.script else "ok"
        if behaviour == "429":
            return _error(429, "Rate limit reached for requests", "rate_limit_exceeded", {"Retry-After": "0"})
        if behaviour == "500":
            return _error(500, "The server had an error while processing your request.", "server_error")
        if behaviour == "400":
            return _error(400, "Invalid value for 'messages'.", "invalid_request_error")
        if behaviour == "redirect":  # e.g. a gateway that moved: 307 keeps the method and the body
            raise web.HTTPTemporaryRedirect(request.path + "?redirected=1")
        if behaviour == "stall":
            await self._stall(request)
        if body.get("stream"):
            self.streams_open += 1
            try:
                return await self._stream(request, body, behaviour)
            finally:
                self.streams_open -= 1
        if behaviour == "disconnect":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        return web.json_response(self._completion(body))

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or _sent_key(request) == self.api_key

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.embedding_requests.append(body)
        self.embedding_keys.append(_sent_key(request))
        self.embedding_paths.append(request.path_qs)
        failure = self.embedding_failure
        if not self._authorized(request) or failure == "401":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if failure == "404":
            return _error(404, f"The model {body.get('model')} does not exist.", "model_not_found")
        if failure == "500":
            return _error(500, "The server had an error while processing your request.", "server_error")
        if failure == "429":
            return _error(429, "Rate limit reached for requests", "rate_limit_exceeded", {"Retry-After": "0"})
        if failure == "stall":
            await self._stall(request)
        if not body.get("input") or not body.get("model"):
            return _error(400, "'input' and 'model' are required.", "invalid_request_error")
        wrong_size = 7 if failure == "dimensions" else None
        return web.json_response(embeddings_response(body, wrong_size))

    def _answer(self, body: dict[str, Any]) -> str:
        question = (body.get("messages") or [{}])[-1].get("content")
        return self.answers.get(question, self.answer) if isinstance(question, str) else self.answer

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self._answer(body)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
        }

    async def _stream(self, request: web.Request, body: dict[str, Any], behaviour: str) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        try:
            await response.prepare(request)
            await self._write_stream(request, response, body, behaviour)
        except ConnectionResetError:
            self.streams_cut += 1  # the bot closed its upstream request: nothing more to send
        return response

    async def _write_stream(
        self, request: web.Request, response: web.StreamResponse, body: dict[str, Any], behaviour: str
    ) -> None:
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
        }

        pending = b""  # "error-mid" holds its words back, to write them with the error

        async def send(payload: object) -> None:
            nonlocal pending
            event = b"data: " + json.dumps(payload).encode() + b"\n\n"
            if behaviour == "error-mid":
                pending += event
            else:
                await response.write(event)

        await send(
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
            }
        )
        words = self._answer(body).split(" ")
        for position, word in enumerate(words):
            if behaviour == "disconnect" and position == 2:
                assert request.transport is not None
                request.transport.close()
                return
            if behaviour == "stall-mid" and position == 1:
                await self._stall(request)
            if behaviour == "error-mid" and position == 2:
                # Two words and the upstream's error event in one write: they reach the bot together.
                failure = {"error": {"message": "The server had an error.", "type": "server_error"}}
                await response.write(pending + b"data: " + json.dumps(failure).encode() + b"\n\n")
                await response.write_eof()
                return
            piece = word if position == 0 else " " + word
            await send(
                {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            )
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(
                {
                    **base,
                    "choices": [],
                    "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
                }
            )
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()


def _sent_key(request: web.Request) -> str:
    """The key a request carries: OpenAI's bearer token, or Azure's api-key header."""
    return request.headers.get("api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "requests", "param": None, "code": code}},
        status=status,
        headers=headers,
    )


def main() -> None:
    """Serve the fake alone (for load runs, where it must not share the bot's or the clients' CPU).

    Prints the port on the first line of stdout, then serves until stdin closes or SIGTERM.
    """
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_llm")
    parser.add_argument("--words", type=int, default=20, help="words in the answer, one chunk each")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    args = parser.parse_args()
    answer = " ".join(f"word{position}" for position in range(args.words))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with FakeLLM(answer=answer, chunk_delay=args.chunk_delay, record=False) as fake:
        print(fake.port, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
