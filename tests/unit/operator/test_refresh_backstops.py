"""What the refresh loop reconciles besides due refreshes: ChatBots whose event-driven work failed
(Kopf never retries an event handler, and the event does not come again: a Service deleted by hand
would stay deleted, a rollout's end would never reach status), and spec changes that have gone
unobserved for a whole refresh interval."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.memory_kube import MemoryKube

from chatbot_operator.builders import Owner
from chatbot_operator.config import OperatorSettings
from chatbot_operator.kube import CHATBOTS, KubeError, ResourcePath
from chatbot_operator.reconcile import STATUS_CONFLICT_ATTEMPTS, Reconciler

OWNER = Owner(name="docs-assistant", namespace="docs", uid="0b7e-uid")
CHATBOT = {
    "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid, "generation": 1},
    "spec": {"model": "gpt-4o-mini", "systemPrompt": "Be brief."},
    "status": {},
}
DEPLOYMENT = {"metadata": {"generation": 1}, "status": {"replicas": 1, "readyReplicas": 1}}
# What update_status_from_deployment needs to find: a status written by a full reconcile.
RECONCILED_STATUS = {
    "conditions": [
        {"type": kind, "status": "True", "reason": "Checked", "lastTransitionTime": "2026-11-22T12:00:00Z"}
        for kind in ("CorpusSynced", "ConfigResolved")
    ]
}


class FailingStatusKube(MemoryKube):
    """Status writes fail with `status` while `failures` lasts."""

    def __init__(self, status: int, failures: int) -> None:
        super().__init__()
        self.status, self.failures = status, failures
        key = (CHATBOTS.plural, OWNER.namespace, OWNER.name)
        self.objects[key] = {**CHATBOT, "status": RECONCILED_STATUS}

    def patch_status(self, *args: Any, **kwargs: Any) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise KubeError(self.status, "injected")


def reconciler(kube: MemoryKube, **options: Any) -> Reconciler:
    settings = OperatorSettings(refresh_check_seconds=30)
    return Reconciler(kube, settings, post_event=lambda *_: None, **options)


def test_a_status_update_that_failed_makes_the_chatbot_due_until_a_reconcile_succeeds() -> None:
    kube = FailingStatusKube(503, failures=1)
    chatbots = reconciler(kube)
    assert not chatbots.refresh_is_due(CHATBOT)  # no corpus, no App Configuration: never due by itself
    with pytest.raises(KubeError):
        chatbots.update_status_from_deployment(OWNER.namespace, OWNER.name, DEPLOYMENT)
    assert chatbots.refresh_is_due(CHATBOT)
    chatbots.reconcile_latest(OWNER.namespace, OWNER.name)
    assert not chatbots.refresh_is_due(CHATBOT)


def test_a_chatbot_that_kept_changing_is_due(caplog: pytest.LogCaptureFixture) -> None:
    kube = FailingStatusKube(409, failures=STATUS_CONFLICT_ATTEMPTS)
    chatbots = reconciler(kube)
    chatbots.update_status_from_deployment(OWNER.namespace, OWNER.name, DEPLOYMENT)
    assert "kept changing; the refresh loop retries" in caplog.text
    assert chatbots.refresh_is_due(CHATBOT)


def test_a_bad_request_is_not_retried() -> None:
    # A 4xx other than a conflict says the request itself is wrong: repeating it cannot help.
    kube = FailingStatusKube(422, failures=1)
    chatbots = reconciler(kube)
    with pytest.raises(KubeError):
        chatbots.update_status_from_deployment(OWNER.namespace, OWNER.name, DEPLOYMENT)
    assert not chatbots.refresh_is_due(CHATBOT)


def test_a_failure_during_a_reconcile_outlives_it() -> None:
    # The reconcile read its inputs before the failure: it may not have seen what the failed work saw.
    kube = MemoryKube()
    chatbots = reconciler(kube)

    class FailsMidway(MemoryKube):
        def get(self, path: ResourcePath, namespace: str, name: str) -> dict[str, Any] | None:
            if path.plural == "deployments":
                chatbots.refresh.retry_later(OWNER.namespace, OWNER.name)  # another thread's event failed
            return super().get(path, namespace, name)

    chatbots.kube = FailsMidway()
    chatbots.refresh.retry_later(OWNER.namespace, OWNER.name)
    chatbots.reconcile(CHATBOT)
    assert chatbots.refresh_is_due(CHATBOT)
    chatbots.kube = kube
    chatbots.reconcile(CHATBOT)
    assert not chatbots.refresh_is_due(CHATBOT)


def test_a_deleted_chatbot_is_forgotten() -> None:
    chatbots = reconciler(MemoryKube())
    chatbots.refresh.retry_later(OWNER.namespace, OWNER.name)
    chatbots.forget(OWNER.namespace, OWNER.name)
    assert not chatbots.refresh_is_due(CHATBOT)


def lagging(generation: int, observed: int | None) -> dict[str, Any]:
    status = {} if observed is None else {"observedGeneration": observed}
    return {
        "metadata": {**CHATBOT["metadata"], "generation": generation},
        "spec": CHATBOT["spec"],
        "status": status,
    }


def test_a_spec_change_unobserved_for_a_refresh_interval_is_due() -> None:
    clock = [datetime(2026, 11, 22, 12, 0, tzinfo=UTC)]
    chatbots = reconciler(MemoryKube(), now=lambda: clock[0])
    assert not chatbots.refresh_is_due(lagging(2, 1))  # first seen: Kopf's handler may be on it
    clock[0] += timedelta(seconds=29)
    assert not chatbots.refresh_is_due(lagging(2, 1))
    clock[0] += timedelta(seconds=1)
    assert chatbots.refresh_is_due(lagging(2, 1))
    assert not chatbots.refresh_is_due(lagging(2, 2))  # observed: the wait starts over next time
    assert not chatbots.refresh_is_due(lagging(3, 2))


def test_a_chatbot_never_reconciled_is_left_to_kopf() -> None:
    # A new fleet waits in Kopf's create queue; a second reconcile from the refresh loop would only
    # add writes.
    clock = [datetime(2026, 11, 22, 12, 0, tzinfo=UTC)]
    chatbots = reconciler(MemoryKube(), now=lambda: clock[0])
    assert not chatbots.refresh_is_due(lagging(1, None))
    clock[0] += timedelta(hours=1)
    assert not chatbots.refresh_is_due(lagging(1, None))


def test_the_refresh_loops_snapshot_carries_what_the_backstop_reads() -> None:
    # The loop sees ChatBots only through refresh.snapshot: without the generations in it, the
    # backstop would never fire.
    from chatbot_operator.refresh import snapshot

    body = lagging(2, 1)
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    body["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    clock = [datetime(2026, 11, 22, 12, 0, tzinfo=UTC)]
    chatbots = reconciler(MemoryKube(), now=lambda: clock[0])
    assert not chatbots.refresh_is_due(snapshot(body))
    clock[0] += timedelta(seconds=30)
    assert chatbots.refresh_is_due(snapshot(body))


@pytest.mark.parametrize(
    ("spec", "secret"),
    [
        ({"llm": {"provider": "openai", "apiKeySecretRef": {"name": "llm-key", "key": "apiKey"}}}, "llm-key"),
        ({"auth": {"apiKeysSecretRef": {"name": "bot-keys"}}}, "bot-keys"),
    ],
)
def test_a_chatbot_waiting_for_its_secret_is_due_until_the_secret_exists(
    spec: dict[str, Any], secret: str
) -> None:
    # Users' Secrets are not watched: one created after its ChatBot sends the operator no event.
    kube = MemoryKube()
    chatbot = {**CHATBOT, "spec": {**CHATBOT["spec"], **spec}}
    kube.objects[(CHATBOTS.plural, OWNER.namespace, OWNER.name)] = chatbot
    chatbots = reconciler(kube)
    chatbots.reconcile(chatbot)
    assert "Deployment" not in kube.applied
    assert chatbots.refresh_is_due(chatbot)
    chatbots.reconcile_latest(OWNER.namespace, OWNER.name)
    assert chatbots.refresh_is_due(chatbot)  # still missing: looked at again at the next check
    kube.objects[("secrets", OWNER.namespace, secret)] = {"data": {"apiKey": "c2stc2VjcmV0"}}
    chatbots.reconcile_latest(OWNER.namespace, OWNER.name)
    assert "Deployment" in kube.applied
    assert not chatbots.refresh_is_due(chatbot)


NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CORPUS_STATUS = {"repo": "https://git.example/docs.git", "ref": "main", "commit": "c" * 40}


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ({"corpus": {"repo": "https://git.example/docs.git"}}, {}),  # never resolved
        (
            {"corpus": {"repo": "https://git.example/docs.git"}},
            {"corpus": {**CORPUS_STATUS}},
        ),  # unreadable time
        (
            {"corpus": {"repo": "https://git.example/other.git"}},
            {"corpus": {**CORPUS_STATUS}},
        ),  # repo changed
        ({"systemPromptFrom": {"configMapKeyRef": {"name": "prompts", "key": "docs"}}}, {}),
        ({"appConfiguration": {"endpoint": "https://store.azconfig.io", "selectors": []}}, {}),
    ],
)
def test_the_snapshot_the_handlers_keep_is_due_exactly_when_the_chatbot_is(
    spec: dict[str, Any], status: dict[str, Any]
) -> None:
    from chatbot_operator.refresh import RefreshQueue, snapshot

    body = {
        "metadata": {**CHATBOT["metadata"], "managedFields": [{"manager": "kubectl"}]},
        "spec": {**CHATBOT["spec"], **spec, "faq": [{"question": "q", "answer": "a"}]},
        "status": {**status, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    queue = RefreshQueue(refresh_check_seconds=30)
    assert queue.is_due(body, NOW, app_configuration_read_at=None)
    assert queue.is_due(snapshot(body), NOW, app_configuration_read_at=None)
    settled = {**body, "spec": CHATBOT["spec"]}
    assert not queue.is_due(snapshot(settled), NOW, app_configuration_read_at=None)
