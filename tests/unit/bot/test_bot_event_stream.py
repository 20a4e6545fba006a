"""The bot's streamed responses: sent as they come, and their source closed however they end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatbot_server.event_stream import EventStream


class Source:
    """A stream of chunks that records whether it was closed."""

    def __init__(self, count: int | None = None) -> None:
        self.count = count
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            number = 0
            while self.count is None or number < self.count:
                yield b"chunk %d\n" % number
                number += 1
                await asyncio.sleep(0.01)
        finally:
            self.closed = True


async def serve(response: EventStream, sent: list[dict[str, Any]]) -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("a streamed response reads nothing")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await response({"type": "http"}, receive, send)


def test_every_chunk_is_sent_in_order_then_the_response_ends() -> None:
    source = Source(count=3)
    response = EventStream(source.chunks(), "text/event-stream", {"Cache-Control": "no-cache"})
    sent: list[dict[str, Any]] = []
    asyncio.run(serve(response, sent))
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-cache"
    assert [message["body"] for message in sent[1:]] == [b"chunk 0\n", b"chunk 1\n", b"chunk 2\n", b""]
    assert sent[-1]["more_body"] is False
    assert source.closed


def test_a_stream_cancelled_midway_closes_its_source_and_stays_cancelled() -> None:
    source = Source()
    sent: list[dict[str, Any]] = []

    async def cancel_midway() -> None:
        task = asyncio.create_task(serve(EventStream(source.chunks(), "text/event-stream", {}), sent))
        await asyncio.sleep(0.035)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancel_midway())
    assert source.closed
    assert 2 <= len(sent) - 1 <= 6  # a few chunks, and no end: the stream was stopped
    assert all(message.get("more_body", True) for message in sent)
