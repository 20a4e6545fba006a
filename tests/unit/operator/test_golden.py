"""Golden questions, operator side: the init container, the failure a pod reports, and status."""

from datetime import UTC, datetime
from typing import Any

from chatbot_operator import builders, golden, naming
from chatbot_operator.builders import Owner
from chatbot_operator.status import (
    FALSE,
    TRUE,
    Condition,
    ConfigObservation,
    CorpusObservation,
    build_events,
    build_status,
    rebuild_status,
)

OWNER = Owner(name="docs-assistant", namespace="docs", uid="uid")
COMMIT = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
NOW = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)
GOLDEN = [
    {"question": "When is support open?", "expect": {"faqAnswer": True}},
    {"question": "What is the CEO's salary?", "expect": {"fallback": True}},
]
SPEC: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "replicas": 2,
    "corpus": {"repo": "https://git.example/docs.git"},
    "goldenQuestions": GOLDEN,
}
FAILURE_MESSAGE = (
    "golden question 'When is support open?' expected the FAQ answer 'Nine to five.'; "
    "the answer was 'Always.'"
)


def pod_spec(spec: dict[str, Any]) -> dict[str, Any]:
    deployment = builders.build_deployment(
        OWNER, spec, image="bot:1", settings_hash="rev-2", corpus_commit=COMMIT, llm_key=None
    )
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def test_golden_questions_are_asked_after_the_corpus_fetch_with_the_bot_containers_settings() -> None:
    pod = pod_spec(SPEC)
    corpus_init, golden_init = pod["initContainers"]
    (bot,) = pod["containers"]
    assert (corpus_init["name"], golden_init["name"]) == ("corpus", golden.INIT_CONTAINER)
    assert golden_init["command"] == ["python", "-m", "chatbot_server.golden_check"]
    assert golden_init["image"] == bot["image"]
    assert golden_init["volumeMounts"] == bot["volumeMounts"]
    assert all(variable in golden_init["env"] for variable in bot["env"])
    assert golden_init["securityContext"] == bot["securityContext"]
    assert "readinessProbe" not in golden_init


def test_a_chatbot_without_golden_questions_gets_no_extra_container() -> None:
    pod = pod_spec({**SPEC, "goldenQuestions": []})
    assert [c["name"] for c in pod["initContainers"]] == ["corpus"]
    assert "CHATBOT_VECTORS_DIR" not in {e["name"] for e in pod["containers"][0]["env"]}


def test_the_golden_check_hands_its_vectors_to_the_bot_through_the_pods_tmp_volume() -> None:
    pod = pod_spec(SPEC)
    _, golden_init = pod["initContainers"]
    (bot,) = pod["containers"]
    for container in (golden_init, bot):
        assert {"name": "CHATBOT_VECTORS_DIR", "value": "/tmp/chatbot-vectors"} in container["env"]
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
        assert not tmp.get("readOnly")
    # One volume for the pod, so what the init container writes is there for the bot.
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume


def failed_pod(message: str, exit_code: int = 1, *, settings_hash: str = "rev-2") -> dict[str, Any]:
    return {
        "metadata": {
            "annotations": {
                naming.ANNOTATION_SETTINGS_HASH: settings_hash,
                naming.ANNOTATION_CORPUS_COMMIT: COMMIT,
            }
        },
        "status": {
            "initContainerStatuses": [
                {"name": "corpus", "state": {"terminated": {"exitCode": 0}}},
                {
                    "name": golden.INIT_CONTAINER,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": exit_code, "message": message}},
                },
            ]
        },
    }


def test_a_pods_failed_golden_check_is_read_from_its_termination_message() -> None:
    failure = golden.golden_failure_from_pod(failed_pod(f"GoldenQuestionsFailed: {FAILURE_MESSAGE}"))
    assert failure == golden.GoldenFailure("GoldenQuestionsFailed", FAILURE_MESSAGE, "rev-2", COMMIT)


def test_a_crash_without_a_message_says_where_to_look() -> None:
    failure = golden.golden_failure_from_pod(failed_pod("", exit_code=137))
    assert failure is not None
    assert failure.reason == "GoldenQuestionsError"
    assert "exit code 137" in failure.message
    assert "-c golden-questions" in failure.message


def test_a_pod_whose_golden_check_passed_or_runs_reports_nothing() -> None:
    pod = failed_pod("x")
    status = pod["status"]["initContainerStatuses"][1]
    status["state"] = {"terminated": {"exitCode": 0}}
    assert golden.golden_failure_from_pod(pod) is None
    assert golden.golden_failure_from_pod({"status": {}}) is None


# --- status: the plan of a failing revision --------------------------------------------------------

SERVING = {  # the old revision's two pods serve; the new one's surge pod is not ready
    "metadata": {"generation": 2},
    "spec": {"replicas": 2},
    "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 2, "updatedReplicas": 1,
               "availableReplicas": 2},
}  # fmt: skip
ROLLED = {
    "metadata": {"generation": 2},
    "spec": {"replicas": 2},
    "status": {"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
               "availableReplicas": 2},
}  # fmt: skip
CORPUS = CorpusObservation(
    Condition(TRUE, "Synced", "Commit synced."), COMMIT, "https://git.example/docs.git"
)
CONFIG = ConfigObservation(Condition(TRUE, "Resolved", "Settings resolved."))


def chatbot(status: dict[str, Any] | None = None, spec: dict[str, Any] = SPEC) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "docs-assistant", "namespace": "docs", "generation": 4}}
    body["spec"] = spec
    if status is not None:
        body["status"] = status
    return body


def reconciled(body: dict[str, Any], deployment: dict[str, Any], revision: str = "rev-2") -> dict[str, Any]:
    return build_status(
        body,
        deployment=deployment,
        corpus=CORPUS,
        config=CONFIG,
        revision=revision,
        apply_error=None,
        now=NOW,
    )


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_a_failing_revision_is_reported_by_question_while_the_old_pods_keep_serving() -> None:
    rolling = reconciled(chatbot(), SERVING)
    assert conditions(rolling)[golden.CONDITION]["reason"] == golden.PENDING
    pod = failed_pod(f"GoldenQuestionsFailed: {FAILURE_MESSAGE}")
    record = golden.golden_failure_from_pod(pod)
    assert record is not None
    failed = rebuild_status(chatbot(rolling), deployment=SERVING, golden_failure=record.as_status(), now=NOW)

    by_type = conditions(failed)
    assert by_type[golden.CONDITION]["status"] == FALSE
    assert by_type[golden.CONDITION]["reason"] == "GoldenQuestionsFailed"
    assert FAILURE_MESSAGE in by_type[golden.CONDITION]["message"]
    assert by_type["Ready"]["reason"] == "GoldenQuestionsFailed"
    assert failed["ready"] == "2/2"  # kubectl get still shows the serving replicas
    assert failed["goldenQuestions"] == {"questions": 2, "failure": record.as_status()}
    events = build_events(rolling["conditions"], failed["conditions"])
    (warning,) = [e for e in events if e.type == "Warning" and e.message.startswith(golden.CONDITION)]
    assert warning.reason == "GoldenQuestionsFailed"
    assert "When is support open?" in warning.message
    assert "'Always.'" in warning.message

    # A later reconcile of the same revision keeps the failure; a fixed spec (a new revision) drops it.
    assert conditions(reconciled(chatbot(failed), SERVING))[golden.CONDITION]["status"] == FALSE
    fixed = reconciled(chatbot(failed), SERVING, revision="rev-3")
    assert conditions(fixed)[golden.CONDITION]["reason"] == golden.PENDING
    assert "failure" not in fixed["goldenQuestions"]
    passed = reconciled(chatbot(fixed), ROLLED, revision="rev-3")
    assert conditions(passed)[golden.CONDITION]["status"] == TRUE
    assert conditions(passed)["Ready"]["status"] == TRUE


def test_a_chatbot_without_golden_questions_has_no_golden_condition_or_status() -> None:
    status = reconciled(chatbot(spec={**SPEC, "goldenQuestions": []}), ROLLED)
    assert golden.CONDITION not in conditions(status)
    assert "goldenQuestions" not in status


def test_the_golden_check_embeds_on_as_many_cores_as_its_cpu_limit_allows() -> None:
    pod = pod_spec(SPEC)  # hybrid, the default mode, with the bundled model
    corpus_init, golden_init = pod["initContainers"]
    (bot,) = pod["containers"]
    threads = {
        "name": "CHATBOT_EMBEDDING_THREADS",
        # No containerName: the kubelet reads the container's own limit (rounded up to whole cores),
        # or the node's allocatable CPUs when it has none.
        "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}},
    }
    assert threads in golden_init["env"]
    # The bot embeds on one thread (threads keep memory after the corpus; the check's process ends).
    for container in (corpus_init, bot):
        assert "CHATBOT_EMBEDDING_THREADS" not in {e["name"] for e in container.get("env", [])}


def test_no_embedding_threads_where_the_bundled_model_is_not_used() -> None:
    keyword = pod_spec({**SPEC, "retrieval": {"mode": "keyword"}})
    provider = pod_spec(
        {**SPEC, "retrieval": {"mode": "hybrid", "embeddings": {"model": "text-embedding-3-small"}}}
    )
    for pod in (keyword, provider):
        assert "CHATBOT_EMBEDDING_THREADS" not in {e["name"] for e in pod["initContainers"][1]["env"]}
