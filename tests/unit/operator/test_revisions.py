"""Revision history and rollback documents, as plain data."""

import json
from typing import Any

from chatbot_operator import revisions
from chatbot_operator.builders import Owner

COMMIT = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
SPEC: dict[str, Any] = {
    "systemPromptFrom": {"configMapKeyRef": {"name": "docs-prompt", "key": "prompt"}},
    "model": "gpt-4o",
    "replicas": 3,
    "generation": {"temperature": 0.2},
    "corpus": {"repo": "https://git.example/docs.git", "ref": "main", "paths": ["docs/"]},
    "goldenQuestions": [{"question": "Hours?", "expect": {"contains": ["9am"]}}],
}


def candidate(
    settings_revision: str = "rev-1", prompt: str = "You are Docsy.\nBe brief."
) -> revisions.Candidate:
    return revisions.build_candidate(
        SPEC,
        generation=4,
        settings_revision=settings_revision,
        model="gpt-4o",
        system_prompt=prompt,
        corpus_commit=COMMIT,
        app_configuration_revision=None,
    )


def restored(patch: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec after `kubectl patch --type json` and the API server's pruning of nulls."""
    result = dict(spec)
    for op in json.loads(patch):
        assert op["op"] == "add"
        result[op["path"].removeprefix("/spec/")] = op["value"]
    return {key: value for key, value in result.items() if value is not None}


def test_a_rollback_restores_the_prompt_inline_and_pins_the_served_commit() -> None:
    later = {**SPEC, "model": "gpt-4.1", "generation": {"temperature": 0.9, "topP": 0.5}, "greeting": "Yo!"}
    spec = restored(candidate().restore, later)
    assert spec["systemPrompt"] == "You are Docsy.\nBe brief."
    assert "systemPromptFrom" not in spec  # the ConfigMap may have changed since
    assert spec["model"] == "gpt-4o"
    assert spec["generation"] == {"temperature": 0.2}  # wholesale: topP added later is gone
    assert "greeting" not in spec  # absent in the revision: removed
    assert spec["corpus"] == {"repo": "https://git.example/docs.git", "ref": COMMIT, "paths": ["docs/"]}
    # Not what a revision served: left as they are now.
    assert spec["replicas"] == 3
    assert spec["goldenQuestions"] == SPEC["goldenQuestions"]


def test_a_prompt_too_long_to_inline_keeps_its_configmap_reference() -> None:
    long_prompt = "x" * (revisions.MAX_INLINE_PROMPT + 1)
    spec = restored(candidate(prompt=long_prompt).restore, SPEC)
    assert spec["systemPromptFrom"] == SPEC["systemPromptFrom"]
    assert "systemPrompt" not in spec


def test_a_served_revision_is_recorded_once_and_closes_the_previous_one() -> None:
    first = revisions.record_served([], candidate("rev-1"), "2026-12-04T22:00:00Z")
    assert first is not None
    (entry,) = first
    assert entry == {
        "revision": 1,
        "generation": 4,
        "model": "gpt-4o",
        "promptDigest": entry["promptDigest"],
        "promptFirstLine": "You are Docsy.",
        "settingsRevision": "rev-1",
        "corpusCommit": COMMIT,
        "servingFrom": "2026-12-04T22:00:00Z",
        "goldenQuestions": "Passed",
    }
    assert entry["promptDigest"].startswith("sha256:")
    assert revisions.record_served(first, candidate("rev-1"), "2026-12-04T22:05:00Z") is None
    second = revisions.record_served(first, candidate("rev-2"), "2026-12-04T22:10:00Z")
    assert second is not None
    assert [e["revision"] for e in second] == [1, 2]
    assert second[0]["servingUntil"] == "2026-12-04T22:10:00Z"
    assert "servingUntil" not in second[1]
    # Going back to rev-1 (a rollback) is a new number.
    third = revisions.record_served(second, candidate("rev-1"), "2026-12-04T22:20:00Z")
    assert third is not None
    assert [(e["revision"], e["settingsRevision"]) for e in third] == [
        (1, "rev-1"),
        (2, "rev-2"),
        (3, "rev-1"),
    ]


def test_the_history_keeps_the_last_ten_and_their_restore_documents() -> None:
    history: list[dict[str, Any]] = []
    stored: dict[str, str] = {}
    for number in range(1, 13):
        served = candidate(f"rev-{number}")
        recorded = revisions.record_served(history, served, f"2026-12-04T22:{number:02}:00Z")
        assert recorded is not None
        history = recorded
        stored = revisions.build_revisions_data(history, stored, served)
    assert [e["revision"] for e in history] == list(range(3, 13))
    assert sorted(stored) == sorted(f"revision-{n}" for n in range(3, 13))
    config_map = revisions.build_revisions_config_map(Owner("docs-assistant", "docs", "uid"), stored)
    assert config_map["metadata"]["name"] == "docs-assistant-revisions"
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == "uid"


def serving_status(
    revision: str, commit: str | None = COMMIT, reason: str = "RolloutComplete"
) -> dict[str, Any]:
    return {
        "conditions": [
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "False", "reason": reason},
        ],
        "config": {"revision": revision},
        "corpus": {"commit": commit},
    }


def test_only_a_completed_rollout_of_the_planned_revision_is_newly_served() -> None:
    assert revisions.newly_served(serving_status("rev-1"), candidate("rev-1"))
    assert not revisions.newly_served(serving_status("rev-1", reason="RollingOut"), candidate("rev-1"))
    assert not revisions.newly_served(serving_status("rev-0"), candidate("rev-1"))
    assert not revisions.newly_served(serving_status("rev-1", commit="f" * 40), candidate("rev-1"))
    assert not revisions.newly_served(serving_status("rev-1"), None)
