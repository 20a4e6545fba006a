"""Least privilege in namespace-scoped mode (`watchNamespaces`), on a real API server: a release
watching one namespace, with the bots' NetworkPolicy on, the operator run with its ServiceAccount.

Proves: there is no ClusterRole, and the rights on NetworkPolicies come with the Role of the
watched namespace; the ServiceAccount may do nothing outside that namespace; every right
of the Role was used (audit log), nothing else was tried, not even a cluster-wide read; and the
bot pods pass the
`restricted` Pod Security level: labelling their namespace `enforce=restricted` as a server-side
dry run gives no warning (while it does for a pod that breaks the level).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.cluster import RESTRICTED_LABELS, Cluster, CorpusRepo, unique_name
from tests.e2e.least_privilege import (
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

ENFORCE_RESTRICTED = RESTRICTED_LABELS[0]
NETWORK_POLICIES: Access = ("networking.k8s.io", "networkpolicies", "create")


@pytest.fixture(scope="module")
def watched(cluster: Cluster) -> Iterator[str]:
    """The watched namespace, at the cluster's default Pod Security level (not labelled)."""
    name = unique_name("e2e-sec-watched")
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def release(
    cluster: Cluster, operator_release: Release, watched: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    namespace = unique_name("e2e-sec-scoped-operator")
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, *RESTRICTED_LABELS)
    values = write_values(tmp_path_factory.mktemp("sec-scoped-values") / "values.yaml")
    release = Release(cluster=cluster, name=unique_name("sec-scoped"), namespace=namespace)
    release.install(
        "-f", str(values), "--set", f"watchNamespaces={{{watched}}}", "--set", "crds.install=false"
    )
    yield release
    cluster.helm("uninstall", release.name, "-n", namespace, "--wait", check=False)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def chatbot(cluster: Cluster, operator: LocalOperator, watched: str, corpus_repo: CorpusRepo) -> str:
    try:
        return apply_chatbot(cluster, watched, corpus_repo)
    except AssertionError:
        print(operator.log_tail())
        raise


def test_network_policy_rights_come_with_the_watched_namespaces_role_only(
    cluster: Cluster, release: Release, watched: str, chatbot: str
) -> None:
    selector = f"app.kubernetes.io/instance={release.name}"
    (role,) = cluster.get("roles", "-A", "-l", selector)["items"]
    assert role["metadata"]["namespace"] == watched
    assert NETWORK_POLICIES in granted(role)
    assert not cluster.get("clusterroles", "-l", selector)["items"]
    assert not cluster.get("clusterrolebindings", "-l", selector)["items"]
    policy = cluster.get("networkpolicy", chatbot, "-n", watched)
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == chatbot


def test_labelling_the_bots_namespace_restricted_warns_of_no_pod(
    cluster: Cluster, watched: str, chatbot: str
) -> None:
    pods = cluster.get("pods", "-n", watched, "-l", f"app.kubernetes.io/instance={chatbot}")["items"]
    assert len(pods) == 2

    def dry_run_restricted(where: str) -> str:
        result = cluster.kubectl(
            "label", "--dry-run=server", "--overwrite", "namespace", where, ENFORCE_RESTRICTED
        )
        return result.stderr

    assert "violate" not in dry_run_restricted(watched), "the bot pods break the restricted level"
    # The same check on a pod that breaks the level (root allowed, privilege escalation allowed,
    # capabilities kept, no seccomp profile) does warn: the check can fail.
    loose = unique_name("e2e-sec-loose")
    cluster.kubectl("create", "namespace", loose)
    try:
        cluster.kubectl("run", "loose", "-n", loose, "--image=registry.example/loose:1", "--restart=Never")
        assert "violate the new PodSecurity enforce level" in dry_run_restricted(loose)
    finally:
        cluster.kubectl("delete", "namespace", loose, "--wait=false", check=False)


def test_the_service_account_may_do_what_the_operator_needs_in_the_watched_namespace_only(
    cluster: Cluster, operator: LocalOperator, watched: str, namespace: str
) -> None:
    """`kubectl auth can-i --list` as the operator, whose rows include cluster-wide rules: the
    Role's rights where it watches, and nothing at all elsewhere, not even reading namespaces or
    CRDs."""
    assert rules_allowed_in(cluster, operator.kubeconfig, watched) == OPERATOR_RIGHTS
    assert rules_allowed_in(cluster, operator.kubeconfig, namespace) == {}


def test_every_right_of_the_role_was_used_and_nothing_else_was_tried(
    cluster: Cluster, release: Release, operator: LocalOperator, watched: str, chatbot: str
) -> None:
    log = audit_log(cluster)
    if log is None:
        pytest.skip("an existing cluster without E2E_AUDIT_LOG: no audit log to read")
    selector = f"app.kubernetes.io/instance={release.name}"
    (role,) = cluster.get("roles", "-n", watched, "-l", selector)["items"]
    requests = list(audited_requests(log, service_account_user(release.namespace, release.fullname)))
    assert requests, f"no request of the operator in {log}"
    refused = {(request.namespace, request.access) for request in requests if request.decision == "forbid"}
    assert not refused, f"the operator tried what it may not: {sorted(refused)}"
    assert {request.namespace for request in requests} == {watched}
    used: set[Access] = {request.access for request in requests}
    assert used <= granted(role)
    unused = granted(role) - used - set(USED_ELSEWHERE)
    assert not unused, f"granted but never used: {sorted(unused)}"
