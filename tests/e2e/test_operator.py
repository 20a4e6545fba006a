"""The operator on a real API server, driven the way its users drive it: helm, kubectl apply,
get, wait, explain, scale, edit, delete. Cluster-wide mode (the chart's default).

The operator runs locally with the chart's ServiceAccount token (operator_process.py); the pods
it asks for are scheduled by the real scheduler onto kwok's nodes, which mark them Ready.
"""

from __future__ import annotations

import copy
import re
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cluster import (
    EXAMPLE_FILE,
    REPO_ROOT,
    RESTRICTED_LABELS,
    Cluster,
    CorpusRepo,
    condition,
    wait_until,
)
from tests.e2e.operator_process import LocalOperator, Release
from tests.e2e.rollouts import resync

INVALID_DIR = REPO_ROOT / "tests" / "data" / "invalid_chatbots"


def example_chatbot(corpus_repo: CorpusRepo) -> dict[str, Any]:
    """examples/chatbot.yaml as shipped, with its corpus on the local git server (no internet)."""
    chatbot: dict[str, Any] = yaml.safe_load(EXAMPLE_FILE.read_text())
    chatbot["spec"]["corpus"]["repo"] = corpus_repo.url
    return chatbot


def apply_example(cluster: Cluster, namespace: str, corpus_repo: CorpusRepo) -> str:
    chatbot = example_chatbot(corpus_repo)
    cluster.apply(chatbot, namespace=namespace)
    name: str = chatbot["metadata"]["name"]
    return name


def wait_ready(cluster: Cluster, namespace: str, name: str, timeout: str = "90s") -> dict[str, Any]:
    cluster.kubectl(
        "wait",
        "--for=condition=Ready",
        f"chatbot/{name}",
        "-n",
        namespace,
        f"--timeout={timeout}",
        timeout=120,
    )
    chatbot: dict[str, Any] = cluster.get("chatbot", name, "-n", namespace)
    return chatbot


def absent(cluster: Cluster, kind: str, name: str, namespace: str) -> bool:
    return cluster.try_get(kind, name, "-n", namespace) is None


def owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    return any(
        ref["uid"] == owner["metadata"]["uid"] and ref.get("controller") is True
        for ref in obj["metadata"].get("ownerReferences", [])
    )


def replica_sets(cluster: Cluster, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    items = cluster.get("replicasets", "-n", namespace)["items"]
    return [rs for rs in items if owned_by(rs, deployment)]


def settled(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The ChatBot once the operator has seen its latest generation and the rollout is done."""
    chatbot: dict[str, Any] = cluster.get("chatbot", name, "-n", namespace)
    status = chatbot.get("status", {})
    ready = condition(chatbot, "Ready") or {}
    if (
        status.get("observedGeneration") == chatbot["metadata"]["generation"]
        and ready.get("status") == "True"
        and ready.get("observedGeneration") == chatbot["metadata"]["generation"]
    ):
        return chatbot
    return None


# --- 1. helm install ------------------------------------------------------------------------------


def test_helm_install_makes_the_operator_deployment_available_in_a_restricted_namespace(
    cluster: Cluster, operator_release: Release
) -> None:
    deployment = operator_release.deployment()
    assert (condition(deployment, "Available") or {}).get("status") == "True"
    labels = cluster.get("namespace", operator_release.namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = cluster.get("pods", "-n", operator_release.namespace, "-l", "app.kubernetes.io/component=operator")
    assert len(pods["items"]) == 1
    assert (condition(pods["items"][0], "Ready") or {}).get("status") == "True"


def test_helm_test_pod_is_admitted_and_completes(cluster: Cluster, operator_release: Release) -> None:
    result = cluster.helm(
        "test", operator_release.name, "-n", operator_release.namespace, "--timeout", "90s", timeout=120
    )
    assert "Phase:          Succeeded" in result.stdout


def test_service_account_is_confined_to_what_the_chart_grants(
    cluster: Cluster, operator_release: Release, operator: LocalOperator
) -> None:
    def can_i(*args: str) -> bool:
        result = cluster.kubectl("auth", "can-i", *args, kubeconfig=operator.kubeconfig, check=False)
        return result.stdout.strip() == "yes"

    assert can_i("patch", "chatbots.chatbot-operator.io", "--subresource=status", "-A")
    assert can_i("create", "events", "-n", "default")
    # Nothing it does not use: no deletes (children go through the garbage collector), no pods,
    # no RBAC, no other kinds of workloads.
    assert not can_i("delete", "deployments", "-n", "default")
    assert not can_i("delete", "secrets", "-n", "default")
    assert can_i("watch", "pods", "-A")
    assert not can_i("create", "pods", "-n", "default")
    assert not can_i("delete", "pods", "-n", "default")
    assert not can_i("create", "clusterrolebindings")
    assert not can_i("get", "statefulsets", "-n", "default")


def test_operator_serves_liveness_and_prometheus_metrics_on_the_charts_ports(
    operator_release: Release, operator: LocalOperator
) -> None:
    env = operator_release.container_env()
    assert env["CHATBOT_OPERATOR_LIVENESS_PORT"] == "8081"
    assert env["CHATBOT_OPERATOR_METRICS_PORT"] == "8082"
    assert operator.metrics_port, "the chart enables metrics by default"
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as response:
        body = response.read().decode()
    assert response.status == 200
    assert "# TYPE" in body


# --- 2. apply the example, get, wait, explain ---------------------------------------------------------


def test_example_chatbot_gets_its_children_with_owner_references(
    cluster: Cluster, bots: str, corpus_repo: CorpusRepo
) -> None:
    name = apply_example(cluster, bots, corpus_repo)
    chatbot = cluster.get("chatbot", name, "-n", bots)
    children: dict[str, dict[str, Any]] = {}
    for kind, child in (("deployment", name), ("service", name), ("configmap", f"{name}-config")):
        children[kind] = wait_until(f"{kind} {child}", partial(cluster.try_get, kind, child, "-n", bots))
    for kind, obj in children.items():
        assert owned_by(obj, chatbot), f"{kind} is not owned by the ChatBot: {obj['metadata']}"
    pod_spec = children["deployment"]["spec"]["template"]["spec"]
    # The corpus fetch, then the example's golden questions (asked of the fetched docs).
    assert [c["name"] for c in pod_spec["initContainers"]] == ["corpus", "golden-questions"]
    assert any(volume["name"] == "corpus" for volume in pod_spec["volumes"])
    assert children["deployment"]["spec"]["replicas"] == 2


def test_kubectl_get_chatbots_prints_every_column_with_real_values(
    cluster: Cluster, bots: str, corpus_repo: CorpusRepo
) -> None:
    name = apply_example(cluster, bots, corpus_repo)
    wait_ready(cluster, bots, name)
    table = cluster.kubectl("get", "chatbots", "-n", bots).stdout.splitlines()
    assert table[0].split() == ["NAME", "MODEL", "READY", "CORPUS", "STATUS", "REASON", "AGE"]
    row = table[1].split()
    assert row[0] == name
    assert row[1] == "gpt-4o-mini"
    assert row[2] == "2/2"
    assert re.fullmatch(r"[0-9a-f]{7,12}", row[3]), row
    assert corpus_repo.commit.startswith(row[3])
    assert row[4] == "True"
    assert row[5] not in ("", "<none>")
    assert re.fullmatch(r"\d+[sm]", row[6]), row
    # The short name and the category find it too.
    assert name in cluster.kubectl("get", "cb", "-n", bots, "-o", "name").stdout
    assert name in cluster.kubectl("get", "ai", "-n", bots, "-o", "name").stdout


def test_kubectl_wait_for_ready_succeeds_once_the_pods_are_ready(
    cluster: Cluster, bots: str, corpus_repo: CorpusRepo
) -> None:
    name = apply_example(cluster, bots, corpus_repo)
    chatbot = wait_ready(cluster, bots, name)
    status = chatbot["status"]
    assert status["readyReplicas"] == 2
    assert status["observedGeneration"] == chatbot["metadata"]["generation"]
    assert status["endpoint"].startswith(f"http://{name}.{bots}.svc")
    ready = condition(chatbot, "Ready") or {}
    assert ready["reason"]
    assert ready["lastTransitionTime"]
    pods = cluster.get("pods", "-n", bots, "-l", f"app.kubernetes.io/instance={name}")["items"]
    assert len(pods) == 2
    assert all((condition(pod, "Ready") or {}).get("status") == "True" for pod in pods)


def test_the_served_revision_is_recorded_with_a_restore_document_kubectl_patch_accepts(
    cluster: Cluster, bots: str, corpus_repo: CorpusRepo
) -> None:
    name = apply_example(cluster, bots, corpus_repo)
    wait_ready(cluster, bots, name)

    def recorded() -> list[dict[str, Any]]:
        revisions: list[dict[str, Any]] = cluster.get("chatbot", name, "-n", bots)["status"].get(
            "revisions", []
        )
        return revisions

    (first,) = wait_until("the first revision in status", recorded, timeout=30)
    assert first["revision"] == 1
    assert first["corpusCommit"] == corpus_repo.commit
    assert first["promptFirstLine"] == "You are Docsy, the assistant for the chatbot-operator documentation."
    # The prompt and greeting change; the documented command returns to revision 1, commit pinned.
    cluster.kubectl("patch", "chatbot", name, "-n", bots, "--type", "merge",
                    "-p", '{"spec": {"systemPrompt": "You are terse.", "greeting": "Yo."}}')  # fmt: skip
    restore = cluster.kubectl(
        "get", "configmap", f"{name}-revisions", "-n", bots, "-o", "jsonpath={.data.revision-1}"
    ).stdout
    cluster.kubectl("patch", "chatbot", name, "-n", bots, "--type", "json", "-p", restore)
    spec = cluster.get("chatbot", name, "-n", bots)["spec"]
    assert spec["systemPrompt"].startswith("You are Docsy")
    assert "greeting" in spec  # the example sets one: restored, not the edited one
    assert spec["greeting"] != "Yo."
    assert spec["corpus"]["ref"] == corpus_repo.commit


def test_kubectl_explain_teaches_the_spec(cluster: Cluster, operator_release: Release) -> None:
    spec = cluster.kubectl("explain", "chatbot.spec").stdout
    assert "GROUP:      chatbot-operator.io" in spec
    for field in ("systemPrompt", "model", "corpus", "replicas"):
        assert re.search(rf"^\s+{field}\s", spec, re.MULTILINE), f"{field} missing from:\n{spec}"
    corpus = cluster.kubectl("explain", "chatbot.spec.corpus.repo").stdout
    assert "DESCRIPTION:" in corpus
    description = corpus.split("DESCRIPTION:", 1)[1].strip()
    assert len(description) > 20, corpus


# --- 3. scale, edit, re-apply -------------------------------------------------------------------------


def test_kubectl_scale_scales_the_deployment_and_status_follows(
    cluster: Cluster, bots: str, corpus_repo: CorpusRepo
) -> None:
    name = apply_example(cluster, bots, corpus_repo)
    wait_ready(cluster, bots, name)
    cluster.kubectl("scale", f"chatbot/{name}", "-n", bots, "--replicas=3")
    wait_until(
        "the Deployment to have 3 replicas",
        lambda: cluster.get("deployment", name, "-n", bots)["spec"]["replicas"] == 3,
    )

    def scaled() -> dict[str, Any] | None:
        chatbot: dict[str, Any] = cluster.get("chatbot", name, "-n", bots)
        return chatbot if chatbot.get("status", {}).get("readyReplicas") == 3 else None

    chatbot = wait_until("the ChatBot status to show 3/3 ready", scaled)
    assert chatbot["status"]["replicas"] == 3
    scale = cluster.get("chatbot", name, "-n", bots, "--subresource=scale")
    assert scale["status"]["replicas"] == 3
    assert f"app.kubernetes.io/instance={name}" in scale["status"]["selector"]


def test_editing_the_prompt_rolls_a_new_replica_set_and_reapplying_does_not(
    cluster: Cluster, bots: str, corpus_repo: CorpusRepo
) -> None:
    chatbot = example_chatbot(corpus_repo)
    name = chatbot["metadata"]["name"]
    cluster.apply(chatbot, namespace=bots)
    wait_ready(cluster, bots, name)
    deployment = cluster.get("deployment", name, "-n", bots)
    first_sets = replica_sets(cluster, bots, deployment)
    assert len(first_sets) == 1

    # Unchanged: nothing moves, even once the operator has reconciled the ChatBot again.
    cluster.apply(chatbot, namespace=bots)
    resync(cluster, bots, name)
    again = cluster.get("deployment", name, "-n", bots)
    assert again["metadata"]["generation"] == deployment["metadata"]["generation"]
    assert again["metadata"]["resourceVersion"] == deployment["metadata"]["resourceVersion"]
    assert len(replica_sets(cluster, bots, again)) == 1

    edited = copy.deepcopy(chatbot)
    edited["spec"]["systemPrompt"] += "Keep answers under five sentences.\n"
    cluster.apply(edited, namespace=bots)
    wait_until("a second ReplicaSet", lambda: len(replica_sets(cluster, bots, deployment)) == 2)
    wait_until("the edited ChatBot to settle", lambda: settled(cluster, bots, name))
    rolled = cluster.get("deployment", name, "-n", bots)
    assert rolled["metadata"]["generation"] > deployment["metadata"]["generation"]
    before = deployment["spec"]["template"]["metadata"].get("annotations", {})
    after = rolled["spec"]["template"]["metadata"].get("annotations", {})
    assert before != after


# --- 4. self-healing and garbage collection ----------------------------------------------------------


@pytest.mark.parametrize(("kind", "suffix"), [("service", ""), ("configmap", "-config"), ("deployment", "")])
def test_a_child_deleted_by_hand_is_recreated(
    cluster: Cluster, bots: str, corpus_repo: CorpusRepo, kind: str, suffix: str
) -> None:
    name = apply_example(cluster, bots, corpus_repo)
    wait_ready(cluster, bots, name)
    child = f"{name}{suffix}"
    uid = cluster.get(kind, child, "-n", bots)["metadata"]["uid"]
    cluster.kubectl("delete", kind, child, "-n", bots)

    def replacement() -> dict[str, Any] | None:
        obj: dict[str, Any] | None = cluster.try_get(kind, child, "-n", bots)
        return obj if obj and obj["metadata"]["uid"] != uid else None

    recreated = wait_until(f"{kind} {child} to come back", replacement)
    assert owned_by(recreated, cluster.get("chatbot", name, "-n", bots))
    wait_ready(cluster, bots, name)


def test_deleting_the_chatbot_garbage_collects_its_children(
    cluster: Cluster, bots: str, corpus_repo: CorpusRepo
) -> None:
    name = apply_example(cluster, bots, corpus_repo)
    wait_ready(cluster, bots, name)
    assert cluster.get("chatbot", name, "-n", bots)["metadata"].get("finalizers") in (None, [])
    cluster.kubectl("delete", "chatbot", name, "-n", bots, "--wait=true", "--timeout=60s", timeout=90)
    for kind, child in (("deployment", name), ("service", name), ("configmap", f"{name}-config")):
        wait_until(f"{kind} {child} to be garbage-collected", partial(absent, cluster, kind, child, bots))
    wait_until(
        "the bot pods to go",
        lambda: not cluster.get("pods", "-n", bots, "-l", f"app.kubernetes.io/instance={name}")["items"],
    )


# --- 5. validation by the API server ------------------------------------------------------------------


def invalid_chatbot_files() -> list[Path]:
    return sorted(INVALID_DIR.glob("*.yaml"))


def test_there_are_at_least_ten_kinds_of_invalid_chatbot() -> None:
    assert len(invalid_chatbot_files()) >= 10


@pytest.mark.parametrize("path", invalid_chatbot_files(), ids=lambda p: p.stem)
def test_invalid_chatbot_is_rejected_naming_the_field(
    cluster: Cluster, operator_release: Release, namespace: str, path: Path
) -> None:
    header = path.read_text().splitlines()[0]
    match = re.match(r"#\s*Rejected by the API server:\s*(\S+)", header)
    assert match, f"{path.name}: the first line must say which field is rejected"
    field = match.group(1)
    result = cluster.kubectl("apply", "-n", namespace, "-f", str(path), check=False)
    assert result.returncode != 0, f"{path.name} was accepted"
    assert field in result.stderr, f"{path.name}: {field} not named in: {result.stderr}"
    assert cluster.get("chatbots", "-n", namespace)["items"] == []


# --- 6. Pod Security "restricted" ---------------------------------------------------------------------


def test_a_restricted_namespace_admits_the_bot_pods(
    cluster: Cluster, bots: str, corpus_repo: CorpusRepo
) -> None:
    cluster.kubectl("label", "namespace", bots, *RESTRICTED_LABELS)
    name = apply_example(cluster, bots, corpus_repo)
    chatbot = wait_ready(cluster, bots, name)
    assert chatbot["status"]["readyReplicas"] == 2
    events = cluster.get("events", "-n", bots, "--field-selector", "reason=FailedCreate")["items"]
    assert not events, [e["message"] for e in events]
