"""A streamed response that stops (closing its source, and so the upstream call) when the client leaves.

Starlette's StreamingResponse does the same through an anyio task group, which costs about a sixth
of the bot's CPU time on a streamed answer (docs/benchmarks.md, "Bot"). Here the disconnect watch
is one plain asyncio task that cancels the streaming task; the cancellation it caused is taken back
(`uncancel`), any other one (the server shutting down) goes on.
"""

from __future__ import annotations

import asyncio
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
        task = asyncio.current_task()
        assert task is not None
        left = False  # the client went away
        done = False  # the last message is being sent: nothing left to stop

        async def watch() -> None:
            nonlocal left
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass  # a request body the route did not read
            except Exception:  # receive itself failed: no disconnect to act on
                return
            if not done:
                left = True
                task.cancel()

        watcher = asyncio.create_task(watch())
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            done = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            # Taken back only if the watcher's was the one cancellation (not also a shutdown's).
            if not left or task.uncancel() > 0:
                raise
        finally:
            watcher.cancel()
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
