"""A minimal, fast OpenAI-compatible upstream for the bot benchmark: the limit the bot is measured against.

`POST .../chat/completions` answers a fixed chat.completion, or with `"stream": true` an SSE stream
of `--chunks` content chunks `--interval-ms` apart, then a finish chunk, a usage chunk and
`[DONE]`. It is a bare ASGI callable on uvicorn (uvloop, httptools), with the responses encoded
once at start: no framework, no parsing beyond finding the stream flag, so that a direct call
costs as little as the HTTP stack allows. tests/support/fake_llm.py plays failures for the tests
and is several times slower (aiohttp.web, a recorded JSON body per request).

    python -m benchmarks.mock_upstream --port 9100 --chunks 20 --interval-ms 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

_STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')
ANSWER = "The mock upstream answers at once so that the bot's own cost is what shows."
ANSWER_WORDS = ANSWER.split(" ")


def completion_body(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 42, "completion_tokens": len(ANSWER_WORDS), "total_tokens": 42 + 15},
        }
    ).encode()


def stream_events(model: str, chunks: int) -> list[bytes]:
    """The SSE events of one streamed answer: role, `chunks` pieces of text, finish, usage, [DONE]."""
    base: dict[str, Any] = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
    }

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

    pieces = [event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    for number in range(chunks):
        word = ANSWER_WORDS[number % len(ANSWER_WORDS)]
        pieces.append(event([{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]))
    pieces.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    usage = {"prompt_tokens": 42, "completion_tokens": chunks, "total_tokens": 42 + chunks}
    pieces.append(event([], usage=usage))
    pieces.append(b"data: [DONE]\n\n")
    return pieces


class MockUpstream:
    """The ASGI app. Streams send the role and first content events at once, then one per interval."""

    def __init__(self, chunks: int, interval_ms: float, model: str = "mock-model") -> None:
        self.interval = interval_ms / 1000
        self.body = completion_body(model)
        self.events = stream_events(model, chunks)
        self.json_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        self.sse_headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan: nothing to start
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] != "POST" or not scope["path"].endswith("/chat/completions"):
            await send({"type": "http.response.start", "status": 404, "headers": self.json_headers[:1]})
            await send({"type": "http.response.body", "body": b'{"error": {"message": "not found"}}'})
            return
        if not _STREAM_FLAG.search(body):
            await send({"type": "http.response.start", "status": 200, "headers": self.json_headers})
            await send({"type": "http.response.body", "body": self.body})
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.sse_headers})
        last = len(self.events) - 1
        for number, event in enumerate(self.events):
            if 1 < number <= last - 3 and self.interval:
                # Between content chunks only: the first token comes at once, so a client's time to
                # first token is the HTTP stack's (and, through the bot, the bot's) alone.
                await asyncio.sleep(self.interval)
            await send({"type": "http.response.body", "body": event, "more_body": number < last})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mock_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per streamed answer")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="time between content chunks")
    args = parser.parse_args(argv)
    uvicorn.run(
        MockUpstream(args.chunks, args.interval_ms),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
