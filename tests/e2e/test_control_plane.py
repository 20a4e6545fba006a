"""The test bed itself: what later tests rely on, each checked as a user of a cluster would."""

from __future__ import annotations

import json
import os

import pytest

from tests.e2e.cluster import Cluster, CommandError, condition, unique_name, wait_until

EXPECTED_MINOR = "35"


def test_version_reports_the_real_kubernetes_release(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("get", "--raw", "/version").stdout)
    if os.environ.get("E2E_KUBECONFIG"):
        pytest.skip("an existing cluster runs whatever version it runs")
    assert version["gitVersion"].startswith(f"v1.{EXPECTED_MINOR}.")
    assert version["minor"] == EXPECTED_MINOR
    client = json.loads(cluster.kubectl("version", "--client", "-o", "json").stdout)["clientVersion"]
    assert client["gitVersion"] == version["gitVersion"]


def test_every_node_is_ready_and_takes_pods_without_tolerations(cluster: Cluster, namespace: str) -> None:
    nodes = cluster.get("nodes")["items"]
    assert nodes
    assert all((condition(node, "Ready") or {}).get("status") == "True" for node in nodes)
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "plain"},
            "spec": {"containers": [{"name": "c", "image": "example.invalid/plain:1"}]},
        },
        namespace=namespace,
    )
    pod = wait_until(
        "the pod to be scheduled and Ready",
        lambda: (
            p
            if (p := cluster.get("pod", "plain", "-n", namespace))
            and (condition(p, "Ready") or {}).get("status") == "True"
            else None
        ),
    )
    assert pod["spec"]["nodeName"] in {node["metadata"]["name"] for node in nodes}


def test_service_account_tokens_from_the_token_request_api_authenticate(
    cluster: Cluster, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    token = cluster.kubectl("create", "token", "reader", "-n", namespace, "--duration=10m").stdout.strip()
    kubeconfig = cluster.write_token_kubeconfig(
        tmp_path_factory.mktemp("sa") / "kubeconfig", token, namespace
    )
    whoami = json.loads(cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig).stdout)
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:reader"
    # RBAC is on: a fresh ServiceAccount may not list Secrets.
    denied = cluster.kubectl("get", "secrets", "-n", namespace, kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()


def test_pod_security_admission_enforces_the_restricted_level(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    # Not privileged, just unhardened: runs as root, may escalate, keeps capabilities.
    unhardened = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unhardened"},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/x:1"}]},
    }
    with pytest.raises(CommandError, match=r'violates PodSecurity "restricted:latest"'):
        cluster.apply(unhardened, namespace=namespace)


def test_garbage_collector_deletes_dependents_with_their_owner(cluster: Cluster, namespace: str) -> None:
    owner_name = unique_name("owner")
    cluster.kubectl("create", "configmap", owner_name, "-n", namespace)
    owner_uid = cluster.get("configmap", owner_name, "-n", namespace)["metadata"]["uid"]
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "dependent",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": owner_name, "uid": owner_uid}
                ],
            },
        },
        namespace=namespace,
    )
    cluster.kubectl("delete", "configmap", owner_name, "-n", namespace)
    wait_until(
        "the garbage collector to delete the dependent",
        lambda: cluster.try_get("configmap", "dependent", "-n", namespace) is None,
    )
