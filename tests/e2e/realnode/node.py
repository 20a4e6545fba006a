"""The local cluster's real node (hack/node.sh), as the real-pods tier sees it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.cluster import HACK_DIR, Cluster


@dataclass(frozen=True)
class RealNode:
    """The node that really runs containers: where it is, and how to reach into it."""

    cluster: Cluster
    cluster_dir: Path
    name: str
    # The host's end of the node's veth: servers that pods must reach listen here.
    host_ip: str
    node_ip: str
    # The pod sandbox image, present on the node from the start.
    pause_image: str

    def env(self) -> dict[str, str]:
        """The environment in which hack/cluster.sh acts on this cluster."""
        return {**os.environ, "CLUSTER_DIR": str(self.cluster_dir)}

    def hack(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`hack/cluster.sh ARGS` for this cluster; fails with what it printed."""
        result = subprocess.run(
            [str(HACK_DIR / "cluster.sh"), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"hack/cluster.sh {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result

    def exec(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A command in the node's network namespace (where Service IPs route), not checked."""
        return subprocess.run(
            [str(HACK_DIR / "cluster.sh"), "node-exec", *command],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )

    def kill_container(self, container_id: str) -> None:
        """SIGKILL to a container's process, from containerd (as the OOM killer or a crash would)."""
        socket = (self.cluster_dir / "node-containerd-socket").read_text().strip()
        task = container_id.removeprefix("containerd://")
        subprocess.run(
            ["ctr", "--address", socket, "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", task],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def namespace(self, name: str) -> str:
        """A namespace whose pods run on this node (`hack/cluster.sh node-namespace`)."""
        self.hack("node-namespace", name)
        return name


def real_node_of(cluster: Cluster) -> RealNode | None:
    """The cluster's real node, or None when it has none (an existing cluster, CLUSTER_REAL_NODE=0)."""
    if cluster.cluster_dir is None:
        return None
    state_file = cluster.cluster_dir / "node.env"
    if not state_file.exists():
        return None
    state = dict(line.split("=", 1) for line in state_file.read_text().split())
    return RealNode(
        cluster=cluster,
        cluster_dir=cluster.cluster_dir,
        name="real-node",
        host_ip=state["NODE_HOST_IP"],
        node_ip=state["NODE_IP"],
        pause_image=state["NODE_PAUSE_IMAGE"],
    )
