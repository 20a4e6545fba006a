"""Revision history and rollback through the operator's handlers, against an emulated API server:
each served revision is recorded with its restore document, and applying one returns the ChatBot
to it (prompt inlined, corpus pinned to the served commit) as a new revision."""

import json
from typing import Any

from tests.integration.operator.conftest import CHATBOTS, Cluster, eventually
from tests.integration.operator.test_golden_gate import roll
from tests.integration.operator.test_handlers import DEPLOYMENT, chatbot, pod_annotations
from tests.support.gitserver import GitServer

REVISIONS = "/api/v1/namespaces/docs/configmaps/docs-assistant-revisions"
PROMPT_CONFIG_MAP = "/api/v1/namespaces/docs/configmaps/docs-prompt"


async def history(cluster: Cluster) -> list[dict[str, Any]]:
    body = await cluster.get(f"{CHATBOTS}/docs-assistant")
    return list(((body or {}).get("status") or {}).get("revisions") or [])


async def served(cluster: Cluster, count: int) -> list[dict[str, Any]]:
    async def recorded() -> list[dict[str, Any]] | None:
        entries = await history(cluster)
        return entries if len(entries) == count else None

    found: list[dict[str, Any]] = await eventually(recorded)
    return found


async def template_revision(cluster: Cluster, other_than: str | None = None) -> str:
    async def changed() -> str | None:
        deployment = await cluster.get(DEPLOYMENT)
        if deployment is None:
            return None
        revision = pod_annotations(deployment)["chatbot-operator.io/settings-hash"]
        return revision if revision != other_than else None

    found: str = await eventually(changed)
    return found


async def test_each_served_revision_is_recorded_and_a_rollback_restores_one_as_a_new_revision(
    cluster: Cluster, git_server: GitServer
) -> None:
    first_commit = git_server.create_repo("docs", {"guide.md": "# Guide"})
    await cluster.create(
        "/api/v1/namespaces/docs/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "docs-prompt", "namespace": "docs"},
         "data": {"prompt": "You are Docsy.\nCite your sources."}},
    )  # fmt: skip
    spec = {"systemPromptFrom": {"configMapKeyRef": {"name": "docs-prompt", "key": "prompt"}}}
    body = chatbot(corpus={"repo": git_server.git_url("docs"), "refreshInterval": "1s"})
    body["spec"].pop("systemPrompt")
    body["spec"].update(spec)
    await cluster.create(CHATBOTS, body)
    first = await template_revision(cluster)
    await roll(cluster, done=True)
    (one,) = await served(cluster, 1)
    assert one["revision"] == 1
    assert one["settingsRevision"] == first
    assert one["corpusCommit"] == first_commit
    assert one["promptFirstLine"] == "You are Docsy."
    assert one["model"] == "gpt-4o-mini"
    assert one["goldenQuestions"] == "NoGoldenQuestions"

    # The model changes and the branch moves: revision 2.
    second_commit = git_server.commit("docs", {"guide.md": "# Guide, rewritten"})
    await cluster.patch(f"{CHATBOTS}/docs-assistant", {"spec": {"model": "gpt-4o"}})
    second = await template_revision(cluster, other_than=first)

    async def on_the_moved_branch() -> bool:
        deployment = await cluster.get(DEPLOYMENT)
        return bool(
            deployment and pod_annotations(deployment)["chatbot-operator.io/corpus-commit"] == second_commit
        )

    await eventually(on_the_moved_branch)  # the refresh loop's next check resolves the branch
    await roll(cluster, done=True)

    async def on_the_new_commit() -> list[dict[str, Any]] | None:
        entries = await history(cluster)
        return entries if entries and entries[-1].get("corpusCommit") != first_commit else None

    entries = await eventually(on_the_new_commit)
    assert entries[-1]["model"] == "gpt-4o"
    assert entries[-2]["servingUntil"] == entries[-1]["servingFrom"]
    restore_documents = await cluster.get(REVISIONS)
    assert restore_documents is not None
    assert {f"revision-{e['revision']}" for e in entries} == set(restore_documents["data"])
    # The prompt's ConfigMap changes too: the rollback must not depend on it.
    await cluster.patch(PROMPT_CONFIG_MAP, {"data": {"prompt": "You are rude."}})

    # Rollback to revision 1: the user applies its restore document (kubectl patch --type json).
    ops = json.loads(restore_documents["data"]["revision-1"])
    restored = {op["path"].removeprefix("/spec/"): op["value"] for op in ops}
    await cluster.patch(f"{CHATBOTS}/docs-assistant", {"spec": restored})
    chatbot_now = await cluster.get(f"{CHATBOTS}/docs-assistant")
    assert chatbot_now is not None
    assert chatbot_now["spec"]["systemPrompt"] == "You are Docsy.\nCite your sources."
    assert chatbot_now["spec"]["corpus"]["ref"] == first_commit
    assert chatbot_now["spec"]["model"] == "gpt-4o-mini"

    async def back_on_revision_one() -> dict[str, Any] | None:
        deployment = await cluster.get(DEPLOYMENT)
        annotations = pod_annotations(deployment) if deployment else {}
        if annotations.get("chatbot-operator.io/corpus-commit") != first_commit:
            return None
        return deployment if annotations["chatbot-operator.io/settings-hash"] != second else None

    await eventually(back_on_revision_one)
    await roll(cluster, done=True)

    async def rolled_back() -> list[dict[str, Any]] | None:
        entries = await history(cluster)
        return (
            entries if entries and entries[-1]["corpusCommit"] == first_commit and len(entries) > 1 else None
        )

    entries = await eventually(rolled_back)
    newest = entries[-1]
    assert newest["revision"] == entries[-2]["revision"] + 1  # a new revision, not a rewrite of 1
    assert newest["model"] == "gpt-4o-mini"
    assert newest["promptDigest"] == one["promptDigest"]
    assert newest["settingsRevision"] == one["settingsRevision"]
