"""`helm upgrade` and `helm uninstall` of the chart, and its CRD policy (docs/helm-values.md).

Runs on the session's release; each test leaves it installed with the default values.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.cluster import CRD_NAME, Cluster, condition, wait_until
from tests.e2e.operator_process import Release


def operator_env(release: Release) -> dict[str, str]:
    return release.container_env()


def test_helm_upgrade_with_changed_values_takes_effect(cluster: Cluster, operator_release: Release) -> None:
    before: dict[str, Any] = cluster.get(
        "deployment", operator_release.fullname, "-n", operator_release.namespace
    )
    operator_release.install(
        "--reuse-values", "--set", "logLevel=debug", "--set", "botImage.tag=9.9.9", upgrade=True
    )
    env = operator_env(operator_release)
    assert env["CHATBOT_OPERATOR_LOG_LEVEL"] == "debug"
    assert env["CHATBOT_OPERATOR_BOT_IMAGE"].endswith("/bot:9.9.9")
    after: dict[str, Any] = cluster.get(
        "deployment", operator_release.fullname, "-n", operator_release.namespace
    )
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    # --wait returned, so the new pod (Recreate: the old one first gone) is Ready.
    assert (condition(after, "Available") or {}).get("status") == "True"
    assert after["status"].get("updatedReplicas") == 1

    operator_release.install("--reset-values", upgrade=True)
    assert operator_env(operator_release)["CHATBOT_OPERATOR_LOG_LEVEL"] == "info"


def test_helm_uninstall_removes_the_operator_and_keeps_the_crd_and_chatbots(
    cluster: Cluster, operator_release: Release, namespace: str
) -> None:
    chatbot = {
        "apiVersion": "chatbot-operator.io/v1alpha1",
        "kind": "ChatBot",
        "metadata": {"name": "survivor"},
        "spec": {"systemPrompt": "You help.", "model": "gpt-4o-mini", "llm": {"provider": "offline"}},
    }
    cluster.apply(chatbot, namespace=namespace)
    selector = f"app.kubernetes.io/instance={operator_release.name}"

    operator_release.uninstall()

    kinds = "deployments,replicasets,pods,services,serviceaccounts,roles,rolebindings,configmaps,secrets"
    leftovers = cluster.kubectl("get", kinds, "-A", "-l", selector, "-o", "name").stdout.split()
    leftovers += cluster.kubectl(
        "get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name"
    ).stdout.split()
    assert leftovers == []
    wait_until(
        "the operator's pods to go",
        lambda: not cluster.get("pods", "-n", operator_release.namespace)["items"],
    )
    crd = cluster.get("crd", CRD_NAME)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert cluster.get("chatbot", "survivor", "-n", namespace)["metadata"]["name"] == "survivor"

    # The same release name adopts the kept CRD.
    operator_release.install()
    assert (condition(operator_release.deployment(), "Available") or {}).get("status") == "True"
    assert cluster.get("crd", CRD_NAME)["metadata"]["uid"] == crd["metadata"]["uid"]
