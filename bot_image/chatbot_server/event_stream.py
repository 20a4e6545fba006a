"""A streamed response, chunk by chunk as its source yields them.

Starlette's StreamingResponse runs a task group per response (the stream, and a task waiting for the
client to leave), which cost about a fifth of the time the bot spent sending a streamed answer
(docs/benchmarks.md, "Third round"). The bot's streams are served by chatbot_server.direct_routes, which
already watches for the client leaving (and cancels the whole request): here only the chunks are
sent, and the source is closed however the response ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class EventStream(Response):
    def __init__(self, chunks: AsyncIterator[bytes], media_type: str, headers: Mapping[str, str]) -> None:
        self.chunks = chunks
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
