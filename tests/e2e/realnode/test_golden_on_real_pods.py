"""Golden questions gate every rollout, on real pods (issue 19). One offline ChatBot, 2 replicas,
two golden questions (an FAQ answer, a corpus passage) that its first revision passes; then:

(a) An FAQ change breaks a golden question: a client asking through the Service meanwhile gets
    only the old answer and never an error, the new pod never turns Ready, and the ChatBot's
    GoldenQuestionsPassed=False (reason GoldenQuestionsFailed) and its Event name the question,
    what was expected and the answer given.
(b) A fix rolls forward: its answers are served and the condition is True again.
(c) After the corpus branch moves and its new commit is served, the documented rollback command
    to the first revision restores its prompt, its FAQ and its corpus commit, although the branch
    has moved.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Cluster, condition, failed_test, unique_name, wait_until
from tests.e2e.operator_process import Release
from tests.e2e.realnode.conftest import (
    POD_TIMEOUT,
    answer_through_the_service,
    asking_through_the_service,
    bot_pods,
    print_namespace_on_failure,
    restricted_node_namespace,
)
from tests.e2e.realnode.node import RealNode
from tests.support.gitserver import GitServer

NAME = "golden"
FAQ_QUESTION = "Who maintains the operator?"
FIRST_ANSWER = "The platform team maintains it; page them on call."
BROKEN_ANSWER = "The data team maintains it."
FIXED_ANSWER = "The platform team maintains it, from Berlin."
CORPUS_QUESTION = "What is the widget colour?"
FIRST_PROMPT = "You are the first prompt: answer from the documentation."
FIXED_PROMPT = "You are the fixed prompt: answer from the documentation."
# Rollouts of real pods whose images are on the node: a golden check and a bot start each.
ROLLOUT_TIMEOUT = 120


@dataclass(frozen=True)
class GoldenBot:
    namespace: str
    repo: str
    first_commit: str
    name: str = NAME


def chatbot(repo_url: str, prompt: str, faq_answer: str) -> dict[str, Any]:
    return {
        "apiVersion": "chatbot-operator.io/v1alpha1",
        "kind": "ChatBot",
        "metadata": {"name": NAME},
        "spec": {
            "replicas": 2,
            "systemPrompt": prompt,
            "faq": [{"question": FAQ_QUESTION, "answer": faq_answer}],
            # 30 s, the least allowed: the moved branch is seen within the test's time.
            "corpus": {"repo": repo_url, "ref": "main", "refreshInterval": "30s"},
            "goldenQuestions": [
                {"question": FAQ_QUESTION, "expect": {"faqAnswer": True, "contains": ["platform team"]}},
                {"question": CORPUS_QUESTION, "expect": {"source": "docs/widget.md"}},
            ],
        },
    }


@pytest.fixture(scope="module")
def golden_bot(
    cluster: Cluster,
    real_node: RealNode,
    node_operator: Release,
    pod_git_server: GitServer,
    request: pytest.FixtureRequest,
) -> Iterator[GoldenBot]:
    del node_operator  # the operator must be running
    repo = unique_name("golden")
    first = pod_git_server.create_repo(
        repo, {"docs/widget.md": "# Widget colour\nThe widget colour is blue.\n"}
    )
    namespace = restricted_node_namespace(cluster, real_node, "golden-real")
    cluster.apply(chatbot(pod_git_server.http_url(repo), FIRST_PROMPT, FIRST_ANSWER), namespace)
    ready = ("--for=condition=Ready", f"chatbot/{NAME}", f"--timeout={POD_TIMEOUT}")
    cluster.kubectl("wait", "-n", namespace, *ready, timeout=240)
    yield GoldenBot(namespace=namespace, repo=repo, first_commit=first)
    if failed_test(request) or request.session.testsfailed:
        print_namespace_on_failure(cluster, namespace)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def the_chatbot(cluster: Cluster, bot: GoldenBot) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get("chatbot", NAME, "-n", bot.namespace)
    return found


def is_ready(pod: dict[str, Any]) -> bool:
    return (condition(pod, "Ready") or {}).get("status") == "True"


def golden_status(cluster: Cluster, bot: GoldenBot) -> tuple[str | None, str | None]:
    found = condition(the_chatbot(cluster, bot), "GoldenQuestionsPassed") or {}
    return found.get("status"), found.get("reason")


def rolled_out(cluster: Cluster, bot: GoldenBot, old_pods: set[str], commit: str | None = None) -> bool:
    """Two Ready pods, none of `old_pods`, at `commit` if given; the ChatBot 2/2 and golden-passed."""
    pods = bot_pods(cluster, bot)
    chatbot_status = the_chatbot(cluster, bot).get("status", {})
    return (
        len(pods) == 2
        and not old_pods & {pod["metadata"]["name"] for pod in pods}
        and all(is_ready(pod) for pod in pods)
        and (
            commit is None
            or all(commit in json.dumps(pod["metadata"].get("annotations", {})) for pod in pods)
        )
        and chatbot_status.get("ready") == "2/2"
        and golden_status(cluster, bot) == ("True", "GoldenQuestionsPassed")
    )


def patch(cluster: Cluster, bot: GoldenBot, spec: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch", "chatbot", NAME, "-n", bot.namespace, "--type=merge", "-p", json.dumps({"spec": spec})
    )


def test_the_first_revision_passes_its_golden_questions_and_serves(
    cluster: Cluster, real_node: RealNode, golden_bot: GoldenBot
) -> None:
    assert golden_status(cluster, golden_bot) == ("True", "GoldenQuestionsPassed")
    pods = bot_pods(cluster, golden_bot)
    assert len(pods) == 2
    assert all(is_ready(pod) for pod in pods)
    init = [status["name"] for status in pods[0]["status"]["initContainerStatuses"]]
    assert "golden-questions" in init, init
    answer = answer_through_the_service(cluster, real_node, golden_bot.namespace, NAME, FAQ_QUESTION)
    assert FIRST_ANSWER in answer
    assert "blue" in answer_through_the_service(
        cluster, real_node, golden_bot.namespace, NAME, CORPUS_QUESTION
    )


def test_a_change_that_breaks_a_golden_question_never_serves_and_says_why(
    cluster: Cluster, real_node: RealNode, golden_bot: GoldenBot, tmp_path: Path
) -> None:
    serving = {pod["metadata"]["name"] for pod in bot_pods(cluster, golden_bot)}
    with asking_through_the_service(
        real_node, cluster, golden_bot.namespace, NAME, tmp_path, question=FAQ_QUESTION
    ) as results:
        patch(cluster, golden_bot, {"faq": [{"question": FAQ_QUESTION, "answer": BROKEN_ANSWER}]})
        failed = wait_until(
            "GoldenQuestionsPassed=False with reason GoldenQuestionsFailed",
            lambda: (
                found
                if (found := condition(the_chatbot(cluster, golden_bot), "GoldenQuestionsPassed"))
                and (found.get("status"), found.get("reason")) == ("False", "GoldenQuestionsFailed")
                else None
            ),
            timeout=ROLLOUT_TIMEOUT,
            interval=1,
        )
        time.sleep(5)  # the client keeps asking while the failed pod waits in its back-off
        pods = bot_pods(cluster, golden_bot)
        status = the_chatbot(cluster, golden_bot)["status"]
    new_pods = [pod for pod in pods if pod["metadata"]["name"] not in serving]
    print(
        f"\n{len(results.lines)} requests through the Service while the broken revision was checked,",
        f"{len(results.failures)} failed; condition: {failed['message']}",
    )
    # What users saw: the old answer, every time.
    assert len(results.lines) > 10
    assert results.failures == []
    assert {line["answer"] for line in results.lines} == {FIRST_ANSWER}
    # The new revision's pod exists, and never took traffic.
    assert new_pods, [pod["metadata"]["name"] for pod in pods]
    assert not any(is_ready(pod) for pod in new_pods)
    assert sum(is_ready(pod) for pod in pods if pod["metadata"]["name"] in serving) == 2
    assert status["ready"] == "2/2"
    # The condition and the Event name the question, what was expected and the answer given.
    for text in (FAQ_QUESTION, "platform team", BROKEN_ANSWER):
        assert text in failed["message"], failed
    events = cluster.get(
        "events", "-n", golden_bot.namespace,
        "--field-selector", f"involvedObject.name={NAME},reason=GoldenQuestionsFailed",
    )["items"]  # fmt: skip
    assert any(
        event["type"] == "Warning"
        and FAQ_QUESTION in event["message"]
        and "platform team" in event["message"]
        and BROKEN_ANSWER in event["message"]
        for event in events
    ), events
    assert (condition(the_chatbot(cluster, golden_bot), "Ready") or {}).get(
        "reason"
    ) == "GoldenQuestionsFailed"


def test_a_fix_rolls_forward(cluster: Cluster, real_node: RealNode, golden_bot: GoldenBot) -> None:
    serving = {pod["metadata"]["name"] for pod in bot_pods(cluster, golden_bot) if is_ready(pod)}
    patch(
        cluster,
        golden_bot,
        {"systemPrompt": FIXED_PROMPT, "faq": [{"question": FAQ_QUESTION, "answer": FIXED_ANSWER}]},
    )
    wait_until(
        "the fixed revision on two Ready pods, golden questions passed",
        lambda: rolled_out(cluster, golden_bot, serving),
        timeout=ROLLOUT_TIMEOUT,
        interval=1,
    )
    assert FIXED_ANSWER in answer_through_the_service(
        cluster, real_node, golden_bot.namespace, NAME, FAQ_QUESTION
    )
    revisions = the_chatbot(cluster, golden_bot)["status"]["revisions"]
    # The broken revision never served, so it is not in the history.
    assert [r["promptFirstLine"] for r in revisions] == [FIRST_PROMPT, FIXED_PROMPT], revisions
    assert all(r["goldenQuestions"] == "Passed" for r in revisions), revisions


def test_a_rollback_restores_the_first_prompt_and_commit_although_the_branch_moved(
    cluster: Cluster, real_node: RealNode, pod_git_server: GitServer, golden_bot: GoldenBot
) -> None:
    ns = golden_bot.namespace
    second = pod_git_server.commit(
        golden_bot.repo, {"docs/widget.md": "# Widget colour\nThe widget colour is green since May.\n"}
    )
    serving = {pod["metadata"]["name"] for pod in bot_pods(cluster, golden_bot)}
    # Resolved again after refreshInterval (30 s); the operator looks every 30 s.
    wait_until(
        "the pods to roll to the moved branch's commit",
        lambda: rolled_out(cluster, golden_bot, serving, commit=second),
        timeout=ROLLOUT_TIMEOUT + 60,
        interval=2,
    )
    assert "green since May" in answer_through_the_service(cluster, real_node, ns, NAME, CORPUS_QUESTION)

    revisions = the_chatbot(cluster, golden_bot)["status"]["revisions"]
    (first,) = [r for r in revisions if r["promptFirstLine"] == FIRST_PROMPT]
    assert first["corpusCommit"] == golden_bot.first_commit, revisions
    # The documented command: kubectl patch chatbot X --type json -p "$(kubectl get configmap
    # X-revisions -o jsonpath='{.data.revision-N}')".
    restore = cluster.kubectl(
        "get",
        "configmap",
        f"{NAME}-revisions",
        "-n",
        ns,
        "-o",
        f"jsonpath={{.data.revision-{first['revision']}}}",
    ).stdout
    serving = {pod["metadata"]["name"] for pod in bot_pods(cluster, golden_bot)}
    cluster.kubectl("patch", "chatbot", NAME, "-n", ns, "--type", "json", "-p", restore)
    wait_until(
        "the pods to roll back to the first revision's commit",
        lambda: rolled_out(cluster, golden_bot, serving, commit=golden_bot.first_commit),
        timeout=ROLLOUT_TIMEOUT,
        interval=1,
    )
    # What users see: the first revision's FAQ answer and its corpus text, not the branch's.
    assert FIRST_ANSWER in answer_through_the_service(cluster, real_node, ns, NAME, FAQ_QUESTION)
    answer = answer_through_the_service(cluster, real_node, ns, NAME, CORPUS_QUESTION)
    assert "blue" in answer, answer
    assert "green" not in answer, answer
    bot = the_chatbot(cluster, golden_bot)
    assert bot["spec"]["systemPrompt"] == FIRST_PROMPT
    assert bot["spec"]["corpus"]["ref"] == golden_bot.first_commit
    assert bot["status"]["corpus"]["commit"] == golden_bot.first_commit
    latest = bot["status"]["revisions"][-1]
    assert latest["revision"] > first["revision"], bot["status"]["revisions"]
    assert (latest["promptFirstLine"], latest["corpusCommit"]) == (FIRST_PROMPT, golden_bot.first_commit)
