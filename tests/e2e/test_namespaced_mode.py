"""The chart in namespace-scoped mode (`watchNamespaces`): Roles instead of a ClusterRole.

A second release watches one namespace; the operator, run with that release's ServiceAccount,
reconciles a ChatBot there, and the API server refuses it anything outside.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e.cluster import EXAMPLE_FILE, Cluster, CorpusRepo, condition, unique_name
from tests.e2e.operator_process import LocalOperator, Release


@pytest.fixture(scope="module")
def watched(cluster: Cluster) -> Iterator[str]:
    name = unique_name("e2e-watched")
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def release(cluster: Cluster, operator_release: Release, watched: str) -> Iterator[Release]:
    """Installed after the cluster-wide release, which owns the CRD: this one leaves it alone."""
    namespace = unique_name("e2e-scoped-operator")
    cluster.kubectl("create", "namespace", namespace)
    release = Release(cluster=cluster, name=unique_name("scoped"), namespace=namespace)
    release.install("--set", f"watchNamespaces={{{watched}}}", "--set", "crds.install=false")
    yield release
    cluster.helm("uninstall", release.name, "-n", namespace, "--wait", check=False)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def test_namespaced_release_creates_roles_only_in_the_watched_namespace(
    cluster: Cluster, release: Release, watched: str
) -> None:
    roles = cluster.get("roles", "-A", "-l", f"app.kubernetes.io/instance={release.name}")["items"]
    assert [role["metadata"]["namespace"] for role in roles] == [watched]
    env = release.container_env()
    assert env["CHATBOT_OPERATOR_NAMESPACES"] == watched


def test_operator_with_namespaced_rights_reconciles_a_chatbot_there(
    cluster: Cluster,
    operator: LocalOperator,
    watched: str,
    corpus_repo: CorpusRepo,
) -> None:
    chatbot: dict[str, Any] = yaml.safe_load(EXAMPLE_FILE.read_text())
    chatbot["spec"]["corpus"]["repo"] = corpus_repo.url
    name = chatbot["metadata"]["name"]
    cluster.apply(chatbot, namespace=watched)
    cluster.kubectl(
        "wait", "--for=condition=Ready", f"chatbot/{name}", "-n", watched, "--timeout=90s", timeout=120
    )
    ready = condition(cluster.get("chatbot", name, "-n", watched), "Ready") or {}
    assert ready.get("status") == "True"
    denials = operator.rbac_denials()
    assert not denials, "the chart's RBAC refused the operator:\n" + "\n".join(denials)


def test_reading_secrets_outside_the_watched_namespace_is_forbidden(
    cluster: Cluster, operator: LocalOperator, watched: str, namespace: str
) -> None:
    cluster.kubectl("create", "secret", "generic", "not-yours", "-n", namespace, "--from-literal=k=v")
    allowed = cluster.kubectl("get", "secrets", "-n", watched, kubeconfig=operator.kubeconfig, check=False)
    assert allowed.returncode == 0, allowed.stderr
    denied = cluster.kubectl(
        "get", "secret", "not-yours", "-n", namespace, kubeconfig=operator.kubeconfig, check=False
    )
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    cluster_wide = cluster.kubectl("get", "secrets", "-A", kubeconfig=operator.kubeconfig, check=False)
    assert cluster_wide.returncode != 0
    assert "forbidden" in cluster_wide.stderr.lower()
