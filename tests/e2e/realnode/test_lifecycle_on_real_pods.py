"""What users of a running ChatBot see on real pods while it changes under them.

5. A new `systemPrompt` rolls the pods while a client asks through the Service without pause: no
   request fails, and the new prompt is the one the LLM gets at the end.
7. The bot container is killed: the kubelet restarts it, the Service answers from the other
   replica meanwhile, and READY returns to 2/2.
8. The LLM key's Secret is rotated: both running pods (no restart) send the new key to the LLM,
   within the kubelet's Secret sync plus the bot's 10 s re-read; the delay is printed.

The bot talks to a fake LLM on the host end of the node's veth, which records every request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, condition, unique_name, wait_until
from tests.e2e.operator_process import Release
from tests.e2e.realnode.conftest import (
    POD_TIMEOUT,
    asking_through_the_service,
    bot_pods,
    print_namespace_on_failure,
    restricted_node_namespace,
)
from tests.e2e.realnode.node import RealNode
from tests.support.fake_llm import FakeLLM
from tests.support.gitserver import GitServer

FIRST_PROMPT = "You are the first prompt."
SECOND_PROMPT = "You are the second prompt, rolled out under load."
# The kubelet's sync period (1 min by default) with its jitter, plus the bot's 10 s re-read.
KEY_ROTATION_BOUND = 90.0


@dataclass(frozen=True)
class LlmBot:
    namespace: str
    name: str
    fake: FakeLLM


@pytest.fixture(scope="module")
def llm_bot(
    cluster: Cluster,
    real_node: RealNode,
    node_operator: Release,
    pod_git_server: GitServer,
    request: pytest.FixtureRequest,
) -> Iterator[LlmBot]:
    repo = unique_name("lifecycle")
    pod_git_server.create_repo(repo, {"docs/operator.md": "# Operator\nThe operator runs chatbots.\n"})
    namespace = restricted_node_namespace(cluster, real_node, "lifecycle-real")
    cluster.kubectl(
        "create", "secret", "generic", "llm-key", "-n", namespace, "--from-literal=apiKey=key-one"
    )
    with FakeLLM(host=real_node.host_ip, answer="The operator runs chatbots, says the fake LLM.") as fake:
        cluster.apply(
            {
                "apiVersion": "chatbot-operator.io/v1alpha1",
                "kind": "ChatBot",
                "metadata": {"name": "lifecycle"},
                "spec": {
                    "replicas": 2,
                    "model": "fake-model",
                    "systemPrompt": FIRST_PROMPT,
                    "llm": {
                        "provider": "openai-compatible",
                        "baseURL": fake.base_url,
                        "apiKeySecretRef": {"name": "llm-key", "key": "apiKey"},
                    },
                    "corpus": {"repo": pod_git_server.http_url(repo), "ref": "main"},
                },
            },
            namespace=namespace,
        )
        ready = ("--for=condition=Ready", "chatbot/lifecycle", f"--timeout={POD_TIMEOUT}")
        cluster.kubectl("wait", "-n", namespace, *ready, timeout=240)
        yield LlmBot(namespace=namespace, name="lifecycle", fake=fake)
        if request.session.testsfailed:
            print_namespace_on_failure(cluster, namespace)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def ready_count(cluster: Cluster, bot: LlmBot) -> str:
    return str(cluster.get("chatbot", bot.name, "-n", bot.namespace).get("status", {}).get("ready"))


def test_a_new_system_prompt_rolls_the_pods_without_a_failed_request(
    cluster: Cluster, real_node: RealNode, llm_bot: LlmBot, tmp_path: Path
) -> None:
    before = {pod["metadata"]["name"] for pod in bot_pods(cluster, llm_bot)}
    with asking_through_the_service(real_node, cluster, llm_bot.namespace, llm_bot.name, tmp_path) as results:
        cluster.kubectl(
            "patch", "chatbot", llm_bot.name, "-n", llm_bot.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"systemPrompt": SECOND_PROMPT}}),
        )  # fmt: skip
        wait_until(
            "both pods replaced and Ready",
            lambda: (
                (pods := bot_pods(cluster, llm_bot))
                and len(pods) == 2
                and not before & {pod["metadata"]["name"] for pod in pods}
                and all((condition(pod, "Ready") or {}).get("status") == "True" for pod in pods)
                and ready_count(cluster, llm_bot) == "2/2"
            ),
            timeout=180,
            interval=1,
        )
        time.sleep(3)  # requests on the new pods only
    print(
        f"\n{len(results.lines)} requests through the Service during the rollout,",
        f"{len(results.failures)} failed",
    )
    assert len(results.lines) > 20
    assert results.failures == []
    # The system message: the prompt, then the retrieved passages.
    system = llm_bot.fake.requests[-1]["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith(SECOND_PROMPT), system


def test_a_killed_bot_container_is_restarted_while_the_service_answers(
    cluster: Cluster, real_node: RealNode, llm_bot: LlmBot, tmp_path: Path
) -> None:
    victim, survivor = bot_pods(cluster, llm_bot)
    (status,) = [s for s in victim["status"]["containerStatuses"] if s["name"] == "bot"]
    restarts = status["restartCount"]
    with asking_through_the_service(real_node, cluster, llm_bot.namespace, llm_bot.name, tmp_path) as results:
        killed_at = time.time()
        real_node.kill_container(status["containerID"])
        wait_until(
            "the kubelet to restart the bot and READY to return to 2/2",
            lambda: (
                (pod := cluster.get("pod", victim["metadata"]["name"], "-n", llm_bot.namespace))
                and pod["status"]["containerStatuses"][0]["restartCount"] == restarts + 1
                and (condition(pod, "Ready") or {}).get("status") == "True"
                and ready_count(cluster, llm_bot) == "2/2"
            ),
            timeout=120,
            interval=1,
        )
        back_at = time.time()
    during = results.between(killed_at, back_at)
    failed = [line for line in during if not line["ok"]]
    print(
        f"\nbot container killed: back Ready after {back_at - killed_at:.1f} s;",
        f"{len(during)} requests meanwhile, {len(failed)} failed ({failed[:3]})",
    )
    # The other replica answered all along; only requests already on their way to the killed
    # container can fail, before the kubelet reports it (a second or two).
    assert sum(line["ok"] for line in during) > 10
    assert all(line["t"] < killed_at + 3 for line in failed), failed
    assert (
        cluster.get("pod", survivor["metadata"]["name"], "-n", llm_bot.namespace)["status"][
            "containerStatuses"
        ][0]["restartCount"]
        == survivor["status"]["containerStatuses"][0]["restartCount"]
    )


def test_a_rotated_llm_key_reaches_the_llm_from_the_running_pods(
    cluster: Cluster, real_node: RealNode, llm_bot: LlmBot
) -> None:
    pods = bot_pods(cluster, llm_bot)
    restarts = {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["restartCount"] for p in pods}
    rotated = cluster.kubectl(
        "create", "secret", "generic", "llm-key", "-n", llm_bot.namespace, "--from-literal=apiKey=key-two",
        "--dry-run=client", "-o", "yaml",
    ).stdout  # fmt: skip
    cluster.kubectl("apply", "-n", llm_bot.namespace, "-f", "-", input=rotated)
    rotated_at = time.monotonic()

    def new_key_from(pod_ip: str) -> bool:
        seen = len(llm_bot.fake.headers)
        asked = real_node.exec(
            "curl", "-sf", "--max-time", "10", "-H", "content-type: application/json",
            "-d", json.dumps({"messages": [{"role": "user", "content": "key?"}]}), f"http://{pod_ip}:8080/api/chat",
        )  # fmt: skip
        assert asked.returncode == 0, asked
        return any(h.get("Authorization") == "Bearer key-two" for h in llm_bot.fake.headers[seen:])

    delays = {}
    for pod in pods:
        wait_until(
            f"pod {pod['metadata']['name']} to send the new key",
            lambda pod=pod: new_key_from(pod["status"]["podIP"]),
            timeout=KEY_ROTATION_BOUND,
            interval=1,
        )
        delays[pod["metadata"]["name"]] = time.monotonic() - rotated_at
    print(f"\nthe rotated key reached the LLM from both pods after {max(delays.values()):.1f} s ({delays})")
    now = {
        p["metadata"]["name"]: p["status"]["containerStatuses"][0]["restartCount"]
        for p in bot_pods(cluster, llm_bot)
    }
    assert now == restarts
