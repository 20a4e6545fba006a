"""The bot's streamed responses: sent as they come, and stopped (source closed) when the client leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatbot_server.event_stream import EventStream


class Source:
    """An endless stream of chunks that records whether it was closed."""

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


async def serve(response: EventStream, client_leaves_after: float | None) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    left = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if client_leaves_after is None:
            await left.wait()  # never
        else:
            await asyncio.sleep(client_leaves_after)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await response({"type": "http"}, receive, send)
    return sent


def test_every_chunk_is_sent_in_order_then_the_response_ends() -> None:
    source = Source(count=3)
    response = EventStream(source.chunks(), "text/event-stream", {"Cache-Control": "no-cache"})
    sent = asyncio.run(serve(response, client_leaves_after=None))
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-cache"
    assert [message["body"] for message in sent[1:]] == [b"chunk 0\n", b"chunk 1\n", b"chunk 2\n", b""]
    assert sent[-1]["more_body"] is False


def test_a_client_that_leaves_stops_the_stream_and_closes_its_source() -> None:
    source = Source()
    # Bounded: a stream that ignored the disconnect would run forever.
    response = EventStream(source.chunks(), "text/event-stream", {})
    sent = asyncio.run(asyncio.wait_for(serve(response, client_leaves_after=0.035), timeout=5))
    assert source.closed
    assert 2 <= len(sent) - 1 <= 6  # a few chunks, not an endless stream
    assert all(message.get("more_body", True) for message in sent)  # no end: nobody is there to read it


def test_a_server_shutdown_cancels_the_stream_instead_of_being_swallowed() -> None:
    source = Source()

    async def shut_down_midway() -> None:
        task = asyncio.create_task(serve(EventStream(source.chunks(), "text/event-stream", {}), None))
        await asyncio.sleep(0.03)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(shut_down_midway())
    assert source.closed
