"""Status computed from observations: conditions that tell the truth."""

from datetime import UTC, datetime

from chatbot_operator.status import (
    FALSE,
    TRUE,
    UNKNOWN,
    Condition,
    list_transitions,
    merge_conditions,
    observe_rollout,
    summarize_ready,
)

OK = Condition(TRUE, "Resolved", "ok")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def make_deployment(
    *,
    desired: int = 2,
    ready: int = 2,
    updated: int = 2,
    replicas: int = 2,
    generation: int = 1,
    observed: int = 1,
    conditions: list[dict[str, str]] | None = None,
) -> dict:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": desired},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "conditions": conditions or [],
        },
    }


def test_all_replicas_ready_and_updated_is_available_and_complete() -> None:
    rollout = observe_rollout(make_deployment())
    assert (rollout.desired, rollout.replicas, rollout.ready) == (2, 2, 2)
    assert rollout.available == Condition(TRUE, "Available", "2/2 bot replicas are ready.")
    assert rollout.progressing.reason == "RolloutComplete"
    ready = summarize_ready(OK, OK, rollout.available, rollout.progressing)
    assert (ready.status, ready.reason) == (TRUE, "Available")


def test_missing_deployment_is_not_available() -> None:
    rollout = observe_rollout(None)
    assert rollout.available.status == FALSE
    assert rollout.available.reason == "DeploymentNotCreated"


def test_new_replica_set_rolling_out_is_progressing_and_not_ready() -> None:
    rollout = observe_rollout(make_deployment(updated=1, replicas=3, generation=2, observed=2))
    assert rollout.progressing.status == TRUE
    assert rollout.progressing.reason == "RollingOut"
    assert summarize_ready(OK, OK, rollout.available, rollout.progressing).reason == "RollingOut"


def test_unobserved_generation_counts_as_rolling_out() -> None:
    assert observe_rollout(make_deployment(generation=3, observed=2)).progressing.status == TRUE


def test_too_few_ready_replicas_is_unavailable() -> None:
    rollout = observe_rollout(make_deployment(ready=1))
    ready = summarize_ready(OK, OK, rollout.available, rollout.progressing)
    assert (ready.status, ready.reason) == (FALSE, "MinimumReplicasUnavailable")
    assert "1/2" in ready.message


def test_scaled_to_zero_is_available() -> None:
    rollout = observe_rollout(make_deployment(desired=0, ready=0, updated=0, replicas=0))
    assert rollout.available.reason == "ScaledToZero"
    assert summarize_ready(OK, OK, rollout.available, rollout.progressing).status == TRUE


def test_stalled_rollout_is_reported() -> None:
    stalled = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "slow"}
    ]
    rollout = observe_rollout(make_deployment(updated=1, conditions=stalled))
    assert rollout.progressing == Condition(FALSE, "ProgressDeadlineExceeded", "slow")


def test_ready_carries_the_first_failing_concern() -> None:
    rollout = observe_rollout(make_deployment())
    config = Condition(FALSE, "LLMKeySecretNotFound", "Secret docs/llm-key does not exist.")
    corpus = Condition(FALSE, "RepositoryNotFound", "no such repository")
    assert (
        summarize_ready(config, corpus, rollout.available, rollout.progressing).reason
        == "LLMKeySecretNotFound"
    )
    assert summarize_ready(OK, corpus, rollout.available, rollout.progressing).reason == "RepositoryNotFound"
    pending = Condition(UNKNOWN, "Reconciling", "")
    assert summarize_ready(OK, pending, rollout.available, rollout.progressing).status == UNKNOWN


def test_conditions_follow_api_conventions() -> None:
    current = {kind: OK for kind in ("Ready", "Available", "Progressing", "CorpusSynced", "ConfigResolved")}
    merged = merge_conditions([], current, generation=3, now=NOW)
    assert [c["type"] for c in merged] == [
        "Ready",
        "Available",
        "Progressing",
        "CorpusSynced",
        "ConfigResolved",
    ]
    for condition in merged:
        assert set(condition) == {
            "type",
            "status",
            "reason",
            "message",
            "observedGeneration",
            "lastTransitionTime",
        }
        assert condition["observedGeneration"] == 3
        assert condition["lastTransitionTime"] == "2026-11-21T12:00:00Z"


def test_last_transition_time_moves_only_when_status_changes() -> None:
    current = {kind: OK for kind in ("Ready", "Available", "Progressing", "CorpusSynced", "ConfigResolved")}
    first = merge_conditions([], current, generation=1, now=NOW)
    later = datetime(2026, 11, 21, 13, 0, tzinfo=UTC)
    current["ConfigResolved"] = Condition(TRUE, "Resolved", "new message, same status")
    current["Ready"] = Condition(FALSE, "RollingOut", "1/2")
    second = merge_conditions(first, current, generation=2, now=later)
    by_type = {c["type"]: c for c in second}
    assert by_type["ConfigResolved"]["lastTransitionTime"] == "2026-11-21T12:00:00Z"
    assert by_type["Ready"]["lastTransitionTime"] == "2026-11-21T13:00:00Z"
    assert [c["type"] for c in list_transitions(first, second)] == ["Ready"]
