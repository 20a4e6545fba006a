"""Helpers of the security tests (test_security_*.py): the values they install the chart with, the
ChatBot they reconcile, `kubectl auth can-i` as the operator, and the API server's audit log.

The local control plane writes an audit log (hack/cluster.sh) with every request a service account
outside kube-system makes, reads included, at Metadata level: who, which verb on which resource,
the HTTP code and the authorizer's decision. No request or response bodies, so no Secret values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.cluster import EXAMPLE_FILE, Cluster, CorpusRepo, wait_until

# (API group, resource[/subresource], verb), as RBAC rules and the audit log both name them.
Access = tuple[str, str, str]

# The chart's networkPolicy value as an operator would write it: the LLM outside the cluster,
# the corpus git host (the init container shares the pod's policy), an ingress controller.
NETWORK_POLICY_VALUES: dict[str, Any] = {
    "networkPolicy": {
        "enabled": True,
        "llmEgress": [{"cidr": "203.0.113.0/24", "ports": [443]}],
        "extraEgress": [{"cidr": "127.0.0.1/32", "ports": [8080, 9418]}],
        "ingressNamespaceSelectors": [{"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}],
    }
}

# Granted, and needed, but by features these tests do not run; each names where it is exercised.
USED_ELSEWHERE: dict[Access, str] = {
    ("", "secrets", "create"): "the owned Secret of Key Vault values (test_app_configuration_rollout.py)",
    ("", "secrets", "patch"): "the owned Secret of Key Vault values (test_app_configuration_rollout.py)",
}

# What the chart's rules allow in a namespace the operator serves, with networkPolicy on, as
# `kubectl auth can-i --list` names them. No delete or update of anything, nothing on pods but
# watching them, ChatBots read only but for their status; cluster-wide mode adds CRDS.
CHILD_VERBS = {"get", "list", "watch", "create", "patch"}
OPERATOR_RIGHTS: dict[str, set[str]] = {
    "chatbots.chatbot-operator.io": {"get", "list", "watch"},
    "chatbots.chatbot-operator.io/status": {"patch"},
    "deployments.apps": CHILD_VERBS,
    "services": CHILD_VERBS,
    "configmaps": CHILD_VERBS,
    "secrets": CHILD_VERBS,
    "networkpolicies.networking.k8s.io": CHILD_VERBS,
    "pods": {"list", "watch"},
    "events": {"create"},
}
CRDS = "customresourcedefinitions.apiextensions.k8s.io"

PROMPT_CONFIG_MAP = "docs-prompt"
API_KEYS_SECRET = "docs-api-keys"


def write_values(path: Path) -> Path:
    path.write_text(yaml.safe_dump(NETWORK_POLICY_VALUES))
    return path


def apply_chatbot(cluster: Cluster, namespace: str, corpus_repo: CorpusRepo) -> str:
    """The example ChatBot, reading its prompt from a ConfigMap and its API keys from a Secret, so
    that the operator uses every kind of read it has rights to."""
    cluster.kubectl(
        "create",
        "configmap",
        PROMPT_CONFIG_MAP,
        "-n",
        namespace,
        "--from-literal=prompt=Answer from the docs.",
    )
    cluster.kubectl(
        "create", "secret", "generic", API_KEYS_SECRET, "-n", namespace, "--from-literal=team=e2e-key-1"
    )
    chatbot: dict[str, Any] = yaml.safe_load(EXAMPLE_FILE.read_text())
    spec = chatbot["spec"]
    spec["corpus"]["repo"] = corpus_repo.url
    del spec["systemPrompt"]
    spec["systemPromptFrom"] = {"configMapKeyRef": {"name": PROMPT_CONFIG_MAP, "key": "prompt"}}
    spec["auth"] = {"apiKeysSecretRef": {"name": API_KEYS_SECRET}}
    cluster.apply(chatbot, namespace=namespace)
    name: str = chatbot["metadata"]["name"]
    wait_ready(cluster, namespace, name)
    # An edit too: a ChatBot's creation applies its children without reading them, an update reads.
    cluster.kubectl(
        "patch",
        "chatbot",
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"greeting": "Hello again."}}',
    )
    wait_until(
        "the edited ChatBot to be observed",
        lambda: (
            cluster.get("chatbot", name, "-n", namespace).get("status", {}).get("observedGeneration") == 2
        ),
    )
    wait_ready(cluster, namespace, name)
    return name


def wait_ready(cluster: Cluster, namespace: str, name: str) -> None:
    cluster.kubectl(
        "wait", "--for=condition=Ready", f"chatbot/{name}", "-n", namespace, "--timeout=90s", timeout=120
    )


# What every authenticated user may do (system:basic-user): ask what it may do.
SELF_REVIEWS = {
    "selfsubjectreviews.authentication.k8s.io",
    "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
}


def rules_allowed_in(cluster: Cluster, kubeconfig: Path, namespace: str) -> dict[str, set[str]]:
    """Resource -> verbs, as `kubectl auth can-i --list` shows them for a namespace (cluster-wide
    rules included), less what every user may do. Rows of non-resource URLs start blank: skipped."""
    table = cluster.kubectl("auth", "can-i", "--list", "-n", namespace, kubeconfig=kubeconfig).stdout
    rights: dict[str, set[str]] = {}
    for line in table.splitlines()[1:]:
        if not line.strip() or line[0].isspace():
            continue
        resource, verbs = line.split()[0], line[line.rindex("[") + 1 : line.rindex("]")].split()
        if resource not in SELF_REVIEWS:
            rights.setdefault(resource, set()).update(verbs)
    return rights


def granted(role: dict[str, Any]) -> set[Access]:
    return {
        (group, resource, verb)
        for rule in role.get("rules", [])
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


@dataclass(frozen=True)
class AuditedRequest:
    access: Access
    namespace: str
    code: int
    decision: str


def audit_log(cluster: Cluster) -> Path | None:
    """The local control plane's audit log; on an existing cluster (E2E_KUBECONFIG), the file
    E2E_AUDIT_LOG names (written with a policy like hack/cluster.sh's), else None."""
    if cluster.cluster_dir is None:
        existing = os.environ.get("E2E_AUDIT_LOG")
        return Path(existing) if existing else None
    run_dir = Path((cluster.cluster_dir / "run-dir").read_text().strip())
    return run_dir / "audit" / "audit.log"


def audited_requests(log: Path, username: str) -> Iterator[AuditedRequest]:
    """Every request `username` made on a resource (discovery and other non-resource URLs left out)."""
    with log.open() as lines:
        for line in lines:
            if username not in line:
                continue
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if event["user"].get("username") != username or not ref.get("resource"):
                continue
            if ref["resource"].startswith("selfsubject"):
                continue  # the tests' own `kubectl auth can-i` with the operator's token
            resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            code = int((event.get("responseStatus") or {}).get("code", 0))
            decision = (event.get("annotations") or {}).get("authorization.k8s.io/decision", "")
            access = (ref.get("apiGroup", ""), resource, event["verb"])
            yield AuditedRequest(access, ref.get("namespace", ""), code, decision)
            if event["verb"] == "patch" and code == 201:
                # A server-side apply that created the object: RBAC checked `create` as well.
                yield AuditedRequest(
                    (access[0], resource, "create"), ref.get("namespace", ""), code, decision
                )


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"
