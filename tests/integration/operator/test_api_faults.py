"""The operator's API client against an API server that fails now and then (a local HTTP server).

The operator-wide behaviour under faults is proved on the real control plane
(tests/e2e/test_operator_faults.py); here, the client's own retry of transient errors.
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from kubernetes.config import kube_config

from chatbot_operator.kube import CONFIG_MAPS, KubeClient, KubeError


class FlakyApiServer(ThreadingHTTPServer):
    """Answers 503 to the first `failures` requests of each method, then 200 with the body sent."""

    def __init__(self, failures: int) -> None:
        super().__init__(("127.0.0.1", 0), FlakyHandler)
        self.failures = failures
        self.seen: list[str] = []


class FlakyHandler(BaseHTTPRequestHandler):
    server: FlakyApiServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b"{}"
        self.server.seen.append(self.command)
        if self.server.seen.count(self.command) <= self.server.failures:
            payload = {"kind": "Status", "code": 503, "reason": "ServiceUnavailable", "message": "try again"}
            self._send(503, json.dumps(payload).encode())
        else:
            self._send(200, body)

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PATCH = do_POST = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def flaky_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[KubeClient, FlakyApiServer]]:
    server = FlakyApiServer(failures=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    url = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))  # fmt: skip
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    try:
        yield KubeClient.from_environment(), server
    finally:
        server.shutdown()
        server.server_close()


def test_a_brief_api_server_outage_is_retried_for_reads_and_idempotent_writes(
    flaky_client: tuple[KubeClient, FlakyApiServer],
) -> None:
    client, server = flaky_client
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "bot-config", "namespace": "docs"},
    }
    assert client.apply(manifest)["metadata"]["name"] == "bot-config"
    assert client.get(CONFIG_MAPS, "docs", "bot-config") == {}
    assert server.seen == ["PATCH"] * 3 + ["GET"] * 3


def test_an_event_post_is_not_repeated_so_an_outage_cannot_duplicate_it(
    flaky_client: tuple[KubeClient, FlakyApiServer],
) -> None:
    client, server = flaky_client
    chatbot = {"metadata": {"name": "docs-assistant", "namespace": "docs", "uid": "u1"}}
    with pytest.raises(KubeError) as raised:
        client.post_event(chatbot, "Normal", "Ready", "Ready: the bot answers.")
    assert raised.value.status == 503
    assert raised.value.retryable  # Kopf's handler retry takes over
    assert server.seen == ["POST"]
