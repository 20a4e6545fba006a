"""Least privilege in cluster-wide mode, on a real API server: a release with the bots' NetworkPolicy
on, the operator run with that release's ServiceAccount, a ChatBot in a namespace that enforces the
`restricted` Pod Security level.

Proves: the operator's and the bots' pods are admitted under `restricted`; every ChatBot gets a
NetworkPolicy selecting its pods with the rules of the chart's value, accepted by the API server
(no network plugin enforces it here: kwok's nodes run no pods); the ServiceAccount may do exactly
what the operator needs; and, from the audit log, every right the ClusterRole grants was used and
nothing else was tried.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import RESTRICTED_LABELS, Cluster, CorpusRepo, condition, unique_name, wait_until
from tests.e2e.least_privilege import (
    CRDS,
    NETWORK_POLICY_VALUES,
    OPERATOR_RIGHTS,
    USED_ELSEWHERE,
    Access,
    apply_chatbot,
    audit_log,
    audited_requests,
    granted,
    rules_allowed_in,
    service_account_user,
    write_values,
)
from tests.e2e.operator_process import LocalOperator, Release

POLICY_VALUE = NETWORK_POLICY_VALUES["networkPolicy"]


@pytest.fixture(scope="module")
def release(
    cluster: Cluster, operator_release: Release, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    """A second cluster-wide release (the session's owns the CRD), in a `restricted` namespace."""
    namespace = unique_name("e2e-sec-operator")
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, *RESTRICTED_LABELS)
    values = write_values(tmp_path_factory.mktemp("sec-values") / "values.yaml")
    release = Release(cluster=cluster, name=unique_name("sec"), namespace=namespace)
    release.install("-f", str(values), "--set", "crds.install=false")
    yield release
    cluster.helm("uninstall", release.name, "-n", namespace, "--wait", check=False)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def restricted_bots(cluster: Cluster) -> Iterator[str]:
    """A namespace that enforces `restricted`, for the ChatBot of this module."""
    name = unique_name("e2e-sec-bots")
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, *RESTRICTED_LABELS)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def chatbot(cluster: Cluster, operator: LocalOperator, restricted_bots: str, corpus_repo: CorpusRepo) -> str:
    try:
        return apply_chatbot(cluster, restricted_bots, corpus_repo)
    except AssertionError:
        print(operator.log_tail())
        raise


def test_operator_pod_with_the_policy_setting_is_admitted_under_restricted(
    cluster: Cluster, release: Release
) -> None:
    deployment = release.deployment()
    assert (condition(deployment, "Available") or {}).get("status") == "True"
    assert "CHATBOT_OPERATOR_BOT_NETWORK_POLICY" in release.container_env()
    events = cluster.get("events", "-n", release.namespace, "--field-selector", "reason=FailedCreate")[
        "items"
    ]
    assert not events, [event["message"] for event in events]


def test_bot_pods_with_their_corpus_init_container_are_admitted_under_restricted(
    cluster: Cluster, restricted_bots: str, chatbot: str
) -> None:
    pods = cluster.get("pods", "-n", restricted_bots, "-l", f"app.kubernetes.io/instance={chatbot}")["items"]
    assert len(pods) == 2
    assert all(pod["spec"]["initContainers"][0]["name"] == "corpus" for pod in pods)
    events = cluster.get("events", "-n", restricted_bots, "--field-selector", "reason=FailedCreate")["items"]
    assert not events, [event["message"] for event in events]


def test_every_chatbot_gets_a_network_policy_that_selects_exactly_its_pods(
    cluster: Cluster, restricted_bots: str, chatbot: str
) -> None:
    policy = cluster.get("networkpolicy", chatbot, "-n", restricted_bots)
    owner = cluster.get("chatbot", chatbot, "-n", restricted_bots)
    (reference,) = policy["metadata"]["ownerReferences"]
    assert (reference["kind"], reference["uid"], reference["controller"]) == (
        "ChatBot",
        owner["metadata"]["uid"],
        True,
    )
    selector = policy["spec"]["podSelector"]["matchLabels"]
    deployment = cluster.get("deployment", chatbot, "-n", restricted_bots)
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    label_query = ",".join(f"{key}={value}" for key, value in selector.items())
    selected = cluster.get("pods", "-n", restricted_bots, "-l", label_query)["items"]
    assert len(selected) == owner["status"]["readyReplicas"] == 2


def test_the_policy_allows_dns_and_the_listed_egress_and_ingress_only_to_the_bot_port(
    cluster: Cluster, restricted_bots: str, chatbot: str
) -> None:
    spec: dict[str, Any] = cluster.get("networkpolicy", chatbot, "-n", restricted_bots)["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    dns, llm, extra = spec["egress"]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert {(port["protocol"], port["port"]) for port in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert llm["to"] == [{"ipBlock": {"cidr": POLICY_VALUE["llmEgress"][0]["cidr"]}}]
    assert [port["port"] for port in llm["ports"]] == [443]
    assert extra["to"] == [{"ipBlock": {"cidr": "127.0.0.1/32"}}]
    assert [port["port"] for port in extra["ports"]] == [8080, 9418]
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": "http"}]
    assert ingress["from"] == [
        {"podSelector": {}},
        {"namespaceSelector": POLICY_VALUE["ingressNamespaceSelectors"][0]},
    ]


def test_a_network_policy_deleted_by_hand_is_put_back(
    cluster: Cluster, restricted_bots: str, chatbot: str
) -> None:
    uid = cluster.get("networkpolicy", chatbot, "-n", restricted_bots)["metadata"]["uid"]
    cluster.kubectl("delete", "networkpolicy", chatbot, "-n", restricted_bots)

    def recreated() -> bool:
        policy = cluster.try_get("networkpolicy", chatbot, "-n", restricted_bots)
        return policy is not None and policy["metadata"]["uid"] != uid

    wait_until("the NetworkPolicy to be recreated", recreated, timeout=60)


def test_the_service_account_may_do_exactly_what_the_operator_needs(
    cluster: Cluster, operator: LocalOperator, restricted_bots: str
) -> None:
    """`kubectl auth can-i --list` as the operator: the whole table, so anything more is caught
    (other kinds, pods/exec, RBAC, namespaces, nodes, delete or update of anything)."""
    rights = rules_allowed_in(cluster, operator.kubeconfig, restricted_bots)
    assert rights == {**OPERATOR_RIGHTS, CRDS: {"list", "watch"}}


def test_every_right_the_cluster_role_grants_was_used_and_nothing_else_was_tried(
    cluster: Cluster, release: Release, operator: LocalOperator, chatbot: str
) -> None:
    log = audit_log(cluster)
    if log is None:
        pytest.skip("an existing cluster (E2E_KUBECONFIG): no audit log to read")
    (role,) = cluster.get("clusterrole", "-l", f"app.kubernetes.io/instance={release.name}")["items"]
    rights = granted(role)
    requests = list(audited_requests(log, service_account_user(release.namespace, release.fullname)))
    assert requests, f"no request of the operator in {log}"
    refused = {request.access for request in requests if request.decision == "forbid"}
    assert not refused, f"the operator tried what it may not: {sorted(refused)}"
    used: set[Access] = {request.access for request in requests}
    assert used <= rights
    unused = rights - used - set(USED_ELSEWHERE)
    assert not unused, f"granted but never used: {sorted(unused)}"


def test_without_the_value_the_operator_has_no_rights_on_network_policies(
    cluster: Cluster, operator_release: Release
) -> None:
    (role,) = cluster.get("clusterrole", "-l", f"app.kubernetes.io/instance={operator_release.name}")["items"]
    assert "CHATBOT_OPERATOR_BOT_NETWORK_POLICY" not in operator_release.container_env()
    assert not any(group == "networking.k8s.io" for group, _, _ in granted(role))
