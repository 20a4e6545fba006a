"""Status from observations: pure functions, no API calls.

Conditions follow the Kubernetes API conventions: `Ready` summarises, the others explain one
concern each; every condition has a reason, a message, observedGeneration and a
lastTransitionTime that only moves when its status does. `build_status` turns what a reconcile
observed (or what the last status said, for a watcher) into the whole status document.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from chatbot_operator import golden, naming, spec_fields

TRUE: Final = "True"
FALSE: Final = "False"
UNKNOWN: Final = "Unknown"

READY: Final = "Ready"
AVAILABLE: Final = "Available"
PROGRESSING: Final = "Progressing"
CORPUS_SYNCED: Final = "CorpusSynced"
CONFIG_RESOLVED: Final = "ConfigResolved"
GOLDEN_QUESTIONS: Final = golden.CONDITION  # only for ChatBots with golden questions
CONDITION_TYPES: Final = (READY, AVAILABLE, PROGRESSING, CORPUS_SYNCED, CONFIG_RESOLVED, GOLDEN_QUESTIONS)


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class ConfigObservation:
    """What the settings' resolution concluded, as status reports it."""

    condition: Condition
    resolved_at: str | None = None
    unknown_keys: tuple[str, ...] = ()
    # The model status reports (kubectl get shows it); None keeps the last reported or the spec's.
    model: str | None = None


@dataclass(frozen=True)
class CorpusObservation:
    """What the corpus' resolution concluded, as status.corpus reports it."""

    condition: Condition
    commit: str | None = None
    repo: str | None = None
    ref: str | None = None
    checked_at: str | None = None
    # A failure the init container reported for `commit` (reason, message, commit, source).
    fetch_failure: Mapping[str, str] | None = None


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
        if kind not in current:
            continue
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


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


def build_events(previous: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]) -> list[Event]:
    """An Event for each condition whose status or reason changed; a Warning for a failure."""
    return [
        Event(
            "Warning" if c["status"] == FALSE and c["type"] != PROGRESSING else "Normal",
            c["reason"],
            f"{c['type']}: {c['message']}",
        )
        for c in list_transitions(previous, current)
    ]


def list_transitions(
    previous: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Conditions whose status or reason changed: each deserves an Event."""
    before = {c.get("type"): (c.get("status"), c.get("reason")) for c in previous}
    return [c for c in current if before.get(c["type"]) != (c["status"], c["reason"])]


def strip_volatile(status: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a status that matter for deciding whether to write it (not kopf's own)."""
    return {key: value for key, value in status.items() if key != "kopf"}


def build_status(
    body: Mapping[str, Any],
    *,
    deployment: Mapping[str, Any] | None,
    corpus: CorpusObservation,
    config: ConfigObservation,
    revision: str | None,
    apply_error: Condition | None,
    now: datetime,
    observed_generation: int | None = None,
    golden_failure: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The whole status of a ChatBot (without Kopf's own fields).

    `revision`: the settings hash now in use, or None to keep the last reported one.
    `observed_generation`: None claims the body's generation (only a reconcile acts on one).
    `golden_failure`: a pod's failed golden check (`golden.GoldenFailure.as_status`); None keeps
    the last reported one, while it is about the revision status describes.
    """
    metadata, spec = body["metadata"], body.get("spec", {})
    previous = body.get("status") or {}
    generation = int(metadata.get("generation", 0) if observed_generation is None else observed_generation)
    rollout = observe_rollout(deployment)
    ready = apply_error or summarize_ready(
        config.condition, corpus.condition, rollout.available, rollout.progressing
    )
    revision = revision or (previous.get("config") or {}).get("revision")
    golden_state, golden_kept = golden.golden_condition(
        spec,
        golden_failure or (previous.get("goldenQuestions") or {}).get("failure"),
        settings_hash=revision,
        corpus_commit=corpus.commit,
        rolling_out=rollout.progressing.status == TRUE,
    )
    current = {
        READY: ready,
        AVAILABLE: rollout.available,
        PROGRESSING: rollout.progressing,
        CORPUS_SYNCED: corpus.condition,
        CONFIG_RESOLVED: config.condition,
    }
    if golden_state is not None:
        current[GOLDEN_QUESTIONS] = Condition(*golden_state)
        settled = config.condition.status == TRUE and corpus.condition.status == TRUE
        if golden_state[0] == FALSE and apply_error is None and settled:
            # The rollout is held because the new revision failed its golden questions: say that
            # (the replicas column still shows the previous revision serving).
            current[READY] = Condition(FALSE, golden_state[1], golden_state[2])
    conditions = merge_conditions(previous.get("conditions") or [], current, generation=generation, now=now)
    desired_replicas = spec.get("replicas")
    if desired_replicas is None:
        desired_replicas = rollout.desired
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "replicas": rollout.replicas,
        "readyReplicas": rollout.ready,
        "ready": f"{rollout.ready}/{desired_replicas}",
        "selector": naming.selector_string(metadata["name"]),
        "endpoint": service_endpoint(metadata["namespace"], metadata["name"], spec),
        "conditions": conditions,
    }
    model = config.model or previous.get("model") or spec.get("model")
    if model:
        status["model"] = model
    if corpus.commit:
        status["corpus"] = {
            "commit": corpus.commit,
            "shortCommit": corpus.commit[:7],
            "repo": corpus.repo,
            "ref": corpus.ref,
            "checkedAt": corpus.checked_at,
        }
        if corpus.fetch_failure:
            status["corpus"]["fetchFailure"] = dict(corpus.fetch_failure)
    if golden_state is not None:
        golden_status: dict[str, Any] = {"questions": len(spec["goldenQuestions"])}
        if golden_kept:
            golden_status["failure"] = dict(golden_kept)
        status["goldenQuestions"] = golden_status
    config_status: dict[str, Any] = {}
    if revision:
        config_status["revision"] = revision
    if config.resolved_at:
        config_status["resolvedAt"] = config.resolved_at
    if config.unknown_keys:
        config_status["unknownKeys"] = list(config.unknown_keys)
    if config_status:
        status["config"] = config_status
    built: dict[str, Any] = without_nones(status)
    return built


def rebuild_status(
    body: Mapping[str, Any],
    *,
    deployment: Mapping[str, Any] | None,
    now: datetime,
    corpus: CorpusObservation | None = None,
    golden_failure: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The status when only a child changed (the Deployment rolled, a pod's corpus fetch failed):
    the last reconcile's observations, with the new rollout and, if given, the new corpus
    observation. Only a reconcile acts on a new generation, so observedGeneration stays."""
    previous = body.get("status") or {}
    seen_corpus, config = observations_from_status(previous)
    return build_status(
        body,
        deployment=deployment,
        corpus=corpus or seen_corpus,
        config=config,
        revision=None,
        apply_error=None,
        now=now,
        observed_generation=previous.get("observedGeneration"),
        golden_failure=golden_failure,
    )


def has_reported(status: Mapping[str, Any]) -> bool:
    """Whether a reconcile has written its observations into this status yet."""
    known = {c.get("type") for c in status.get("conditions") or []}
    return {CORPUS_SYNCED, CONFIG_RESOLVED} <= known


def observations_from_status(status: Mapping[str, Any]) -> tuple[CorpusObservation, ConfigObservation]:
    """What the last full reconcile concluded about the corpus and the settings."""
    by_type = {c.get("type"): c for c in status.get("conditions") or []}

    def condition(kind: str) -> Condition:
        found = by_type.get(kind)
        if found is None:
            return Condition(UNKNOWN, "Reconciling", "The operator has not checked this yet.")
        return Condition(str(found.get("status")), str(found.get("reason")), str(found.get("message", "")))

    seen_corpus = status.get("corpus") or {}
    seen_config = status.get("config") or {}
    corpus = CorpusObservation(
        condition(CORPUS_SYNCED),
        seen_corpus.get("commit"),
        seen_corpus.get("repo"),
        seen_corpus.get("ref"),
        seen_corpus.get("checkedAt"),
        seen_corpus.get("fetchFailure"),
    )
    config = ConfigObservation(
        condition(CONFIG_RESOLVED),
        seen_config.get("resolvedAt"),
        tuple(seen_config.get("unknownKeys", ())),
        status.get("model"),
    )
    return corpus, config


def service_endpoint(namespace: str, name: str, spec: Mapping[str, Any]) -> str:
    """The bot's URL inside the cluster."""
    return f"http://{naming.service_name(name)}.{namespace}.svc:{spec_fields.service_port(spec)}"


def build_status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch from `old` to `new`. Keys we no longer report, nested ones included (a
    stale status.config.unknownKeys), are removed explicitly: a merge patch keeps what it does not name."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        previous = old.get(key)
        if isinstance(value, Mapping) and isinstance(previous, Mapping):
            patch[key] = build_status_patch(previous, value)
        else:
            patch[key] = value
    return patch


def without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_nones(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nones(item) for item in value]
    return value
