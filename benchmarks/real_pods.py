"""The example on real pods: time from `kubectl apply -f examples/chatbot.yaml` to `Ready` (both bot
pods started by the kubelet, corpus fetched, readiness passed), and the memory of the bot and the
operator pods (working set, from the kubelet's summary API) with the example's corpus.

    make bench-real-pods       # python -m benchmarks.real_pods --runs 5

It starts a cluster of its own with the real node (hack/cluster.sh), imports our images, installs
the chart from the operator's image, serves this repository's docs from a git server the pods
reach, then applies the example RUNS times, each in a fresh namespace, and prints the figures
(JSON in benchmarks/results/real-pods.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.e2e.cluster import EXAMPLE_FILE, HACK_DIR, REPO_ROOT, RESTRICTED_LABELS, Cluster, build_tools
from tests.e2e.realnode.node import EXAMPLE_REPO, RealNode, example_corpus_files, import_images, real_node_of
from tests.support.gitserver import running_git_server

RESULTS_FILE = REPO_ROOT / "benchmarks" / "results" / "real-pods.json"
MIB = 1024 * 1024


def node_namespace(cluster: Cluster, node: RealNode, name: str) -> str:
    node.namespace(name)
    cluster.kubectl("label", "namespace", name, *RESTRICTED_LABELS)
    return name


def working_sets(cluster: Cluster, node: RealNode) -> dict[str, float]:
    """MiB per "<namespace>/<pod>/<container>", from the kubelet's summary API."""
    summary = json.loads(
        cluster.kubectl("get", "--raw", f"/api/v1/nodes/{node.name}/proxy/stats/summary").stdout
    )
    return {
        f"{pod['podRef']['namespace']}/{pod['podRef']['name']}/{container['name']}": container["memory"][
            "workingSetBytes"
        ]
        / MIB
        for pod in summary["pods"]
        for container in pod["containers"]
    }


def ask(node: RealNode, pod_ip: str, question: str) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": question}]})
    url = f"http://{pod_ip}:8080/api/chat"
    asked = node.exec(
        "curl", "-sf", "--max-time", "20", "-H", "content-type: application/json", "-d", body, url
    )
    assert asked.returncode == 0, asked


def measure(cluster: Cluster, node: RealNode, runs: int, workdir: Path) -> dict[str, Any]:
    images = import_images(node, workdir / "images")
    operator_ns = node_namespace(cluster, node, "bench-operator")
    cluster.helm(
        "install", "bench", str(REPO_ROOT / "chart"), "-n", operator_ns, "--wait", "--timeout", "180s",
        *images.helm_args, timeout=240,
    )  # fmt: skip
    with running_git_server(workdir / "git", host=node.host_ip) as git:
        git.create_repo("chatbot-operator", example_corpus_files())
        manifest = EXAMPLE_FILE.read_text().replace(EXAMPLE_REPO, git.http_url("chatbot-operator"))
        seconds: list[float] = []
        for run in range(runs):
            namespace = node_namespace(cluster, node, f"bench-example-{run}")
            started = time.monotonic()
            cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
            cluster.kubectl(
                "wait", "-n", namespace, "--for=condition=Ready", "chatbot/docs-assistant", "--timeout=300s",
                timeout=330,
            )  # fmt: skip
            seconds.append(time.monotonic() - started)
            print(f"run {run + 1}: Ready {seconds[-1]:.1f} s after kubectl apply", flush=True)
            if run < runs - 1:
                cluster.kubectl("delete", "namespace", namespace, "--wait=true", timeout=180)
        # The last run's pods, after a few questions (retrieval and answers touched), settled.
        pods = cluster.get("pods", "-n", namespace, "-l", "app.kubernetes.io/instance=docs-assistant")[
            "items"
        ]
        for pod in pods:
            for question in (
                "How do I install the operator?",
                "How does the real node reach the API server?",
            ):
                ask(node, pod["status"]["podIP"], question)
        time.sleep(20)
        memory = working_sets(cluster, node)
    bots = [mib for key, mib in memory.items() if key.startswith(f"{namespace}/") and key.endswith("/bot")]
    operator = [mib for key, mib in memory.items() if key.startswith(f"{operator_ns}/")]
    return {
        "apply_to_ready_seconds": seconds,
        "apply_to_ready_median_seconds": statistics.median(seconds),
        "bot_working_set_mib": bots,
        "operator_working_set_mib": operator,
        "corpus_documents": len(example_corpus_files()),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bin_dir = build_tools()
    with tempfile.TemporaryDirectory(prefix="bench-real-pods-") as workdir:
        env = {**os.environ, "CLUSTER_DIR": f"{workdir}/cluster"}
        subprocess.run(
            [str(HACK_DIR / "cluster.sh"), "up"], env=env, check=True, capture_output=True, timeout=600
        )
        try:
            cluster = Cluster(
                kubeconfig=Path(workdir) / "cluster" / "kubeconfig",
                bin_dir=bin_dir,
                cluster_dir=Path(workdir) / "cluster",
            )
            node = real_node_of(cluster)
            assert node is not None, "hack/cluster.sh up started no real node"
            result = measure(cluster, node, args.runs, Path(workdir))
        finally:
            subprocess.run([str(HACK_DIR / "cluster.sh"), "down"], env=env, check=False, capture_output=True)
    RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n")
    seconds = result["apply_to_ready_seconds"]
    print(
        f"kubectl apply -> Ready on real pods: median {result['apply_to_ready_median_seconds']:.1f} s "
        f"(min {min(seconds):.1f}, max {max(seconds):.1f}, {len(seconds)} runs)\n"
        f"bot pods' working set: {', '.join(f'{m:.0f} MiB' for m in result['bot_working_set_mib'])}; "
        f"operator: {', '.join(f'{m:.0f} MiB' for m in result['operator_working_set_mib'])}"
    )


if __name__ == "__main__":
    main()
