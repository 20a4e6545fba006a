"""The product's central promise on real pods: `helm install` the operator, `kubectl apply -f
examples/chatbot.yaml`, and chat with pods that a kubelet started.

Everything runs on the cluster's real node (hack/node.sh), in namespaces that enforce the
`restricted` Pod Security level: the operator from its image, in-cluster, as the chart's
ServiceAccount; the example's bot pods with their corpus fetched by the init container from a git
server the pods reach; the chat through `kubectl port-forward` with the openai SDK, the JSON API
and the web page in headless Chromium.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import openai
import pytest
from kubernetes.utils import parse_quantity

from chatbot_server.embeddings import MAX_THREADS
from tests.e2e.cluster import Cluster, condition, wait_until
from tests.e2e.operator_process import Release
from tests.e2e.realnode.conftest import ExampleBot, bot_pods
from tests.e2e.realnode.node import RealNode, example_corpus_files
from tests.support.browser import CHROMIUM, chromium_page

# The example's FAQ, asked in other words: the bot's FAQ matching answers it.
FAQ_QUESTION = "how do I install the operator?"
FAQ_ANSWER = "Run `helm install chatbot-operator ./chart`, then `kubectl apply -f examples/chatbot.yaml`."


def test_the_operator_runs_in_cluster_from_its_image_as_the_charts_service_account(
    cluster: Cluster, real_node: RealNode, node_operator: Release
) -> None:
    (pod,) = cluster.get("pods", "-n", node_operator.namespace, "-l", "app.kubernetes.io/component=operator")[
        "items"
    ]
    assert pod["spec"]["nodeName"] == real_node.name
    assert pod["spec"]["serviceAccountName"] == node_operator.fullname
    (container,) = pod["status"]["containerStatuses"]
    assert container["ready"] is True
    assert container["restartCount"] == 0
    assert container["containerID"].startswith("containerd://")
    # In-cluster configuration: the ServiceAccount's token, no kubeconfig.
    env = {e["name"] for e in pod["spec"]["containers"][0].get("env", [])}
    assert "KUBECONFIG" not in env
    assert pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Its liveness probe has been passing: the kubelet has not restarted it after the first probes.
    wait_until(
        "the operator's liveness probe to have run a few times",
        lambda: _age_seconds(pod) > 35,
        timeout=60,
        interval=2,
    )
    refreshed = cluster.get("pod", pod["metadata"]["name"], "-n", node_operator.namespace)
    assert refreshed["status"]["containerStatuses"][0]["restartCount"] == 0
    # `helm test`: a pod of the chart asks the operator's liveness endpoint through its Service
    # (cluster DNS and kube-proxy on the way).
    test = cluster.helm(
        "test", node_operator.name, "-n", node_operator.namespace, "--timeout", "120s", timeout=180
    )
    assert "Phase:          Succeeded" in test.stdout


def test_the_example_turns_ready_with_both_pods_serving_the_pinned_commit(
    cluster: Cluster, real_node: RealNode, example_bot: ExampleBot
) -> None:
    listed = cluster.kubectl("get", "chatbots", "-n", example_bot.namespace).stdout
    (row,) = [line.split() for line in listed.splitlines()[1:]]
    # NAME MODEL READY CORPUS STATUS REASON AGE
    assert row[:5] == [example_bot.name, "gpt-4o-mini", "2/2", example_bot.corpus_commit[:7], "True"]
    chatbot = cluster.get("chatbot", example_bot.name, "-n", example_bot.namespace)
    assert chatbot["status"]["corpus"]["commit"] == example_bot.corpus_commit
    pods = bot_pods(cluster, example_bot)
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] == real_node.name
        assert (condition(pod, "Ready") or {}).get("status") == "True"
        # The corpus fetch, and any other init container (the golden questions), all Completed.
        inits = {init["name"]: init for init in pod["status"]["initContainerStatuses"]}
        assert "corpus" in inits
        for init in inits.values():
            assert init["state"]["terminated"]["exitCode"] == 0, init
            assert init["state"]["terminated"]["reason"] == "Completed"
    logs = cluster.kubectl("logs", "-n", example_bot.namespace, str(pods[0]["metadata"]["name"]), "-c", "bot")
    # The bot's own log: the corpus the init container fetched, indexed.
    indexed = re.search(r"indexed (\d+) chunks of (\d+) documents", logs.stdout)
    assert indexed, logs.stdout[-2000:]
    assert int(indexed.group(2)) == len(example_corpus_files())


def test_users_chat_through_kubectl_port_forward_with_the_sdk_the_api_and_the_page(
    cluster: Cluster, example_bot: ExampleBot
) -> None:
    with port_forward(cluster, example_bot.namespace, f"svc/{example_bot.name}") as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)
        whole = client.chat.completions.create(
            model="docs-assistant", messages=[{"role": "user", "content": FAQ_QUESTION}]
        )
        assert whole.choices[0].message.content == FAQ_ANSWER
        streamed = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in client.chat.completions.create(
                model="docs-assistant", messages=[{"role": "user", "content": FAQ_QUESTION}], stream=True
            )
            if chunk.choices
        )
        assert streamed == FAQ_ANSWER
        # A question the FAQ does not answer: passages of the fetched docs, with their paths.
        body = httpx.post(
            f"{url}/api/chat",
            json={"messages": [{"role": "user", "content": "What does hack/cluster.sh node-import do?"}]},
            timeout=30,
        ).json()
        assert body["mode"] == "corpus", body
        assert any(source.startswith(("docs/", "README.md")) for source in _sources(body)), body
        if shutil.which(CHROMIUM) is None:
            pytest.fail(f"{CHROMIUM} is missing: hack/install-system-deps.sh installs it")
        from playwright.sync_api import expect

        with chromium_page() as page:
            page.goto(url)
            expect(page.locator("#greeting")).to_have_text(
                "Hi, I'm Docsy. Ask me anything about running chatbots with chatbot-operator."
            )
            page.fill("#question", FAQ_QUESTION)
            page.click("#send")
            reply = page.locator(".message.bot").last
            expect(reply).to_have_attribute("data-complete", "true")
            # The page renders the answer's Markdown: its code spans are shown without backticks.
            assert reply.locator(".text").inner_text() == FAQ_ANSWER.replace("`", "")
            assert reply.locator(".text code").first.inner_text() == "helm install chatbot-operator ./chart"


def test_pods_are_admitted_under_restricted_and_run_read_only_as_non_root(
    cluster: Cluster, node_operator: Release, example_bot: ExampleBot
) -> None:
    for namespace in (node_operator.namespace, example_bot.namespace):
        labels = cluster.get("namespace", namespace)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = str(bot_pods(cluster, example_bot)[0]["metadata"]["name"])
    probe = cluster.kubectl(
        "exec", "-n", example_bot.namespace, pod, "-c", "bot", "--",
        "python", "-c", "import os; print(os.getuid(), os.getgid()); open('/probe', 'w')",
        check=False,
    )  # fmt: skip
    uid, gid = probe.stdout.split()
    assert int(uid) != 0
    assert int(gid) != 0
    assert "Read-only file system" in probe.stderr, probe.stderr
    assert probe.returncode != 0


def test_the_corpus_is_embedded_on_as_many_cores_as_the_kubelet_gives_the_container(
    cluster: Cluster, real_node: RealNode, example_bot: ExampleBot
) -> None:
    # The example sets no CPU limit: the downward API gives the node's allocatable CPUs, rounded up
    # (the bot caps them at 2). The golden check embeds the corpus and hands its vectors to the bot.
    allocatable = cluster.get("node", real_node.name)["status"]["allocatable"]["cpu"]
    threads = min(math.ceil(parse_quantity(allocatable)), MAX_THREADS)
    pod = str(bot_pods(cluster, example_bot)[0]["metadata"]["name"])
    logs = cluster.kubectl("logs", "-n", example_bot.namespace, pod, "-c", "golden-questions").stdout
    assert f"embedding the corpus on {threads} thread(s)" in logs, logs[-2000:]
    assert re.search(r"embedded \d+ chunks in", logs), logs[-2000:]


@contextlib.contextmanager
def port_forward(cluster: Cluster, namespace: str, target: str) -> Iterator[str]:
    """`kubectl port-forward TARGET :80` on a free local port; yields its base URL."""
    process = subprocess.Popen(
        [str(cluster.bin_dir / "kubectl"), "port-forward", "-n", namespace, target, ":80"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", first)
        assert match, f"kubectl port-forward printed {first!r}"
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _sources(body: dict[str, Any]) -> list[str]:
    return [str(source["path"]) for source in body["sources"]]


def _age_seconds(pod: dict[str, Any]) -> float:
    started = pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    return (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds()
