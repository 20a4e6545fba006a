"""The whole status as a plain dict: from observations, a Deployment and the last status."""

from datetime import UTC, datetime
from typing import Any

from chatbot_operator.status import (
    FALSE,
    TRUE,
    Condition,
    ConfigObservation,
    CorpusObservation,
    Event,
    build_events,
    build_status,
    has_reported,
    rebuild_status,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHATBOT: dict[str, Any] = {
    "metadata": {"name": "docs-assistant", "namespace": "docs", "generation": 3},
    "spec": {"model": "gpt-4o-mini", "replicas": 2, "service": {"port": 8000}},
}
RESOLVED = ConfigObservation(Condition(TRUE, "Resolved", "Settings resolved."))
NO_CORPUS = CorpusObservation(Condition(TRUE, "NoCorpus", "No corpus is configured."))
READY_DEPLOYMENT = {
    "metadata": {"generation": 1},
    "spec": {"replicas": 2},
    "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
               "availableReplicas": 2},
}  # fmt: skip


def status(body: dict[str, Any] = CHATBOT, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "deployment": READY_DEPLOYMENT, "corpus": NO_CORPUS, "config": RESOLVED, "revision": "abc123",
        "apply_error": None, "now": NOW,
    }  # fmt: skip
    return build_status(body, **{**arguments, **overrides})


def reasons(built: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: f"{c['status']}/{c['reason']}" for c in built["conditions"]}


def test_a_ready_bot_reports_its_replicas_endpoint_model_and_revision() -> None:
    built = status()
    assert reasons(built)["Ready"] == "True/Available"
    assert built["observedGeneration"] == 3
    assert (built["ready"], built["readyReplicas"]) == ("2/2", 2)
    assert built["endpoint"] == "http://docs-assistant.docs.svc:8000"
    assert built["selector"] == "app.kubernetes.io/name=chatbot,app.kubernetes.io/instance=docs-assistant"
    assert built["model"] == "gpt-4o-mini"
    assert built["config"] == {"revision": "abc123"}
    assert "corpus" not in built


def test_a_config_problem_is_the_ready_reason_and_keeps_the_last_revision() -> None:
    missing = ConfigObservation(Condition(FALSE, "LLMKeySecretNotFound", "Secret docs/llm does not exist."))
    body = {**CHATBOT, "status": {"config": {"revision": "old"}}}
    built = status(body, config=missing, revision=None)
    assert reasons(built)["Ready"] == "False/LLMKeySecretNotFound"
    assert built["config"] == {"revision": "old"}


def test_an_apply_error_overrides_ready() -> None:
    built = status(apply_error=Condition(FALSE, "ApplyFailed", "The Service was rejected: port taken"))
    assert reasons(built)["Ready"] == "False/ApplyFailed"
    assert reasons(built)["Available"] == "True/Available"


def test_the_corpus_commit_and_a_fetch_failure_are_reported() -> None:
    failure = {"commit": COMMIT, "reason": "CorpusTooLarge", "message": "over 1 MiB", "source": "s"}
    corpus = CorpusObservation(
        Condition(FALSE, "CorpusTooLarge", "over 1 MiB"), COMMIT, "https://git.example/d.git", "main",
        "2026-11-21T11:00:00Z", failure,
    )  # fmt: skip
    built = status(corpus=corpus)
    assert built["corpus"] == {
        "commit": COMMIT, "shortCommit": COMMIT[:7], "repo": "https://git.example/d.git", "ref": "main",
        "checkedAt": "2026-11-21T11:00:00Z", "fetchFailure": failure,
    }  # fmt: skip
    assert reasons(built)["Ready"] == "False/CorpusTooLarge"


def test_app_configuration_fields_appear_only_when_resolved() -> None:
    config = ConfigObservation(RESOLVED.condition, "2026-11-21T11:59:00Z", ("colour",), "gpt-4o")
    built = status(config=config)
    assert built["config"] == {
        "revision": "abc123",
        "resolvedAt": "2026-11-21T11:59:00Z",
        "unknownKeys": ["colour"],
    }
    assert built["model"] == "gpt-4o"


def test_a_watchers_rebuild_keeps_observations_and_the_observed_generation() -> None:
    first = status(deployment=None)
    assert reasons(first)["Ready"] == "False/DeploymentNotCreated"
    assert has_reported(first)
    assert not has_reported({})
    body = {**CHATBOT, "metadata": {**CHATBOT["metadata"], "generation": 4}, "status": first}
    rebuilt = rebuild_status(body, deployment=READY_DEPLOYMENT, now=NOW)
    assert reasons(rebuilt)["Ready"] == "True/Available"
    assert rebuilt["observedGeneration"] == 3  # generation 4 is for a reconcile to claim
    assert rebuilt["config"] == first["config"]


def test_events_announce_transitions_and_warn_of_failures() -> None:
    before = status(deployment=None)["conditions"]
    after = status()["conditions"]
    events = build_events(before, after)
    assert Event("Normal", "Available", "Ready: 2/2 bot replicas are ready.") in events
    assert {event.reason for event in events} == {"Available", "RolloutComplete"}
    assert build_events(after, after) == []
    # Losing the Deployment: a Warning for Ready and Available; Progressing False is no failure.
    lost = {(event.message.split(":")[0], event.type) for event in build_events(after, before)}
    assert lost == {("Ready", "Warning"), ("Available", "Warning"), ("Progressing", "Normal")}
