"""The corpus on real pods: the init container really fetches it, and what users see when it moves
or cannot be fetched.

6. The corpus branch moves: the operator resolves the new commit, the pods roll to it (each init
   container fetching it), and the bot answers from the new text.
9. A repository that does not exist (a pinned SHA, so only the init container contacts it): the
   init container fails, and `kubectl describe chatbot` gives the reason from its termination
   message, as docs/corpus.md documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import Cluster, condition, failed_test, unique_name, wait_until
from tests.e2e.operator_process import Release
from tests.e2e.realnode.conftest import (
    POD_TIMEOUT,
    answer_through_the_service,
    print_namespace_on_failure,
    restricted_node_namespace,
)
from tests.e2e.realnode.node import RealNode
from tests.support.gitserver import GitServer

QUESTION = "What is the widget colour?"


@pytest.fixture
def corpus_namespace(
    cluster: Cluster, real_node: RealNode, node_operator: Release, request: pytest.FixtureRequest
) -> Iterator[str]:
    del node_operator  # the operator must be running
    namespace = restricted_node_namespace(cluster, real_node, "corpus-real")
    yield namespace
    if failed_test(request):
        print_namespace_on_failure(cluster, namespace)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def chatbot(name: str, repo: str, ref: str, **corpus: Any) -> dict[str, Any]:
    return {
        "apiVersion": "chatbot-operator.io/v1alpha1",
        "kind": "ChatBot",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "systemPrompt": "Answer from the documentation.",
            "corpus": {"repo": repo, "ref": ref, **corpus},
        },
    }


def test_a_moved_branch_rolls_the_pods_to_the_new_commit_and_its_text(
    cluster: Cluster, real_node: RealNode, pod_git_server: GitServer, corpus_namespace: str
) -> None:
    repo = unique_name("moving")
    first = pod_git_server.create_repo(
        repo, {"docs/widget.md": "# Widget colour\nThe widget colour is blue.\n"}
    )
    cluster.apply(
        chatbot("moving", pod_git_server.http_url(repo), "main", refreshInterval="30s"), corpus_namespace
    )
    cluster.kubectl(
        "wait", "-n", corpus_namespace, "--for=condition=Ready", "chatbot/moving", f"--timeout={POD_TIMEOUT}"
    )
    assert "blue" in answer_through_the_service(cluster, real_node, corpus_namespace, "moving", QUESTION)

    second = pod_git_server.commit(
        repo, {"docs/widget.md": "# Widget colour\nThe widget colour is green since May.\n"}
    )
    assert second != first

    def rolled() -> bool:
        bot = cluster.get("chatbot", "moving", "-n", corpus_namespace)
        pods = cluster.get("pods", "-n", corpus_namespace, "-l", "app.kubernetes.io/instance=moving")["items"]
        return (
            bot["status"].get("corpus", {}).get("commit") == second
            and bot["status"].get("ready") == "2/2"
            and len(pods) == 2
            and all(
                (condition(pod, "Ready") or {}).get("status") == "True"
                and second in json.dumps(pod["metadata"].get("annotations", {}))
                for pod in pods
            )
        )

    # Resolved again after refreshInterval (30 s, the least allowed); the operator looks every 30 s.
    wait_until("the pods to roll to the new commit", rolled, timeout=150, interval=2)
    answer = answer_through_the_service(cluster, real_node, corpus_namespace, "moving", QUESTION)
    assert "green since May" in answer
    assert "blue" not in answer


def test_a_repository_that_does_not_exist_fails_the_init_container_with_its_reason_on_the_chatbot(
    cluster: Cluster, pod_git_server: GitServer, corpus_namespace: str
) -> None:
    pinned = "0123456789abcdef0123456789abcdef01234567"
    cluster.apply(chatbot("nowhere", pod_git_server.http_url("no-such-repo"), pinned), corpus_namespace)

    def failed_init() -> dict[str, Any] | None:
        pods = cluster.get("pods", "-n", corpus_namespace, "-l", "app.kubernetes.io/instance=nowhere")[
            "items"
        ]
        for pod in pods:
            for status in pod["status"].get("initContainerStatuses", []):
                terminated = status["state"].get("terminated") or status.get("lastState", {}).get(
                    "terminated"
                )
                if terminated and terminated["exitCode"] != 0:
                    return dict(terminated)
        return None

    terminated = wait_until("the corpus init container to fail", failed_init, timeout=120, interval=1)
    # `<Reason>: <message>` in the termination message; the reason docs/corpus.md gives for it.
    reason = terminated["message"].split(":", 1)[0]
    assert reason == "RepositoryNotFound", terminated
    synced = wait_until(
        "CorpusSynced=False with the init container's reason",
        lambda: (
            c
            if (c := condition(cluster.get("chatbot", "nowhere", "-n", corpus_namespace), "CorpusSynced"))
            and c.get("status") == "False"
            and c.get("reason") == reason
            else None
        ),
        timeout=60,
    )
    described = cluster.kubectl("describe", "chatbot", "nowhere", "-n", corpus_namespace).stdout
    assert reason in described
    assert synced["message"].split(".")[0] in " ".join(described.split())
