"""A fault-injecting HTTP proxy in front of a real kube-apiserver, for the operator's fault tests.

The operator talks plain HTTP to the proxy on loopback; the proxy forwards to the API server over
TLS and, with a seeded random choice per request:
- answers 409 to a write with a resourceVersion precondition, as a real API server does when
  someone wrote first,
- fails a write before forwarding it (500, 503), or after forwarding it (the change is made, the
  client is told 500 or 503, as when a response is lost), to prove retries create no duplicates,
- fails a plain read with 503,
- cuts every watch stream after a few seconds, between two events, as a load balancer or an API
  server restart does.
Every injected fault is counted, so a test can prove the faults really happened.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import ssl
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
REASONS = {409: "Conflict", 500: "InternalError", 503: "ServiceUnavailable"}


@dataclass
class FaultPolicy:
    write_fault_rate: float = 0.15
    # Writes with a resourceVersion precondition answered 409 (before any other fault).
    conflict_rate: float = 0.3
    read_fault_rate: float = 0.05
    watch_cut_after: tuple[float, float] = (2.0, 6.0)
    # Only requests whose path contains this are faulted (e.g. the test's namespace): the proxy
    # must not break what the test itself needs.
    path_contains: str = ""


@dataclass
class FaultProxy:
    upstream: str
    ssl_context: ssl.SSLContext
    policy: FaultPolicy
    seed: int
    injected: Counter[str] = field(default_factory=Counter)
    forwarded: Counter[str] = field(default_factory=Counter)
    url: str = ""
    enabled: bool = True

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        # Which write fails is random; how it fails takes turns, so a few faults cover every kind.
        self._write_faults = itertools.cycle([(500, False), (503, False), (500, True), (503, True)])
        self._lock = threading.Lock()

    def _draw(self) -> float:
        with self._lock:
            return self._rng.random()

    def _count(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        faultable = self.enabled and self.policy.path_contains in request.path
        is_watch = request.query.get("watch") in ("true", "1")
        body = await request.read()
        if faultable and request.method in WRITES:
            # A real API server answers 409 only to a write with a precondition (a resourceVersion)
            # when someone wrote first; Kopf's own merge patches carry none and never see one.
            if b'"resourceVersion"' in body and self._draw() < self.policy.conflict_rate:
                self._count(self.injected, f"{request.method} 409")
                return _status_response(409)
            if self._draw() < self.policy.write_fault_rate:
                with self._lock:
                    code, after_write = next(self._write_faults)
                if after_write:
                    forwarded = await self._forward(request, body)
                    if forwarded.status >= 300:
                        return forwarded
                self._count(
                    self.injected, f"{request.method} {code}" + (" after the write" if after_write else "")
                )
                return _status_response(code)
        if (
            faultable
            and request.method == "GET"
            and not is_watch
            and self._draw() < self.policy.read_fault_rate
        ):
            self._count(self.injected, "GET 503")
            return _status_response(503)
        if is_watch:
            return await self._forward_watch(request, body, cut=faultable)
        return await self._forward(request, body)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        self._count(self.forwarded, request.method)
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.path_qs,
            headers=_forwardable(request.headers),
            data=body or None,
            ssl=self.ssl_context,
            # The kubernetes client sends JSON with no Content-Type (the API server assumes JSON);
            # aiohttp would add application/octet-stream, which the API server refuses.
            skip_auto_headers=("Content-Type",),
        ) as upstream:
            payload = await upstream.read()
            return web.Response(
                status=upstream.status,
                body=payload,
                headers={"Content-Type": upstream.headers.get("Content-Type", "application/json")},
            )

    async def _forward_watch(self, request: web.Request, body: bytes, *, cut: bool) -> web.StreamResponse:
        self._count(self.forwarded, "WATCH")
        with self._lock:
            lifetime = self._rng.uniform(*self.policy.watch_cut_after)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.path_qs,
            headers=_forwardable(request.headers),
            data=body or None,
            ssl=self.ssl_context,
            skip_auto_headers=("Content-Type",),
            timeout=timeout,
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={"Content-Type": upstream.headers.get("Content-Type", "application/json")},
            )
            try:
                await response.prepare(request)
                await self._pass_events(upstream, response, lifetime if cut else None)
            except ConnectionResetError:
                return response  # the client went away (e.g. the operator was stopped)
            # Cut without a proper end of the chunked body: the client sees the connection drop.
            if request.transport is not None:
                request.transport.close()
            return response

    async def _pass_events(
        self, upstream: aiohttp.ClientResponse, response: web.StreamResponse, lifetime: float | None
    ) -> None:
        """Pass whole events (lines) on until the watch ends, or until `lifetime` runs out."""
        loop = asyncio.get_running_loop()
        deadline = None if lifetime is None else loop.time() + lifetime
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                self._count(self.injected, "watch cut")
                return
            try:
                line = await asyncio.wait_for(upstream.content.readline(), timeout=remaining)
            except TimeoutError:
                continue  # the deadline passed while the stream was idle: cut it now
            if not line:
                return  # the API server ended the watch itself
            await response.write(line)

    @property
    def injected_total(self) -> int:
        return sum(count for kind, count in self.injected.items() if kind != "watch cut")

    async def start(self, loop_ready: threading.Event) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        loop_ready.set()

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._session.close()


def _forwardable(headers: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key.lower() not in HOP_BY_HOP}


def _status_response(code: int) -> web.Response:
    """The body a real API server sends with an error: a metav1.Status."""
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"injected by the test's fault proxy ({REASONS[code]})",
        "reason": REASONS[code],
        "code": code,
    }
    return web.Response(status=code, body=json.dumps(status), content_type="application/json")


@contextmanager
def running_fault_proxy(
    upstream: str, ca_pem: bytes, policy: FaultPolicy, seed: int, timeout: float = 10.0
) -> Iterator[FaultProxy]:
    """The proxy on a loopback port, serving from its own thread and event loop until exit."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    proxy = FaultProxy(upstream.rstrip("/"), context, policy, seed)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(proxy.start(ready), loop).result(timeout)
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()
