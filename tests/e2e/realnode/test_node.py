"""The real node itself: what the real-pods tests rely on, each checked as a cluster user would.

A kubelet with containerd registers a Ready node; a pod scheduled there really runs (its sandbox
gets an IP on the node's bridge) and `kubectl logs` reaches it through the API server; Service
ClusterIPs route (kube-proxy) and Service names resolve (CoreDNS); pods of namespaces that did not
ask for the node stay on the kwok nodes.
"""

from __future__ import annotations

import ipaddress
import sys

from tests.e2e.cluster import Cluster, condition, wait_until
from tests.e2e.realnode.node import RealNode

POD_CIDR = ipaddress.ip_network("10.244.0.0/24")


def test_the_real_node_is_ready_with_containerd_and_its_own_address(
    cluster: Cluster, real_node: RealNode
) -> None:
    node = cluster.get("node", real_node.name)
    assert (condition(node, "Ready") or {}).get("status") == "True"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.35.")
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == real_node.node_ip
    # Tainted: pods land here only from namespaces that ask for it (hack/cluster.sh node-namespace).
    assert [t["key"] for t in node["spec"].get("taints", [])] == ["chatbot-operator.io/real-node"]


def test_a_pod_really_runs_there_and_kubectl_reaches_the_kubelet(
    cluster: Cluster, real_node: RealNode, namespace: str
) -> None:
    real_node.namespace(namespace)
    # The pause image is on every node: the sandbox image, imported by hack/node.sh.
    cluster.kubectl(
        "run",
        "sleeper",
        "-n",
        namespace,
        f"--image={real_node.pause_image}",
        "--image-pull-policy=Never",
        "--restart=Never",
    )
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "pod/sleeper", "--timeout=60s", timeout=90
    )
    pod = cluster.get("pod", "sleeper", "-n", namespace)
    assert pod["spec"]["nodeName"] == real_node.name
    assert ipaddress.ip_address(pod["status"]["podIP"]) in POD_CIDR
    (status,) = pod["status"]["containerStatuses"]
    assert status["containerID"].startswith("containerd://")
    assert "running" in status["state"]
    # The API server reaches the kubelet (logs, exec and port-forward take this path).
    logs = cluster.kubectl("logs", "-n", namespace, "sleeper", check=False)
    assert logs.returncode == 0, logs.stderr


def test_service_names_resolve_and_cluster_ips_route_on_the_node(
    cluster: Cluster, real_node: RealNode
) -> None:
    dns_ip = cluster.get("service", "kube-dns", "-n", "kube-system")["spec"]["clusterIP"]
    answer = wait_until(
        "CoreDNS to answer for kubernetes.default through the kube-dns Service",
        lambda: (
            result.stdout.split()
            if (result := real_node.exec(*_dig(dns_ip, "kubernetes.default.svc.cluster.local"))).returncode
            == 0
            else None
        ),
        timeout=30,
    )
    assert answer == [cluster.get("service", "kubernetes")["spec"]["clusterIP"]]
    # The kubernetes Service's ClusterIP leads to the API server (through kube-proxy's rules).
    readyz = real_node.exec("curl", "-sk", "--max-time", "5", f"https://{answer[0]}:443/readyz")
    assert readyz.stdout == "ok", readyz


def test_pods_of_other_namespaces_keep_off_the_real_node(
    cluster: Cluster, real_node: RealNode, namespace: str
) -> None:
    cluster.kubectl(
        "create",
        "deployment",
        "elsewhere",
        "-n",
        namespace,
        "--image=example.invalid/elsewhere:1",
        "--replicas=4",
    )
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/elsewhere", "--timeout=60s", timeout=90)
    nodes = {p["spec"]["nodeName"] for p in cluster.get("pods", "-n", namespace)["items"]}
    assert nodes
    assert real_node.name not in nodes


def _dig(server: str, name: str) -> list[str]:
    """An A query to one DNS server (dnspython), the addresses on stdout."""
    script = (
        "import sys, dns.resolver; r = dns.resolver.Resolver(configure=False); r.nameservers = [sys.argv[1]];"
        " print(*(a.address for a in r.resolve(sys.argv[2], 'A', lifetime=3)))"
    )
    return [sys.executable, "-c", script, server, name]
