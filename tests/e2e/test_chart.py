"""The chart, checked without a cluster: lint, rendering, values that must fail, CRD drift.

These need only the helm binary; the behaviour on a live API server is in test_operator.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import chatbot_contract as contract
from chatbot_operator.builders import Owner, build_service
from tests.e2e.cluster import CHART_DIR, CRD_FILE, HACK_DIR, REPO_ROOT, build_tools

KUBE_VERSION = "1.35.0"


@pytest.fixture(scope="module")
def helm_bin() -> Path:
    return build_tools("helm") / "helm"


def helm_template(helm_bin: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            str(helm_bin),
            "template",
            "rel",
            str(CHART_DIR),
            "--namespace",
            "ops",
            "--kube-version",
            KUBE_VERSION,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def render(helm_bin: Path, *args: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(helm_template(helm_bin, *args).stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def rules_of(role: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    yield group, resource, verb


def test_chart_crd_is_an_exact_copy_of_crds_dir() -> None:
    result = subprocess.run(
        [str(HACK_DIR / "sync-crds.sh"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (CHART_DIR / "files" / "crds" / CRD_FILE.name).read_bytes() == CRD_FILE.read_bytes()


def test_helm_lint_passes_in_both_rbac_modes(helm_bin: Path) -> None:
    for extra in ([], ["--set", "watchNamespaces={docs,support}"], ["--set", "peering.enabled=true"]):
        result = subprocess.run(
            [str(helm_bin), "lint", "--strict", str(CHART_DIR), *extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "[WARNING]" not in result.stdout
        assert "[ERROR]" not in result.stdout


def test_rendered_crd_is_the_source_crd_plus_the_keep_policy(helm_bin: Path) -> None:
    (crd,) = by_kind(render(helm_bin), "CustomResourceDefinition")
    source = yaml.safe_load(CRD_FILE.read_text())
    assert crd["spec"] == source["spec"]
    assert crd["metadata"]["name"] == source["metadata"]["name"]
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    (not_kept,) = by_kind(render(helm_bin, "--set", "crds.keep=false"), "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in (not_kept["metadata"].get("annotations") or {})
    assert not by_kind(render(helm_bin, "--set", "crds.install=false"), "CustomResourceDefinition")


def test_default_install_is_cluster_wide_with_one_recreated_replica(helm_bin: Path) -> None:
    docs = render(helm_bin)
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CHATBOT_OPERATOR_NAMESPACES"] == ""
    assert not by_kind(docs, "Role")
    (role,) = by_kind(docs, "ClusterRole")
    granted = set(rules_of(role))
    assert ("", "secrets", "get") in granted
    assert ("chatbot-operator.io", "chatbots/status", "patch") in granted
    # Kopf looks at namespaces only when it watches a list of them.
    assert ("", "namespaces", "watch") not in granted
    # Never more than the operator uses.
    assert not any(
        verb in ("*", "deletecollection", "escalate", "bind", "impersonate") for *_, verb in granted
    )
    assert not any(resource == "*" for _, resource, _ in granted)


def test_watch_namespaces_gives_roles_and_no_cluster_wide_rights(helm_bin: Path) -> None:
    docs = render(helm_bin, "--set", "watchNamespaces={docs,support}")
    roles = by_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["docs", "support"]
    assert sorted(b["metadata"]["namespace"] for b in by_kind(docs, "RoleBinding")) == ["docs", "support"]
    # Kopf's cluster scanning is off when it watches named namespaces: no CRD or namespace reads.
    assert not by_kind(docs, "ClusterRole")
    assert not by_kind(docs, "ClusterRoleBinding")
    (deployment,) = by_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CHATBOT_OPERATOR_NAMESPACES"] == "docs,support"


def test_operator_pod_meets_the_restricted_pod_security_level(helm_bin: Path) -> None:
    (deployment,) = by_kind(render(helm_bin), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "replicaCount=2"], "needs peering.enabled=true"),
        (["--set", "metrics.enabled=true", "--set", "metrics.port=8081"], "needs two different ports"),
        (["--set", "watchNamespaces={team-*}"], "watchNamespaces/0"),
        (["--set", "watchNamespaces={docs,docs}"], "watchNamespaces"),
        (["--set", "logLevel=verbose"], "logLevel"),
        (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (["--set", "livenessProbe.port=70000"], "port"),
        (["--set", "unknownKey=1"], "unknownKey"),
        (["--set", "serviceAccount.create=false"], "serviceAccount.name is required"),
        (["--set", "networkPolicy.llmEgress[0].cidr=203.0.113.0/24"], "missing property 'ports'"),
        (
            ["--set", "serviceMonitor.enabled=true", "--set", "metrics.enabled=false"],
            "serviceMonitor.operator needs metrics.enabled=true",
        ),
        (["--set", "serviceMonitor.interval=often"], "/serviceMonitor/interval"),
        (
            [
                "--set",
                "networkPolicy.extraEgress[0].cidr=git.example",
                "--set",
                "networkPolicy.extraEgress[0].ports={443}",
            ],
            "git.example",
        ),
        (
            [
                "--set",
                "networkPolicy.llmEgress[0].cidr=10.0.0.0/8",
                "--set",
                "networkPolicy.llmEgress[0].ports={443}",
                "--set",
                "networkPolicy.llmEgress[0].podSelector.matchLabels.app=llm",
            ],
            "/networkPolicy/llmEgress/0",
        ),
    ],
)
def test_conflicting_or_invalid_values_fail_with_a_clear_message(
    helm_bin: Path, values: list[str], message: str
) -> None:
    result = helm_template(helm_bin, *values, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_no_servicemonitor_is_rendered_by_default(helm_bin: Path) -> None:
    assert by_kind(render(helm_bin), "ServiceMonitor") == []


def test_servicemonitors_select_the_operator_service_and_every_bot_service(helm_bin: Path) -> None:
    docs = render(
        helm_bin,
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "serviceMonitor.labels.release=kps",
        "--set",
        "watchNamespaces={docs,support}",
    )
    monitors = {doc["metadata"]["name"]: doc for doc in by_kind(docs, "ServiceMonitor")}
    assert set(monitors) == {"rel-chatbot-operator", "rel-chatbot-operator-bots"}
    assert all(m["metadata"]["labels"]["release"] == "kps" for m in monitors.values())

    (service,) = by_kind(docs, "Service")
    operator = monitors["rel-chatbot-operator"]["spec"]
    assert operator["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert operator["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert "metrics" in {port["name"] for port in service["spec"]["ports"]}

    # The bots' monitor selects the Services the operator builds, on the port their bot serves.
    owner = Owner(name="docs-assistant", namespace="docs", uid="uid-1")
    bot_service = build_service(owner, {})
    bots = monitors["rel-chatbot-operator-bots"]["spec"]
    assert bots["selector"]["matchLabels"].items() <= bot_service["metadata"]["labels"].items()
    assert bots["namespaceSelector"] == {"matchNames": ["docs", "support"]}
    assert bots["endpoints"] == [
        {"port": contract.PORT_NAME, "path": contract.METRICS_PATH, "interval": "30s"}
    ]
    assert contract.PORT_NAME in {port["name"] for port in bot_service["spec"]["ports"]}


def test_peering_enables_standby_replicas(helm_bin: Path) -> None:
    docs = render(helm_bin, "--set", "peering.enabled=true", "--set", "replicaCount=2")
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert {d["metadata"]["name"] for d in by_kind(docs, "CustomResourceDefinition")} >= {
        "clusterkopfpeerings.kopf.dev"
    }
    assert by_kind(docs, "ClusterKopfPeering")


def test_every_values_key_is_documented() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    docs = (REPO_ROOT / "docs" / "helm-values.md").read_text()

    def keys(node: Any, prefix: str = "") -> Iterator[str]:
        for key, value in node.items():
            path = f"{prefix}{key}"
            yield path
            # Kubernetes objects passed through as they are are documented as a whole.
            if isinstance(value, dict) and value and path not in PASSTHROUGH:
                yield from keys(value, f"{path}.")

    missing = [key for key in keys(values) if f"`{key}`" not in docs]
    assert not missing, f"docs/helm-values.md does not document: {missing}"


PASSTHROUGH = {
    "podSecurityContext",
    "securityContext",
    "resources",
    "networkPolicy.dns.namespaceSelector",
    "networkPolicy.dns.podSelector",
}
