"""Fixtures of the real-pods tier: the cluster's real node (kubelet, containerd, kube-proxy,
CoreDNS), where pods really run.

- `real_node` (session): the node, or a skip on a cluster without one.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.realnode.node import RealNode, real_node_of


@pytest.fixture(scope="session")
def real_node(cluster: Cluster) -> RealNode:
    node = real_node_of(cluster)
    if node is None:
        if os.environ.get("E2E_KUBECONFIG") or os.environ.get("CLUSTER_REAL_NODE") == "0":
            pytest.skip("no real node: an existing cluster, or CLUSTER_REAL_NODE=0")
        raise AssertionError("hack/cluster.sh up started no real node (no node.env in its CLUSTER_DIR)")
    return node
