"""Fixtures of the real-pods tier: the cluster's real node (kubelet, containerd, kube-proxy,
CoreDNS) where pods really run, our images imported into it, the chart installed from the
operator's image, and the example ChatBot applied as a user would.

- `real_node` (session): the node, or a skip on a cluster without one.
- `node_images` (session): `hack/images.sh save`, imported with `hack/cluster.sh node-import`.
- `pod_git_server` (session): a git server the pods reach (on the host end of the node's veth),
  serving this repository's docs as the example's corpus.
- `node_operator` (session): `helm install` of the chart, image from `node_images`, in a namespace
  on the node that enforces the `restricted` Pod Security level.
- `example_bot` (module): `kubectl apply -f examples/chatbot.yaml` in such a namespace, Ready.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.cluster import (
    CRD_NAME,
    EXAMPLE_FILE,
    RESTRICTED_LABELS,
    Cluster,
    failed_test,
    unique_name,
)
from tests.e2e.operator_process import Release
from tests.e2e.realnode.node import (
    EXAMPLE_REPO,
    NodeImages,
    RealNode,
    example_corpus_files,
    import_images,
    real_node_of,
)
from tests.support.gitserver import GitServer, running_git_server

EXAMPLE_NAME = "docs-assistant"
# Bounded waits for real pods: an image already on the node starts in seconds.
POD_TIMEOUT = "180s"


@dataclass(frozen=True)
class ExampleBot:
    namespace: str
    name: str
    corpus_commit: str


@pytest.fixture(scope="session")
def real_node(cluster: Cluster) -> RealNode:
    node = real_node_of(cluster)
    if node is None:
        if os.environ.get("E2E_KUBECONFIG") or os.environ.get("CLUSTER_REAL_NODE") == "0":
            pytest.skip("no real node: an existing cluster, or CLUSTER_REAL_NODE=0")
        raise AssertionError("hack/cluster.sh up started no real node (no node.env in its CLUSTER_DIR)")
    return node


@pytest.fixture(scope="session")
def node_images(real_node: RealNode, tmp_path_factory: pytest.TempPathFactory) -> NodeImages:
    return import_images(real_node, tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def pod_git_server(real_node: RealNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with running_git_server(tmp_path_factory.mktemp("pod-git"), host=real_node.host_ip) as server:
        yield server


def restricted_node_namespace(cluster: Cluster, real_node: RealNode, prefix: str) -> str:
    name = real_node.namespace(unique_name(prefix))
    cluster.kubectl("label", "namespace", name, *RESTRICTED_LABELS)
    return name


def print_namespace_on_failure(cluster: Cluster, namespace: str) -> None:
    for what in (("get", "all,chatbots", "-o", "wide"), ("get", "events", "--sort-by=.lastTimestamp")):
        shown = cluster.kubectl(*what, "-n", namespace, check=False)
        print(
            f"===== kubectl {' '.join(what)} -n {namespace} =====\n{shown.stdout}{shown.stderr}",
            file=sys.stderr,
        )


@pytest.fixture(scope="package")
def node_operator(cluster: Cluster, real_node: RealNode, node_images: NodeImages) -> Iterator[Release]:
    """The chart from its image, in-cluster, as its own ServiceAccount.

    Package-scoped: this operator watches every namespace, so it is gone (and the CRD it brought
    with it) before the kwok-based tests, which run their own operator, start."""
    namespace = restricted_node_namespace(cluster, real_node, "operator-real")
    crd_existed = cluster.try_get("crd", CRD_NAME) is not None
    release = Release(cluster=cluster, name=unique_name("real"), namespace=namespace)
    # A CRD installed by another release cannot be adopted by this one: leave it to that release.
    release.install(*node_images.helm_args, *(("--set", "crds.install=false") if crd_existed else ()))
    yield release
    cluster.helm("uninstall", release.name, "-n", namespace, "--wait", check=False)
    if not crd_existed:
        # Kept by the chart's policy on uninstall; removed so the next release installs its own.
        cluster.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", timeout=120, check=False)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def example_bot(
    cluster: Cluster,
    real_node: RealNode,
    node_operator: Release,
    pod_git_server: GitServer,
    request: pytest.FixtureRequest,
) -> Iterator[ExampleBot]:
    """examples/chatbot.yaml as it is, but for its repository: a git server the pods can reach."""
    repo = unique_name("chatbot-operator")
    commit = pod_git_server.create_repo(repo, example_corpus_files())
    namespace = restricted_node_namespace(cluster, real_node, "example-real")
    manifest = EXAMPLE_FILE.read_text().replace(EXAMPLE_REPO, pod_git_server.http_url(repo))
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    ready = ("--for=condition=Ready", f"chatbot/{EXAMPLE_NAME}", f"--timeout={POD_TIMEOUT}")
    cluster.kubectl("wait", "-n", namespace, *ready, timeout=240)
    yield ExampleBot(namespace=namespace, name=EXAMPLE_NAME, corpus_commit=commit)
    if failed_test(request):
        print_namespace_on_failure(cluster, namespace)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def pods_of(cluster: Cluster, bot: ExampleBot) -> list[dict[str, object]]:
    pods: list[dict[str, object]] = cluster.get(
        "pods", "-n", bot.namespace, "-l", f"app.kubernetes.io/instance={bot.name}"
    )["items"]
    return pods
