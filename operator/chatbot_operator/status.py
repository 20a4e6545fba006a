"""Status from observations: pure functions, no API calls.

Conditions follow the Kubernetes API conventions: `Ready` summarises, the others explain one
concern each; every condition has a reason, a message, observedGeneration and a
lastTransitionTime that only moves when its status does.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

TRUE: Final = "True"
FALSE: Final = "False"
UNKNOWN: Final = "Unknown"

READY: Final = "Ready"
AVAILABLE: Final = "Available"
PROGRESSING: Final = "Progressing"
CORPUS_SYNCED: Final = "CorpusSynced"
CONFIG_RESOLVED: Final = "ConfigResolved"
CONDITION_TYPES: Final = (READY, AVAILABLE, PROGRESSING, CORPUS_SYNCED, CONFIG_RESOLVED)


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Rollout:
    """What the Deployment says about replicas and rollout progress."""

    desired: int
    replicas: int
    ready: int
    available: Condition
    progressing: Condition


def format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def observe_rollout(deployment: Mapping[str, Any] | None) -> Rollout:
    """Availability and rollout progress of the bot's Deployment."""
    if deployment is None:
        waiting = Condition(FALSE, "DeploymentNotCreated", "The bot's Deployment does not exist yet.")
        return Rollout(0, 0, 0, waiting, Condition(FALSE, "DeploymentNotCreated", waiting.message))

    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    desired = int(spec.get("replicas", 1))
    replicas = int(status.get("replicas", 0))
    ready = int(status.get("readyReplicas", 0))
    updated = int(status.get("updatedReplicas", 0))
    available_count = int(status.get("availableReplicas", 0))
    generation = deployment.get("metadata", {}).get("generation", 0)
    observed = status.get("observedGeneration", 0)
    deployment_conditions = {c.get("type"): c for c in status.get("conditions", [])}

    if desired == 0:
        available = Condition(TRUE, "ScaledToZero", "The bot is scaled to zero replicas.")
    elif ready >= desired:
        available = Condition(TRUE, "Available", f"{ready}/{desired} bot replicas are ready.")
    else:
        available = Condition(
            FALSE, "MinimumReplicasUnavailable", f"{ready}/{desired} bot replicas are ready."
        )

    stalled = deployment_conditions.get("Progressing", {})
    if stalled.get("reason") == "ProgressDeadlineExceeded":
        progressing = Condition(FALSE, "ProgressDeadlineExceeded", str(stalled.get("message", "")))
    elif observed < generation or updated < desired or replicas > updated or available_count < updated:
        progressing = Condition(
            TRUE, "RollingOut", f"{updated}/{desired} bot replicas run the latest settings and corpus."
        )
    else:
        progressing = Condition(FALSE, "RolloutComplete", f"All {desired} bot replicas are up to date.")
    return Rollout(desired, replicas, ready, available, progressing)


def summarize_ready(
    config: Condition, corpus: Condition, available: Condition, progressing: Condition
) -> Condition:
    """Ready is True only when every concern is; otherwise it carries the first failing reason."""
    for condition in (config, corpus):
        if condition.status != TRUE:
            return Condition(
                FALSE if condition.status == FALSE else UNKNOWN, condition.reason, condition.message
            )
    if available.status != TRUE:
        return Condition(FALSE, available.reason, available.message)
    if progressing.reason == "ProgressDeadlineExceeded":
        return Condition(FALSE, progressing.reason, progressing.message)
    if progressing.status == TRUE:
        return Condition(FALSE, progressing.reason, progressing.message)
    return Condition(TRUE, available.reason, available.message)


def merge_conditions(
    previous: Sequence[Mapping[str, Any]],
    current: Mapping[str, Condition],
    *,
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Conditions in CONDITION_TYPES order; lastTransitionTime kept while a status holds."""
    before = {c.get("type"): c for c in previous}
    merged = []
    for kind in CONDITION_TYPES:
        condition = current[kind]
        old = before.get(kind)
        moved = old is None or old.get("status") != condition.status
        merged.append(
            {
                "type": kind,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "observedGeneration": generation,
                "lastTransitionTime": format_time(now) if moved or old is None else old["lastTransitionTime"],
            }
        )
    return merged


def list_transitions(
    previous: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Conditions whose status or reason changed: each deserves an Event."""
    before = {c.get("type"): (c.get("status"), c.get("reason")) for c in previous}
    return [c for c in current if before.get(c["type"]) != (c["status"], c["reason"])]


def strip_volatile(status: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a status that matter for deciding whether to write it (not kopf's own)."""
    return {key: value for key, value in status.items() if key != "kopf"}
