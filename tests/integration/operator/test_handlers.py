"""The operator's handlers against an emulated API server: what a user of kubectl would see."""

import base64
from typing import Any

import kmock
from prometheus_client import REGISTRY
from tests.integration.operator.conftest import CHATBOTS, Cluster, eventually
from tests.support.gitserver import GitServer

DEPLOYMENT = "/apis/apps/v1/namespaces/docs/deployments/docs-assistant"
SERVICE = "/api/v1/namespaces/docs/services/docs-assistant"
CONFIG_MAP = "/api/v1/namespaces/docs/configmaps/docs-assistant-config"


def resync_counts() -> tuple[float, float]:
    """Successful reconciles and finished refresh-loop rounds so far (the operator's own metrics)."""
    reconciles = REGISTRY.get_sample_value("chatbot_operator_reconciles_total", {"outcome": "success"})
    rounds = REGISTRY.get_sample_value("chatbot_operator_refresh_checks_total")
    return reconciles or 0.0, rounds or 0.0


def chatbot(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "chatbot-operator.io/v1alpha1",
        "kind": "ChatBot",
        "metadata": {"name": "docs-assistant", "namespace": "docs"},
        "spec": {"systemPrompt": "You are Docsy.", "model": "gpt-4o-mini", "replicas": 2, **spec},
    }


def pod_annotations(deployment: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
    return annotations


async def condition(cluster: Cluster, kind: str) -> dict[str, Any] | None:
    body = await cluster.get(f"{CHATBOTS}/docs-assistant")
    for item in ((body or {}).get("status") or {}).get("conditions", []):
        if item["type"] == kind:
            return dict(item)
    return None


async def mark_deployment_ready(cluster: Cluster, replicas: int) -> None:
    deployment = await cluster.get(DEPLOYMENT)
    assert deployment is not None
    generation = deployment["metadata"]["generation"]
    status = {"observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
              "updatedReplicas": replicas, "availableReplicas": replicas}  # fmt: skip
    await cluster.patch(DEPLOYMENT + "/status", {"status": status})


async def test_create_makes_owned_deployment_service_and_config_map(cluster: Cluster) -> None:
    created = await cluster.create(CHATBOTS, chatbot())
    deployment = await eventually(lambda: cluster.get(DEPLOYMENT))
    service = await eventually(lambda: cluster.get(SERVICE))
    config_map = await eventually(lambda: cluster.get(CONFIG_MAP))
    for child in (deployment, service, config_map):
        (owner,) = child["metadata"]["ownerReferences"]
        assert owner["uid"] == created["metadata"]["uid"]
        assert owner["controller"] is True
    assert deployment["spec"]["replicas"] == 2
    assert '"system_prompt":"You are Docsy."' in config_map["data"]["settings.json"]
    # Before any pod is ready, status says why the bot is not Ready yet.
    ready = await eventually(lambda: condition(cluster, "Ready"))
    assert (ready["status"], ready["reason"]) == ("False", "MinimumReplicasUnavailable")
    body = await cluster.get(f"{CHATBOTS}/docs-assistant")
    assert body is not None
    assert body["status"]["endpoint"] == "http://docs-assistant.docs.svc:80"
    assert body["status"]["ready"] == "0/2"
    assert body["status"]["model"] == "gpt-4o-mini"  # the MODEL column


async def test_deployment_becoming_ready_turns_the_chatbot_ready(cluster: Cluster) -> None:
    await cluster.create(CHATBOTS, chatbot())
    await eventually(lambda: cluster.get(DEPLOYMENT))
    await mark_deployment_ready(cluster, 2)

    async def ready() -> bool:
        found = await condition(cluster, "Ready")
        return found is not None and found["status"] == "True"

    await eventually(ready)
    body = await cluster.get(f"{CHATBOTS}/docs-assistant")
    assert body is not None
    assert body["status"]["ready"] == "2/2"
    assert body["status"]["readyReplicas"] == 2
    reasons = {c["type"]: c["reason"] for c in body["status"]["conditions"]}
    assert reasons == {"Ready": "Available", "Available": "Available", "Progressing": "RolloutComplete",
                       "CorpusSynced": "NoCorpus", "ConfigResolved": "Resolved"}  # fmt: skip
    # Each transition was announced with an Event on the ChatBot.

    async def announced() -> bool:
        events = [
            r.data for r in cluster.emulator if r.url.path.endswith("/events") and isinstance(r.data, dict)
        ]
        return any(e.get("reason") == "Available" and e.get("type") == "Normal" for e in events)

    await eventually(announced)


async def test_prompt_change_rolls_the_pods_and_replicas_change_scales(cluster: Cluster) -> None:
    await cluster.create(CHATBOTS, chatbot())
    first = await eventually(lambda: cluster.get(DEPLOYMENT))
    first_hash = pod_annotations(first)["chatbot-operator.io/settings-hash"]

    await cluster.patch(f"{CHATBOTS}/docs-assistant", {"spec": {"systemPrompt": "You are Docsy, v2."}})

    async def rolled() -> dict[str, Any] | None:
        current = await cluster.get(DEPLOYMENT)
        changed = current and pod_annotations(current)["chatbot-operator.io/settings-hash"] != first_hash
        return current if changed else None

    await eventually(rolled)
    config_map = await cluster.get(CONFIG_MAP)
    assert config_map is not None
    assert "You are Docsy, v2." in config_map["data"]["settings.json"]

    await cluster.patch(f"{CHATBOTS}/docs-assistant", {"spec": {"replicas": 4}})

    async def scaled() -> bool:
        current = await cluster.get(DEPLOYMENT)
        return bool(current and current["spec"]["replicas"] == 4)

    await eventually(scaled)
    # Scaling alone does not roll the pods.
    current = await cluster.get(DEPLOYMENT)
    assert current is not None
    assert pod_annotations(current)["chatbot-operator.io/settings-hash"] != first_hash


async def test_unchanged_chatbot_makes_no_writes_on_resync_and_restart(cluster: Cluster) -> None:
    await cluster.create(CHATBOTS, chatbot())
    await eventually(lambda: cluster.get(DEPLOYMENT))
    await mark_deployment_ready(cluster, 2)
    await eventually(lambda: condition(cluster, "Ready"))

    async def settled() -> bool:
        found = await condition(cluster, "Ready")
        return bool(found and found["status"] == "True")

    await eventually(settled)
    await cluster.stop_operator()
    before = len(cluster.writes())
    reconciled, refreshed = resync_counts()
    await cluster.start_operator()

    # A resync marker: the resume reconcile has run, and two rounds of the refresh loop (every
    # second in these tests) after it. A stalled operator fails here.
    async def resynced() -> bool:
        now_reconciled, now_refreshed = resync_counts()
        return now_reconciled > reconciled and now_refreshed >= refreshed + 2

    await eventually(resynced)
    assert cluster.writes()[before:] == []


async def test_operator_restart_picks_up_changes_made_while_it_was_down(cluster: Cluster) -> None:
    await cluster.create(CHATBOTS, chatbot())
    await eventually(lambda: cluster.get(DEPLOYMENT))
    await cluster.stop_operator()
    # Changed in storage while the operator (and the test API front) is down.
    stored = cluster.emulator.objects[
        kmock.resource("chatbot-operator.io", "v1alpha1", "chatbots"), "docs", "docs-assistant"
    ]
    stored.patch({"spec": {"replicas": 3}, "metadata": {"generation": 2}})
    await cluster.start_operator()

    async def scaled() -> bool:
        current = await cluster.get(DEPLOYMENT)
        return bool(current and current["spec"]["replicas"] == 3)

    await eventually(scaled)


async def test_a_child_deleted_by_hand_is_recreated(cluster: Cluster) -> None:
    await cluster.create(CHATBOTS, chatbot())
    original = await eventually(lambda: cluster.get(SERVICE))
    await cluster.delete(SERVICE)
    recreated = await eventually(lambda: cluster.get(SERVICE))
    assert recreated["metadata"]["uid"] != original["metadata"]["uid"]


# More 503s than the operator's client absorbs by itself (1 try + 4 retries): the work done for the
# event fails outright, and the event does not come again.
OUTAGE_REQUESTS = 5


async def test_a_child_deleted_during_an_api_outage_is_put_back_after_it(cluster: Cluster) -> None:
    await cluster.create(CHATBOTS, chatbot())
    original = await eventually(lambda: cluster.get(SERVICE))
    outage = cluster.emulator.outages.add("PATCH", SERVICE, times=OUTAGE_REQUESTS)
    await cluster.delete(SERVICE)
    recreated = await eventually(lambda: cluster.get(SERVICE))
    assert outage.answered == OUTAGE_REQUESTS  # the first attempt really failed
    assert recreated["metadata"]["uid"] != original["metadata"]["uid"]


async def test_a_rollout_seen_during_an_api_outage_reaches_status_after_it(cluster: Cluster) -> None:
    await cluster.create(CHATBOTS, chatbot())

    async def handled() -> bool:
        # Kopf's own status write (its diff-base) comes after the handler: the outage is for ours.
        body = await cluster.get(f"{CHATBOTS}/docs-assistant")
        return bool(((body or {}).get("status") or {}).get("kopf", {}).get("diffBase"))

    await eventually(handled)
    outage = cluster.emulator.outages.add("PATCH", f"{CHATBOTS}/docs-assistant/status", times=OUTAGE_REQUESTS)
    await mark_deployment_ready(cluster, 2)

    async def ready() -> bool:
        found = await condition(cluster, "Ready")
        return found is not None and found["status"] == "True"

    await eventually(ready)
    assert outage.answered == OUTAGE_REQUESTS
    body = await cluster.get(f"{CHATBOTS}/docs-assistant")
    assert body is not None
    assert body["status"]["ready"] == "2/2"


async def test_drift_in_a_field_we_own_is_put_back(cluster: Cluster) -> None:
    await cluster.create(CHATBOTS, chatbot())
    await eventually(lambda: cluster.get(SERVICE))
    await cluster.patch(
        SERVICE, {"spec": {"type": "NodePort"}, "metadata": {"annotations": {"team": "docs"}}}
    )

    async def repaired() -> dict[str, Any] | None:
        current = await cluster.get(SERVICE)
        return current if current and current["spec"]["type"] == "ClusterIP" else None

    service = await eventually(repaired)
    assert service["metadata"]["annotations"]["team"] == "docs"  # someone else's field survives


async def test_missing_llm_key_secret_is_explained_in_status_without_a_deployment(cluster: Cluster) -> None:
    await cluster.create(
        CHATBOTS, chatbot(llm={"provider": "openai", "apiKeySecretRef": {"name": "llm-key", "key": "apiKey"}})
    )
    found = await eventually(lambda: condition(cluster, "ConfigResolved"))
    assert (found["status"], found["reason"]) == ("False", "LLMKeySecretNotFound")
    assert "docs/llm-key" in found["message"]
    assert await cluster.get(DEPLOYMENT) is None

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "llm-key", "namespace": "docs"},
              "data": {"apiKey": base64.b64encode(b"sk-secret-value").decode()}}  # fmt: skip
    await cluster.create("/api/v1/namespaces/docs/secrets", secret)
    # Recovery with no change to the ChatBot: the refresh loop looks for the Secret again.
    deployment = await eventually(lambda: cluster.get(DEPLOYMENT))
    resolved = await condition(cluster, "ConfigResolved")
    assert resolved is not None
    assert resolved["status"] == "True"
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "CHATBOT_LLM_API_KEY_FILE", "value": "/etc/chatbot/llm-api-key/apiKey"} in pod[
        "containers"
    ][0]["env"]
    assert {
        "name": "llm-api-key",
        "secret": {"secretName": "llm-key", "items": [{"key": "apiKey", "path": "apiKey"}]},
    } in pod["volumes"]
    for request in cluster.emulator:
        assert b"sk-secret-value" not in request.body or request.url.path.endswith("/secrets")


async def test_corpus_commit_is_pinned_in_the_pod_template_and_a_moved_branch_rolls_the_pods(
    cluster: Cluster, git_server: GitServer
) -> None:
    first = git_server.create_repo("docs", {"guide.md": "# Guide\nInstall with helm."})
    spec = {"repo": git_server.git_url("docs"), "ref": "main", "refreshInterval": "1s"}
    await cluster.create(CHATBOTS, chatbot(corpus=spec))
    deployment = await eventually(lambda: cluster.get(DEPLOYMENT))
    assert pod_annotations(deployment)["chatbot-operator.io/corpus-commit"] == first
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert init["name"] == "corpus"

    async def corpus_status() -> dict[str, Any] | None:
        body = await cluster.get(f"{CHATBOTS}/docs-assistant")
        return ((body or {}).get("status") or {}).get("corpus")

    reported = await eventually(corpus_status)
    assert (reported["commit"], reported["shortCommit"]) == (first, first[:7])
    settings_hash = pod_annotations(deployment)["chatbot-operator.io/settings-hash"]

    second = git_server.commit("docs", {"guide.md": "# Guide\nInstall with helm install."})

    async def rolled() -> dict[str, Any] | None:
        current = await cluster.get(DEPLOYMENT)
        moved = current and pod_annotations(current)["chatbot-operator.io/corpus-commit"] == second
        return current if moved else None

    current = await eventually(rolled)
    assert pod_annotations(current)["chatbot-operator.io/settings-hash"] == settings_hash

    async def second_reported() -> bool:
        found = await corpus_status()
        return bool(found and found["commit"] == second)

    await eventually(second_reported)


async def test_unreachable_corpus_is_explained_and_creates_no_deployment(
    cluster: Cluster, git_server: GitServer
) -> None:
    await cluster.create(CHATBOTS, chatbot(corpus={"repo": git_server.git_url("missing"), "ref": "main"}))
    found = await eventually(lambda: condition(cluster, "CorpusSynced"))
    assert (found["status"], found["reason"]) == ("False", "RepositoryNotFound")
    ready = await condition(cluster, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "RepositoryNotFound")
    assert await cluster.get(DEPLOYMENT) is None


async def test_a_corpus_the_init_container_cannot_fetch_is_explained_on_the_chatbot(
    cluster: Cluster, git_server: GitServer
) -> None:
    commit = git_server.create_repo("docs", {"guide.md": "# Guide"})
    await cluster.create(CHATBOTS, chatbot(corpus={"repo": git_server.git_url("docs"), "maxSizeMiB": 1}))
    await eventually(lambda: cluster.get(DEPLOYMENT))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "docs-assistant-abc12",
            "namespace": "docs",
            "labels": {"app.kubernetes.io/managed-by": "chatbot-operator",
                       "app.kubernetes.io/instance": "docs-assistant"},
            "annotations": {"chatbot-operator.io/corpus-commit": commit},
        },
        "status": {"initContainerStatuses": [{"name": "corpus", "state": {"terminated": {
            "exitCode": 1, "message": "CorpusTooLarge: over the 1 MiB limit (spec.corpus.maxSizeMiB)."}}}]},
    }  # fmt: skip
    await cluster.create("/api/v1/namespaces/docs/pods", pod)

    async def explained() -> dict[str, Any] | None:
        found = await condition(cluster, "CorpusSynced")
        return found if found and found["reason"] == "CorpusTooLarge" else None

    found = await eventually(explained)
    assert found["status"] == "False"
    assert "maxSizeMiB" in found["message"]
    ready = await condition(cluster, "Ready")
    assert ready is not None
    assert ready["reason"] == "CorpusTooLarge"

    # A new commit is a new chance: the failure no longer applies.
    git_server.commit("docs", {"guide.md": "# Smaller guide"})
    await cluster.patch(f"{CHATBOTS}/docs-assistant", {"spec": {"corpus": {"refreshInterval": "1s"}}})

    async def synced() -> bool:
        now = await condition(cluster, "CorpusSynced")
        return bool(now and now["status"] == "True")

    await eventually(synced)


async def test_a_rotated_llm_key_rolls_no_pod_and_is_never_revealed(cluster: Cluster) -> None:
    # The pods mount the Secret: the kubelet updates the file and the bot reads the new key.
    secret_path = "/api/v1/namespaces/docs/secrets"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "llm-key", "namespace": "docs"},
              "data": {"apiKey": base64.b64encode(b"sk-first-key").decode()}}  # fmt: skip
    await cluster.create(secret_path, secret)
    await cluster.create(
        CHATBOTS, chatbot(llm={"provider": "openai", "apiKeySecretRef": {"name": "llm-key", "key": "apiKey"}})
    )
    first = await eventually(lambda: cluster.get(DEPLOYMENT))
    await cluster.patch(
        f"{secret_path}/llm-key", {"data": {"apiKey": base64.b64encode(b"sk-second-key").decode()}}
    )
    # A reconcile after the rotation (a scale, which leaves the pod template alone).
    await cluster.patch(f"{CHATBOTS}/docs-assistant", {"spec": {"replicas": 3}})

    async def scaled() -> dict[str, Any] | None:
        current = await cluster.get(DEPLOYMENT)
        return current if current and current["spec"]["replicas"] == 3 else None

    assert (await eventually(scaled))["spec"]["template"] == first["spec"]["template"]
    for request in cluster.emulator:
        if not request.url.path.startswith(secret_path):
            assert b"sk-first-key" not in request.body
            assert b"sk-second-key" not in request.body


async def test_a_missing_fallback_key_secret_is_explained_and_its_arrival_mounts_it(cluster: Cluster) -> None:
    fallback = {"provider": "openai", "model": "gpt-4o", "apiKeySecretRef": {"name": "backup-key"}}
    llm = {"provider": "openai-compatible", "baseURL": "http://vllm:8000/v1", "fallbacks": [fallback]}
    await cluster.create(CHATBOTS, chatbot(llm=llm))
    found = await eventually(lambda: condition(cluster, "ConfigResolved"))
    assert (found["status"], found["reason"]) == ("False", "LLMKeySecretNotFound")
    assert "docs/backup-key (spec.llm.fallbacks[0].apiKeySecretRef) does not exist" in found["message"]
    assert await cluster.get(DEPLOYMENT) is None

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "backup-key", "namespace": "docs"},
              "data": {"apiKey": base64.b64encode(b"sk-backup-value").decode()}}  # fmt: skip
    await cluster.create("/api/v1/namespaces/docs/secrets", secret)
    deployment = await eventually(lambda: cluster.get(DEPLOYMENT))
    pod = deployment["spec"]["template"]["spec"]
    sources = [{"secret": {"name": "backup-key", "items": [{"key": "apiKey", "path": "0"}]}}]
    assert {"name": "llm-fallback-keys", "projected": {"sources": sources}} in pod["volumes"]
    config_map = await eventually(lambda: cluster.get(CONFIG_MAP))
    assert '"api_key_file":"/etc/chatbot/llm-fallback-keys/0"' in config_map["data"]["settings.json"]
    for request in cluster.emulator:
        assert b"sk-backup-value" not in request.body or request.url.path.endswith("/secrets")
