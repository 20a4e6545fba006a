"""The least a Python proxy adds on this machine: the floor the bot's overhead is compared with.

A bare ASGI callable on uvicorn (uvloop, httptools), as the mock upstream is, forwarding
`POST /v1/chat/completions` through one aiohttp session, as the bot does: the body is parsed, given
a system message and encoded again (the least any proxy that adds a prompt must do), and the
upstream's answer is relayed as it comes (whole, or SSE chunk by chunk). No validation, no auth, no
metrics, no error handling: nothing a product could ship, only the cost of the server and client
stack the bot is built on.

    python -m benchmarks.floor_proxy --port 9200 --upstream http://127.0.0.1:9100/v1
"""

from __future__ import annotations

import argparse
import json

import aiohttp
import uvicorn
from starlette.types import Message, Receive, Scope, Send

SYSTEM = {"role": "system", "content": "You answer questions about chatbot-operator."}


class FloorProxy:
    def __init__(self, upstream: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] != "/v1/chat/completions" or self.session is None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        request = json.loads(body)
        request["messages"] = [SYSTEM, *request["messages"]]
        headers = {"Content-Type": "application/json", "Authorization": "Bearer unused"}
        async with self.session.post(
            self.url, data=json.dumps(request).encode(), headers=headers
        ) as response:
            kind = response.headers.get("Content-Type", "application/json").encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [(b"content-type", kind)],
                }
            )
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor_proxy", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the upstream's base URL, ending in /v1")
    args = parser.parse_args()
    uvicorn.run(
        FloorProxy(args.upstream),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
