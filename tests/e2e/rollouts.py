"""Reading a ChatBot's rollout on the real cluster: shared by the corpus and settings rollout tests."""

import time
from typing import Any

from tests.e2e.cluster import Cluster, condition, wait_until

CORPUS_COMMIT = "chatbot-operator.io/corpus-commit"
SETTINGS_HASH = "chatbot-operator.io/settings-hash"
RESYNC_ANNOTATION = "e2e.chatbot-operator.io/resync"


def get_chatbot(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    chatbot: dict[str, Any] = cluster.get("chatbot", name, "-n", namespace)
    return chatbot


def template_annotations(deployment: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations


def replica_sets(cluster: Cluster, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    uid = deployment["metadata"]["uid"]
    return [
        rs
        for rs in cluster.get("replicasets", "-n", namespace)["items"]
        if any(ref["uid"] == uid for ref in rs["metadata"].get("ownerReferences", []))
    ]


def settled(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The ChatBot once its latest generation is observed and Ready (the rollout is done)."""
    chatbot = get_chatbot(cluster, namespace, name)
    ready = condition(chatbot, "Ready") or {}
    generation = chatbot["metadata"]["generation"]
    if chatbot.get("status", {}).get("observedGeneration") == generation and ready.get("status") == "True":
        return chatbot
    return None


def rolled_out(cluster: Cluster, namespace: str, name: str, annotation: str, value: str) -> bool:
    """Every replica runs a pod whose template has `annotation` = `value`, and no other pod is left."""
    deployment = cluster.get("deployment", name, "-n", namespace)
    status = deployment.get("status", {})
    replicas = deployment["spec"]["replicas"]
    pods = cluster.get("pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={name}")["items"]
    live = [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]
    return (
        template_annotations(deployment).get(annotation) == value
        and status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == replicas
        and status.get("readyReplicas") == replicas
        and status.get("replicas") == replicas
        and len(live) == replicas
        and all((pod["metadata"].get("annotations") or {}).get(annotation) == value for pod in live)
    )


def resync(cluster: Cluster, namespace: str, name: str) -> None:
    """Have the operator reconcile the ChatBot once more, and wait until it has.

    A new annotation is a change Kopf hands to the operator's update handler, and Kopf records it in
    its diff-base (status.kopf.diffBase) only once the handler has succeeded. A stalled operator
    fails here, so that "nothing changed" afterwards is a finding, not a sleep.
    """
    marker = str(time.time_ns())
    cluster.kubectl(
        "annotate", "chatbot", name, "-n", namespace, f"{RESYNC_ANNOTATION}={marker}", "--overwrite"
    )

    def handled() -> bool:
        status = get_chatbot(cluster, namespace, name).get("status") or {}
        return marker in str((status.get("kopf") or {}).get("diffBase", ""))

    wait_until(f"the operator to reconcile ChatBot {namespace}/{name} again", handled)
