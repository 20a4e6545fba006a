"""The operator's handlers running in-process (Kopf) against kmock's Kubernetes emulator."""

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import kopf
import pytest
from kubernetes import client
from tests.support.gitserver import GitServer, running_git_server
from tests.support.kube_emulator import ApiServerEmulator

from chatbot_operator.config import OperatorSettings
from chatbot_operator.handlers import build_registry
from chatbot_operator.kube import KubeClient

VERBS = {"get", "list", "watch", "patch", "create", "delete"}
RESOURCES = {
    "chatbot-operator.io/v1alpha1/chatbots": kmock.ResourceInfo(
        kind="ChatBot", namespaced=True, verbs=VERBS, subresources={"status"}
    ),
    "apps/v1/deployments": kmock.ResourceInfo(
        kind="Deployment", namespaced=True, verbs=VERBS, subresources={"status"}
    ),
    "v1/services": kmock.ResourceInfo(kind="Service", namespaced=True, verbs=VERBS),
    "v1/configmaps": kmock.ResourceInfo(kind="ConfigMap", namespaced=True, verbs=VERBS),
    "v1/secrets": kmock.ResourceInfo(kind="Secret", namespaced=True, verbs=VERBS),
    "v1/events": kmock.ResourceInfo(kind="Event", namespaced=True, verbs=VERBS),
    "v1/pods": kmock.ResourceInfo(kind="Pod", namespaced=True, verbs=VERBS),
    # Kopf watches CRDs and namespaces to notice resources and namespaces appearing.
    "apiextensions.k8s.io/v1/customresourcedefinitions": kmock.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False, verbs=VERBS
    ),
    "v1/namespaces": kmock.ResourceInfo(kind="Namespace", namespaced=False, verbs=VERBS),
}
CHATBOTS = "/apis/chatbot-operator.io/v1alpha1/namespaces/docs/chatbots"


@dataclass
class Cluster:
    """The emulated API server, an HTTP session to it, and ways to start and stop the operator."""

    emulator: Any
    session: aiohttp.ClientSession
    start_operator: Callable[[], Awaitable[None]]
    stop_operator: Callable[[], Awaitable[None]]
    kube: KubeClient

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.session.post(path, json=body)
        assert response.status < 300, await response.text()
        result: dict[str, Any] = await response.json()
        return result

    async def patch(self, path: str, body: dict[str, Any]) -> None:
        response = await self.session.patch(
            path, data=json.dumps(body), headers={"Content-Type": "application/merge-patch+json"}
        )
        assert response.status < 300, await response.text()

    async def delete(self, path: str) -> None:
        response = await self.session.delete(path)
        assert response.status < 300, await response.text()

    async def get(self, path: str) -> dict[str, Any] | None:
        response = await self.session.get(path)
        if response.status == 404:
            return None
        assert response.status < 300, await response.text()
        result: dict[str, Any] = await response.json()
        return result

    def writes(self) -> list[str]:
        """Every mutating request the emulator has served so far."""
        return [
            f"{request.method} {request.url.path}"
            for request in self.emulator
            if str(request.method) not in ("GET", "method.GET") and request.method != kmock.method.GET
        ]


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    """Poll until `check` returns something truthy; fail with its last result."""
    deadline = time.monotonic() + within
    result = None
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {within}s; last result: {result!r}")


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    emulator = ApiServerEmulator()
    for name, info in RESOURCES.items():
        emulator.resources[name] = info
    running: dict[str, Any] = {}
    # A fixed port, so the API server's URL survives a restart of its HTTP front.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    kube = KubeClient(client.ApiClient(client.Configuration(host=url)))
    settings = OperatorSettings(refresh_check_seconds=1.0, corpus_resolve_timeout=10.0)

    async def start_operator() -> None:
        # A fresh HTTP front per operator run: kmock keeps a dead watcher's stream open otherwise.
        server = kmock.Server(emulator, host="127.0.0.1", port=port)
        await server.__aenter__()
        registry = build_registry(settings, kube=kube)

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url, insecure=True)

        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            kopf.operator(
                registry=registry, clusterwide=True, standalone=True, stop_flag=stop, ready_flag=ready
            )
        )
        running.update(task=task, stop=stop, server=server)
        await asyncio.wait_for(ready.wait(), timeout=10)

    async def stop_operator() -> None:
        running["stop"].set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running.pop("task"), timeout=10)
        await running.pop("server").__aexit__(None, None, None)

    async with emulator:
        await start_operator()
        async with aiohttp.ClientSession(base_url=url, timeout=aiohttp.ClientTimeout(total=10)) as session:
            cluster = Cluster(emulator, session, start_operator, stop_operator, kube)
            try:
                yield cluster
            finally:
                if "task" in running:
                    await stop_operator()


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    """A real git daemon on loopback whose repositories the tests change."""
    with running_git_server(tmp_path) as server:
        yield server
