"""The corpus refresh on the real control plane (issue 5): a branch moves on a git server on
loopback → the new commit shows in status and the pods roll; no move → no roll; a ref that does
not exist → `CorpusSynced=False` / `RefNotFound` and an Event, and the pods keep the old commit.

The operator runs locally with the chart's ServiceAccount (operator_process.py), checking every
2 s which ChatBots are due; the ChatBots ask for the shortest refresh the CRD allows (30 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e.cluster import EXAMPLE_FILE, Cluster, condition, wait_until
from tests.e2e.rollouts import (
    CORPUS_COMMIT,
    get_chatbot,
    replica_sets,
    rolled_out,
    settled,
    template_annotations,
)
from tests.support.gitserver import GitServer, running_git_server

REFRESH_INTERVAL = "30s"
# One refresh interval, plus the operator's due-check period, the lookup and a busy machine.
REFRESH_WAIT = 90.0


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return {"CHATBOT_OPERATOR_REFRESH_CHECK_SECONDS": "2"}


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with running_git_server(tmp_path_factory.mktemp("git-rollout")) as server:
        yield server


# --- helpers --------------------------------------------------------------------------------------


def new_repo(server: GitServer, name: str) -> tuple[str, str]:
    """A repository of its own for one test: (http URL, head commit of main)."""
    commit = server.create_repo(
        name,
        {
            "README.md": "# chatbot-operator\nRuns chatbots declaratively.\n",
            "docs/install.md": "# Install\nRun `helm install chatbot-operator ./chart`.\n",
        },
    )
    return server.http_url(name), commit


def corpus_chatbot(repo_url: str) -> dict[str, Any]:
    """examples/chatbot.yaml, its corpus on the loopback git server, refreshed every 30 s."""
    chatbot: dict[str, Any] = yaml.safe_load(EXAMPLE_FILE.read_text())
    chatbot["spec"]["replicas"] = 1
    chatbot["spec"]["corpus"].update(repo=repo_url, ref="main", refreshInterval=REFRESH_INTERVAL)
    return chatbot


def corpus_status(chatbot: dict[str, Any]) -> dict[str, Any]:
    corpus: dict[str, Any] = chatbot.get("status", {}).get("corpus") or {}
    return corpus


def start_bot(cluster: Cluster, namespace: str, repo_url: str, commit: str) -> tuple[str, dict[str, Any]]:
    """Applies the ChatBot and waits until it serves `commit`; returns its name and Deployment."""
    chatbot = corpus_chatbot(repo_url)
    name: str = chatbot["metadata"]["name"]
    cluster.apply(chatbot, namespace=namespace)
    wait_until(
        f"status.corpus.commit to be {commit}",
        lambda: corpus_status(get_chatbot(cluster, namespace, name)).get("commit") == commit,
    )
    wait_until("the ChatBot to be Ready", lambda: settled(cluster, namespace, name))
    wait_until(
        f"the pods of commit {commit[:7]}",
        lambda: rolled_out(cluster, namespace, name, CORPUS_COMMIT, commit),
    )
    deployment: dict[str, Any] = cluster.get("deployment", name, "-n", namespace)
    return name, deployment


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.timeout(480)  # several bounded waits of a refresh interval each
def test_a_moved_branch_rolls_the_pods_and_an_unmoved_one_does_not(
    cluster: Cluster, bots: str, git_server: GitServer
) -> None:
    repo_url, first = new_repo(git_server, "moving")

    # (a) The branch head is pinned in status and in the pod template.
    name, deployment = start_bot(cluster, bots, repo_url, first)
    chatbot = get_chatbot(cluster, bots, name)
    assert corpus_status(chatbot)["commit"] == first
    assert corpus_status(chatbot)["shortCommit"] == first[:7]
    assert (condition(chatbot, "CorpusSynced") or {}).get("status") == "True"
    assert template_annotations(deployment)[CORPUS_COMMIT] == first
    assert len(replica_sets(cluster, bots, deployment)) == 1
    row = cluster.kubectl("get", "chatbot", name, "-n", bots, "--no-headers").stdout.split()
    assert first.startswith(row[3]), row

    # (b) A new commit on the branch: within a refresh the status shows it and a new ReplicaSet rolls.
    second = git_server.commit("moving", {"docs/upgrade.md": "# Upgrade\nRun `helm upgrade`.\n"})
    pushed = time.monotonic()
    wait_until(
        f"status.corpus.commit to move to {second}",
        lambda: corpus_status(get_chatbot(cluster, bots, name)).get("commit") == second,
        timeout=REFRESH_WAIT,
    )
    noticed = time.monotonic() - pushed
    wait_until("a second ReplicaSet", lambda: len(replica_sets(cluster, bots, deployment)) == 2)
    wait_until(
        f"the pods of commit {second[:7]}", lambda: rolled_out(cluster, bots, name, CORPUS_COMMIT, second)
    )
    rolled = cluster.get("deployment", name, "-n", bots)
    assert template_annotations(rolled)[CORPUS_COMMIT] == second
    assert rolled["metadata"]["generation"] > deployment["metadata"]["generation"]
    commits = sorted(template_annotations(rs)[CORPUS_COMMIT] for rs in replica_sets(cluster, bots, rolled))
    assert commits == sorted([first, second])
    chatbot = wait_until("the ChatBot to settle", lambda: settled(cluster, bots, name))
    assert (condition(chatbot, "CorpusSynced") or {}).get("status") == "True"
    print(f"new commit noticed {noticed:.1f}s after the push (refreshInterval {REFRESH_INTERVAL})")

    # (c) No new commit: after another refresh (checkedAt moves) nothing rolls.
    checked = corpus_status(chatbot)["checkedAt"]
    wait_until(
        "another corpus refresh (status.corpus.checkedAt to move)",
        lambda: corpus_status(get_chatbot(cluster, bots, name)).get("checkedAt") != checked,
        timeout=REFRESH_WAIT,
    )
    # checkedAt is written by the status patch, the last write of that reconcile: its apply is done.
    after = cluster.get("deployment", name, "-n", bots)
    assert after["metadata"]["generation"] == rolled["metadata"]["generation"]
    assert template_annotations(after) == template_annotations(rolled)
    assert len(replica_sets(cluster, bots, after)) == 2
    assert corpus_status(get_chatbot(cluster, bots, name))["commit"] == second


def test_a_ref_that_does_not_exist_is_ref_not_found_and_the_pods_keep_the_old_commit(
    cluster: Cluster, bots: str, git_server: GitServer
) -> None:
    repo_url, commit = new_repo(git_server, "pinned")
    name, deployment = start_bot(cluster, bots, repo_url, commit)
    sets_before = {rs["metadata"]["name"] for rs in replica_sets(cluster, bots, deployment)}

    cluster.kubectl(
        "patch",
        "chatbot",
        name,
        "-n",
        bots,
        "--type=merge",
        "-p",
        '{"spec":{"corpus":{"ref":"no-such-branch"}}}',
    )

    def ref_not_found() -> dict[str, Any] | None:
        chatbot = get_chatbot(cluster, bots, name)
        synced = condition(chatbot, "CorpusSynced") or {}
        return chatbot if synced.get("status") == "False" and synced.get("reason") == "RefNotFound" else None

    chatbot = wait_until("CorpusSynced=False with reason RefNotFound", ref_not_found)
    synced = condition(chatbot, "CorpusSynced") or {}
    assert "no-such-branch" in synced["message"], synced
    assert corpus_status(chatbot)["commit"] == commit, "status must still name the commit being served"

    def events() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = cluster.get(
            "events", "-n", bots, "--field-selector", f"involvedObject.name={name},reason=RefNotFound"
        )["items"]
        return found

    (event, *_) = wait_until("an Event with reason RefNotFound on the ChatBot", events)
    assert event["involvedObject"]["kind"] == "ChatBot"
    assert event["type"] == "Warning"
    assert "no-such-branch" in event["message"]

    # No rollout: not now, and not after the operator has looked the ref up twice more (it retries
    # a failing ref at every check, every 2 s here; a stalled operator fails this wait).
    lookups_before = len(git_server.http_requests)

    def looked_up_again() -> bool:
        later = git_server.http_requests[lookups_before:]
        return len([p for p, _ in later if p.startswith("/pinned.git/info/refs")]) >= 2

    wait_until("two more lookups of the missing ref", looked_up_again, timeout=60)
    after = cluster.get("deployment", name, "-n", bots)
    assert template_annotations(after)[CORPUS_COMMIT] == commit
    assert after["metadata"]["generation"] == deployment["metadata"]["generation"]
    assert {rs["metadata"]["name"] for rs in replica_sets(cluster, bots, after)} == sets_before
    assert (condition(get_chatbot(cluster, bots, name), "CorpusSynced") or {}).get("reason") == "RefNotFound"

    # Fixing the ref recovers without a rollout (the branch still points at the same commit).
    cluster.kubectl(
        "patch", "chatbot", name, "-n", bots, "--type=merge", "-p", '{"spec":{"corpus":{"ref":"main"}}}'
    )
    wait_until(
        "CorpusSynced=True again",
        lambda: (condition(get_chatbot(cluster, bots, name), "CorpusSynced") or {}).get("status") == "True",
    )
    after = cluster.get("deployment", name, "-n", bots)
    assert template_annotations(after)[CORPUS_COMMIT] == commit
    assert after["metadata"]["generation"] == deployment["metadata"]["generation"]
