"""Golden questions through the operator's handlers, against an emulated API server: a revision
whose pod fails a golden question is reported by question, the old pods keep serving, and a fix
rolls forward."""

from typing import Any

from prometheus_client import REGISTRY
from tests.integration.operator.conftest import CHATBOTS, Cluster, eventually
from tests.integration.operator.test_handlers import DEPLOYMENT, chatbot, condition, pod_annotations

GOLDEN = [{"question": "When is support open?", "expect": {"contains": ["9am"]}}]
FAILURE = (
    "GoldenQuestionsFailed: golden question 'When is support open?' expected the text '9am'; "
    "the answer was 'We never close.'"
)


def deployment_status(generation: int, *, ready: int, updated: int, replicas: int) -> dict[str, Any]:
    return {"status": {"observedGeneration": generation, "replicas": replicas, "readyReplicas": ready,
                       "updatedReplicas": updated, "availableReplicas": ready}}  # fmt: skip


async def roll(cluster: Cluster, *, done: bool) -> dict[str, Any]:
    """The Deployment's status: rolled out, or its new surge pod not ready while two old ones serve."""
    deployment = await cluster.get(DEPLOYMENT)
    assert deployment is not None
    generation = deployment["metadata"]["generation"]
    status = (
        deployment_status(generation, ready=2, updated=2, replicas=2)
        if done
        else deployment_status(generation, ready=2, updated=1, replicas=3)
    )
    await cluster.patch(DEPLOYMENT + "/status", status)
    return deployment


def failing_pod(settings_hash: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "docs-assistant-new01",
            "namespace": "docs",
            "labels": {"app.kubernetes.io/managed-by": "chatbot-operator",
                       "app.kubernetes.io/instance": "docs-assistant"},
            "annotations": {"chatbot-operator.io/settings-hash": settings_hash},
        },
        "status": {"initContainerStatuses": [{"name": "golden-questions",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "message": FAILURE}}}]},
    }  # fmt: skip


def golden_metric(revision: str) -> float | None:
    return REGISTRY.get_sample_value(
        "chatbot_operator_golden_questions_passed",
        {"namespace": "docs", "chatbot": "docs-assistant", "revision": revision},
    )


async def test_a_failing_revision_is_explained_by_question_and_a_fix_rolls_forward(cluster: Cluster) -> None:
    await cluster.create(CHATBOTS, chatbot(goldenQuestions=GOLDEN))
    first = await eventually(lambda: cluster.get(DEPLOYMENT))
    init = [c["name"] for c in first["spec"]["template"]["spec"]["initContainers"]]
    assert init == ["golden-questions"]
    await roll(cluster, done=True)

    async def golden_is(status: str, reason: str) -> dict[str, Any] | None:
        found = await condition(cluster, "GoldenQuestionsPassed")
        return found if found and (found["status"], found["reason"]) == (status, reason) else None

    await eventually(lambda: golden_is("True", "GoldenQuestionsPassed"))
    first_revision = pod_annotations(first)["chatbot-operator.io/settings-hash"]
    assert golden_metric(first_revision) == 1

    # A prompt change: the new pod fails a golden question; the two old pods keep serving.
    await cluster.patch(f"{CHATBOTS}/docs-assistant", {"spec": {"systemPrompt": "You are terse."}})

    async def rolled() -> dict[str, Any] | None:
        deployment = await cluster.get(DEPLOYMENT)
        revision = pod_annotations(deployment or {"spec": {"template": {"metadata": {"annotations": {}}}}})
        return deployment if revision.get("chatbot-operator.io/settings-hash") != first_revision else None

    second = await eventually(rolled)
    second_revision = pod_annotations(second)["chatbot-operator.io/settings-hash"]
    await roll(cluster, done=False)

    async def reported() -> bool:
        body = await cluster.get(f"{CHATBOTS}/docs-assistant")
        return bool(body and body.get("status", {}).get("config", {}).get("revision") == second_revision)

    # In a cluster the check takes seconds, after the status names the new revision; a pod failing
    # before that is seen again at its next restart (CrashLoopBackOff sends a new pod event).
    await eventually(reported)
    await cluster.create("/api/v1/namespaces/docs/pods", failing_pod(second_revision))

    found = await eventually(lambda: golden_is("False", "GoldenQuestionsFailed"))
    assert "When is support open?" in found["message"]
    assert "'We never close.'" in found["message"]
    body = await cluster.get(f"{CHATBOTS}/docs-assistant")
    assert body is not None
    assert body["status"]["ready"] == "2/2"  # kubectl get: the old revision still serves
    assert body["status"]["goldenQuestions"]["failure"]["revision"] == second_revision
    ready = await condition(cluster, "Ready")
    assert ready is not None
    assert ready["reason"] == "GoldenQuestionsFailed"

    async def warned() -> dict[str, Any] | None:
        events = [
            r.data for r in cluster.emulator if r.url.path.endswith("/events") and isinstance(r.data, dict)
        ]
        warnings = [
            e for e in events if (e.get("type"), e.get("reason")) == ("Warning", "GoldenQuestionsFailed")
        ]
        return next((e for e in warnings if "When is support open?" in e.get("message", "")), None)

    await eventually(warned)
    assert golden_metric(second_revision) == 0
    assert golden_metric(first_revision) is None  # one series per ChatBot

    # The fix is a new revision: the failure no longer applies, and once it rolls out it passed.
    await cluster.patch(f"{CHATBOTS}/docs-assistant", {"spec": {"systemPrompt": "You are Docsy."}})
    await eventually(lambda: golden_is("Unknown", "GoldenQuestionsPending"))
    await roll(cluster, done=True)
    await eventually(lambda: golden_is("True", "GoldenQuestionsPassed"))
    body = await cluster.get(f"{CHATBOTS}/docs-assistant")
    assert body is not None
    assert "failure" not in body["status"]["goldenQuestions"]
