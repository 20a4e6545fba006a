"""The local cluster's real node (hack/node.sh), as the real-pods tier sees it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.cluster import HACK_DIR, REPO_ROOT, Cluster

EXAMPLE_REPO = "https://github.com/chatbot-operator/chatbot-operator.git"


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


@dataclass(frozen=True)
class NodeImages:
    """Our images as the node's containerd knows them."""

    operator_repository: str
    bot_repository: str
    tag: str

    @property
    def helm_args(self) -> list[str]:
        return [
            "--set", f"image.repository={self.operator_repository}", "--set", f"image.tag={self.tag}",
            "--set", f"botImage.repository={self.bot_repository}", "--set", f"botImage.tag={self.tag}",
        ]  # fmt: skip


def import_images(node: RealNode, archives_dir: Path) -> NodeImages:
    """`hack/images.sh save` (builds them unless cached), then `hack/cluster.sh node-import`."""
    saved = subprocess.run(
        [str(HACK_DIR / "images.sh"), "save", str(archives_dir)],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert saved.returncode == 0, f"hack/images.sh save failed:\n{saved.stderr[-4000:]}"
    node.hack("node-import", *saved.stdout.split(), timeout=600)
    # `docker save` names them chatbot-<target>:dev; containerd knows them as docker.io/library/...,
    # which is what the kubelet asks for, given the short name.
    return NodeImages(operator_repository="chatbot-operator", bot_repository="chatbot-bot", tag="dev")


def example_corpus_files() -> dict[str, str]:
    """What the example ChatBot's corpus repository holds: this repository's docs and README."""
    files = {"README.md": (REPO_ROOT / "README.md").read_text()}
    for path in sorted((REPO_ROOT / "docs").rglob("*.md")):
        files[str(path.relative_to(REPO_ROOT))] = path.read_text()
    return files
