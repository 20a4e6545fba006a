"""The operator under API faults (409, 5xx, cut watches) and next to ChatBots it cannot reconcile.

The faults come from a proxy between the operator and the real API server
(tests/support/fault_proxy.py); the operator runs with the chart's ServiceAccount, confined to the
test's namespace.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Cluster, condition, wait_until
from tests.e2e.fleet import CHILD_KINDS, Fleet
from tests.e2e.operator_process import LocalOperator, Release, print_operator_log_on_failure
from tests.support.fault_proxy import FaultPolicy, FaultProxy, running_fault_proxy

SEED = random.SystemRandom().randrange(1_000_000)


@dataclass
class ProxiedCluster(Cluster):
    """The same cluster, but kubeconfigs written for the operator point at the fault proxy."""

    proxy_url: str = ""

    def server_and_ca(self) -> tuple[str, str]:
        return self.proxy_url, ""


def local_operator(release: Release, workdir: Path, namespace: str, **env: str) -> LocalOperator:
    return LocalOperator(
        release=release,
        workdir=workdir,
        env_overrides={"CHATBOT_OPERATOR_NAMESPACES": namespace, **env},
    )


@pytest.fixture
def proxy(cluster: Cluster, namespace: str) -> Iterator[FaultProxy]:
    server, ca = cluster.server_and_ca()
    policy = FaultPolicy(path_contains=f"/namespaces/{namespace}/")
    print(f"fault proxy seed {SEED}")
    with running_fault_proxy(server, base64.b64decode(ca), policy, seed=SEED) as running:
        yield running


@pytest.fixture
def proxied_operator(
    cluster: Cluster,
    operator_release: Release,
    namespace: str,
    proxy: FaultProxy,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[LocalOperator]:
    proxied = ProxiedCluster(
        kubeconfig=cluster.kubeconfig,
        bin_dir=cluster.bin_dir,
        cluster_dir=cluster.cluster_dir,
        proxy_url=proxy.url,
    )
    release = Release(cluster=proxied, name=operator_release.name, namespace=operator_release.namespace)
    operator = local_operator(release, tmp_path, namespace)
    operator.start()
    yield operator
    print_operator_log_on_failure(request, operator)
    operator.stop()


def test_api_conflicts_server_errors_and_cut_watches_are_retried_without_duplicates(
    cluster: Cluster, namespace: str, proxy: FaultProxy, proxied_operator: LocalOperator
) -> None:
    fleet = Fleet(cluster, namespace)
    fleet.create(f"faulty-{i:02d}" for i in range(8))
    first = fleet.wait_converged(timeout=240)

    # Watches cut since the fleet was created: what follows is seen only through reconnected ones.
    cuts = proxy.injected["watch cut"]
    wait_until("two more watch cuts", lambda: proxy.injected["watch cut"] >= cuts + 2, timeout=30)
    rng = random.Random(SEED)
    names = sorted(fleet.expected)
    for name in rng.sample(names, 3):
        fleet.set_prompt(name, f"You are {name}, edited under faults.")
    for name in rng.sample(names, 3):
        fleet.delete_child(name, rng.choice(CHILD_KINDS))
    fleet.scale(rng.choice(names), 2)
    second = fleet.wait_converged(timeout=240)
    proxied_operator.assert_running()

    injected = dict(proxy.injected)
    print(f"converged in {first:.0f}s, then {second:.0f}s after edits; injected {injected}; seed {SEED}")
    kinds = " ".join(injected)
    assert "409" in kinds, injected
    assert "500" in kinds, injected
    assert "503" in kinds, injected
    assert "after the write" in kinds, injected  # writes that happened although the client saw 500
    assert injected["watch cut"] >= 2, injected


INVALID_CHATBOTS: dict[str, tuple[dict[str, Any], str]] = {
    # name: (spec fields besides the prompt, the reason the Ready condition must give)
    "missing-prompt-configmap": (
        {"systemPromptFrom": {"configMapKeyRef": {"name": "no-such-prompt", "key": "prompt"}}},
        "SystemPromptNotFound",
    ),
    "missing-llm-key": (
        {"llm": {"provider": "openai", "apiKeySecretRef": {"name": "no-such-key"}}},
        "LLMKeySecretNotFound",
    ),
    "missing-api-keys": ({"auth": {"apiKeysSecretRef": {"name": "no-such-keys"}}}, "APIKeysSecretNotFound"),
    "missing-appconfig-secret": (
        {"appConfiguration": {"connectionStringSecretRef": {"name": "no-such-store"}}},
        "ConnectionStringSecretNotFound",
    ),
    "unreachable-corpus": ({"corpus": {"repo": "http://127.0.0.1:9/nowhere.git"}}, "RepositoryUnreachable"),
}


def test_chatbots_that_cannot_be_reconciled_never_block_the_others(
    cluster: Cluster,
    operator_release: Release,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    # The broken ones first, so the operator meets them before the valid ones.
    for name, (fields, _reason) in INVALID_CHATBOTS.items():
        spec = {"systemPrompt": f"You are {name}.", "replicas": 1, **fields}
        if "systemPromptFrom" in fields:
            del spec["systemPrompt"]
        cluster.apply({"apiVersion": "chatbot-operator.io/v1alpha1", "kind": "ChatBot",
                       "metadata": {"name": name}, "spec": spec}, namespace=namespace)  # fmt: skip
    fleet = Fleet(cluster, namespace)
    fleet.create(f"valid-{i:02d}" for i in range(10))

    operator = local_operator(
        operator_release, tmp_path, namespace, CHATBOT_OPERATOR_REFRESH_CHECK_SECONDS="2"
    )
    operator.start()
    try:
        # Only the valid ones are in the fleet's expectations (the broken ones own a Service too,
        # which the duplicate and orphan checks cover).
        seconds = fleet.wait_converged(timeout=90)
        print(f"10 valid ChatBots Ready {seconds:.0f}s after the operator started")

        for name, (_fields, reason) in INVALID_CHATBOTS.items():
            chatbot = wait_until(
                f"ChatBot {name} to report why it is not Ready",
                lambda name=name: _not_ready_with_reason(cluster, namespace, name),
                timeout=60,
            )
            ready = condition(chatbot, "Ready") or {}
            if reason:
                assert ready["reason"] == reason, ready
            assert ready["message"], ready

        # Creating what was missing is enough, with no change to the ChatBots: the refresh loop reads
        # the prompt ConfigMap again, and looks again for the Secrets (users' Secrets send no event).
        cluster.kubectl(
            "create", "configmap", "no-such-prompt", "-n", namespace, "--from-literal=prompt=Hello."
        )  # fmt: skip
        cluster.kubectl(
            "create", "secret", "generic", "no-such-key", "-n", namespace, "--from-literal=apiKey=sk-e2e"
        )
        cluster.kubectl(
            "create", "secret", "generic", "no-such-keys", "-n", namespace, "--from-literal=app=k-e2e"
        )
        for name in ("missing-prompt-configmap", "missing-llm-key", "missing-api-keys"):
            wait_until(
                f"the fixed ChatBot {name} to turn Ready",
                lambda name=name: (
                    (condition(cluster.get("chatbot", name, "-n", namespace), "Ready") or {}).get("status")
                    == "True"
                ),
                timeout=60,
            )
        operator.assert_running()
    finally:
        print_operator_log_on_failure(request, operator)
        operator.stop()


def _not_ready_with_reason(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    chatbot: dict[str, Any] = cluster.get("chatbot", name, "-n", namespace)
    ready = condition(chatbot, "Ready") or {}
    if (
        ready.get("status") == "False"
        and ready.get("observedGeneration") == chatbot["metadata"]["generation"]
    ):
        return chatbot
    return None
