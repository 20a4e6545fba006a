"""The one reconcile path: observe the inputs, plan the children, apply them, write the status.

spec -> observations (`observations`) -> plan (`plan.build_children`, pure) -> apply (here) ->
status (`status.build_status`, pure) -> a status patch and an Event per transition (here).

Every entry point (resume, create, update, the refresh loop, a child's event) ends here, and
every step is idempotent: a ChatBot whose children and status already match writes nothing.
"""

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chatbot_operator import builders, corpus, golden, naming, revisions
from chatbot_operator.bot_settings import serialize_settings
from chatbot_operator.builders import Owner
from chatbot_operator.config import OperatorSettings
from chatbot_operator.drift import needs_apply
from chatbot_operator.kube import CHATBOTS, CONFIG_MAPS, DEPLOYMENTS, PATHS_BY_KIND, SECRETS, Kube, KubeError
from chatbot_operator.metrics import record_golden_outcome
from chatbot_operator.observations import Observer, corpus_failure_observation
from chatbot_operator.plan import build_children, plan_settings
from chatbot_operator.refresh import RefreshQueue
from chatbot_operator.status import (
    FALSE,
    TRUE,
    UNKNOWN,
    Condition,
    build_events,
    build_status,
    build_status_patch,
    format_time,
    has_reported,
    observations_from_status,
    rebuild_status,
    strip_volatile,
)

logger = logging.getLogger(__name__)

STATUS_CONFLICT_ATTEMPTS = 5
# ConfigResolved reasons that a Secret created later fixes (a missing ConfigMap prompt or App
# Configuration connection string is read again at every refresh anyway).
WAITING_FOR_A_SECRET = frozenset({"LLMKeySecretNotFound", "APIKeysSecretNotFound"})

EventPoster = Callable[[Mapping[str, Any], str, str, str], None]


@dataclass
class Reconciler:
    kube: Kube
    settings: OperatorSettings
    post_event: EventPoster
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    resolve_commit: Callable[..., str] = corpus.resolve_corpus_commit
    observer: Observer = field(init=False)
    refresh: RefreshQueue = field(init=False)
    # The manifests last applied per ChatBot, to repair a child's drift without re-reading inputs.
    # Kept as compact JSON: at 1,000 ChatBots 3.6 MiB, against 11.3 MiB as dicts (the operator's
    # memory target is 150 MB at that size; docs/benchmarks.md).
    _desired: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # The revision each ChatBot's last plan rolls out: recorded in its history once it serves.
    _candidates: dict[tuple[str, str], revisions.Candidate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.observer = Observer(self.kube, self.settings, self.resolve_commit)
        self.refresh = RefreshQueue(self.settings.refresh_check_seconds)

    def reconcile(self, body: Mapping[str, Any], *, new: bool = False) -> None:
        """Converge one ChatBot's children and status to its spec.

        `new`: a ChatBot seen for the first time (Kopf's create), whose children are applied without
        being read first: they almost never exist, and three reads per new ChatBot add up in a fleet.
        """
        metadata, spec = body["metadata"], body.get("spec", {})
        owner = Owner(metadata["name"], metadata["namespace"], metadata["uid"])
        previous = body.get("status") or {}
        now = self.now()
        mark = self.refresh.mark_of(owner.namespace, owner.name)

        observed = self.observer.observe(owner, spec, previous, now)
        settings = plan_settings(owner, spec, observed.inputs) if observed.inputs is not None else None
        desired = build_children(
            owner,
            spec,
            settings,
            observed.corpus.commit,
            bot_image=self.settings.bot_image,
            network_policy=self.settings.bot_network_policy,
        )
        compact = {kind: serialize_settings(manifest).encode() for kind, manifest in desired.items()}
        with self._lock:
            self._desired[(owner.namespace, owner.name)] = compact
            if settings is not None and "Deployment" in desired and observed.inputs is not None:
                self._candidates[(owner.namespace, owner.name)] = revisions.build_candidate(
                    spec,
                    generation=int(metadata.get("generation", 0)),
                    settings_revision=settings.hash,
                    model=str(settings.values.get("model", "")),
                    system_prompt=observed.inputs.system_prompt,
                    corpus_commit=observed.corpus.commit,
                    app_configuration_revision=(
                        observed.inputs.app_configuration.revision
                        if observed.inputs.app_configuration
                        else None
                    ),
                )

        apply_error: Condition | None = None
        actual: dict[str, dict[str, Any]] = {}
        for kind, manifest in desired.items():
            try:
                actual[kind] = self._converge(manifest, read_first=not new)
            except KubeError as error:
                if error.retryable:
                    raise
                apply_error = Condition(FALSE, "ApplyFailed", f"The {kind} was rejected: {error.message}")
                break
        if (
            settings is not None
            and "Secret" not in desired
            and (previous.get("config") or {}).get("resolvedAt")
        ):
            # App Configuration gave secrets before (status says it resolved) and gives none now, or
            # is gone from the spec: the owned copy of the old key must not outlive its source.
            self._empty_owned_secret(owner)
        deployment = actual.get("Deployment")
        if "Deployment" not in actual:  # not wanted now, or not reached: report the one that exists
            deployment = self.kube.get(DEPLOYMENTS, owner.namespace, owner.name)
        status = build_status(
            body,
            deployment=deployment,
            corpus=observed.corpus,
            config=observed.config,
            revision=settings.hash if settings else None,
            apply_error=apply_error,
            now=now,
        )
        self._write_status(body, status)
        self.refresh.settle(owner.namespace, owner.name, mark)
        if observed.config.condition.reason in WAITING_FOR_A_SECRET:
            # The operator does not watch users' Secrets: one created after its ChatBot sends no
            # event, so the refresh loop looks again at its next check.
            self.refresh.retry_later(owner.namespace, owner.name)

    def reconcile_latest(self, namespace: str, name: str) -> None:
        """Reconcile from a fresh read, again on a conflict (someone wrote the ChatBot meanwhile).

        For callers outside Kopf's handlers (the refresh loop), whose copy may be stale and who have
        no Kopf retry behind them.
        """
        self._retry_on_conflict(namespace, name, self.reconcile)

    def refresh_is_due(self, body: Mapping[str, Any]) -> bool:
        """Whether the refresh loop should reconcile this ChatBot now (chatbot_operator.refresh)."""
        metadata = body["metadata"]
        read_at = self.observer.app_configuration_resolved_at(metadata["namespace"], metadata["name"])
        return self.refresh.is_due(body, self.now(), app_configuration_read_at=read_at)

    def forget(self, namespace: str, name: str) -> None:
        """The ChatBot is gone: drop everything kept for it."""
        with self._lock:
            self._desired.pop((namespace, name), None)
            self._candidates.pop((namespace, name), None)
        self.observer.forget(namespace, name)
        self.refresh.forget(namespace, name)

    # ---- child events ------------------------------------------------------------------

    def repair_child(self, child: Mapping[str, Any]) -> bool:
        """Re-apply a child whose fields we own have drifted. Returns whether it wrote."""
        metadata = child.get("metadata", {})
        owner_name = metadata.get("labels", {}).get(naming.LABEL_INSTANCE)
        with self._lock:
            stored = self._desired.get((metadata.get("namespace", ""), owner_name or ""), {}).get(
                child.get("kind", "")
            )
        if stored is None:
            return False
        wanted = json.loads(stored)
        if wanted["metadata"]["name"] != metadata.get("name"):
            return False  # another child of the same kind (the revisions ConfigMap)
        if not needs_apply(wanted, child):
            return False
        self.kube.apply(wanted)
        return True

    def update_status_from_deployment(self, namespace: str, name: str, deployment: Mapping[str, Any]) -> None:
        """A Deployment changed: reflect its replicas and rollout in the owner's status."""

        def write(chatbot: Mapping[str, Any]) -> None:
            # Before a reconcile has reported, there is nothing to update: it reads the Deployment itself.
            if has_reported(chatbot.get("status") or {}):
                self._write_status(chatbot, rebuild_status(chatbot, deployment=deployment, now=self.now()))

        self._retry_on_conflict(namespace, name, write)

    def report_corpus_failure(self, namespace: str, name: str, pod: Mapping[str, Any]) -> None:
        """A bot pod's corpus init container failed: say why on the ChatBot, against that commit."""
        if corpus.corpus_failure_from_pod(pod) is None:
            return

        def write(chatbot: Mapping[str, Any]) -> None:
            seen, _config = observations_from_status(chatbot.get("status") or {})
            failed = corpus_failure_observation(chatbot.get("spec", {}).get("corpus"), seen, pod)
            if failed is None:
                return  # a pod of an older commit; the current one is what status describes
            deployment = self.kube.get(DEPLOYMENTS, namespace, name)
            status = rebuild_status(chatbot, deployment=deployment, corpus=failed, now=self.now())
            self._write_status(chatbot, status)

        self._retry_on_conflict(namespace, name, write)

    def report_golden_failure(self, namespace: str, name: str, pod: Mapping[str, Any]) -> None:
        """A bot pod failed its golden questions: say which on the ChatBot, against that revision."""
        failure = golden.golden_failure_from_pod(pod)
        if failure is None:
            return

        def write(chatbot: Mapping[str, Any]) -> None:
            previous = chatbot.get("status") or {}
            if failure.settings_hash != (previous.get("config") or {}).get("revision"):
                return  # a pod of an older revision; the current one is what status describes
            deployment = self.kube.get(DEPLOYMENTS, namespace, name)
            status = rebuild_status(
                chatbot, deployment=deployment, golden_failure=failure.as_status(), now=self.now()
            )
            self._write_status(chatbot, status)

        self._retry_on_conflict(namespace, name, write)

    def _retry_on_conflict(self, namespace: str, name: str, act: Callable[[Mapping[str, Any]], None]) -> None:
        """Act on a fresh read of the ChatBot; read and act again on a 409, as client-go's
        RetryOnConflict does. A ChatBot that is gone or being deleted is left alone. Work that
        fails for good is left to the refresh loop."""
        try:
            for _attempt in range(STATUS_CONFLICT_ATTEMPTS):
                chatbot = self.kube.get(CHATBOTS, namespace, name)
                if chatbot is None or chatbot["metadata"].get("deletionTimestamp"):
                    return
                try:
                    act(chatbot)
                    return
                except KubeError as error:
                    if error.status != 409:
                        raise
        except KubeError as error:
            if error.retryable:
                self.refresh.retry_later(namespace, name)
            raise
        self.refresh.retry_later(namespace, name)
        logger.warning("ChatBot %s/%s kept changing; the refresh loop retries", namespace, name)

    # ---- apply ------------------------------------------------------------------------------

    def _converge(self, manifest: dict[str, Any], *, read_first: bool = True) -> dict[str, Any]:
        metadata = manifest["metadata"]
        path = PATHS_BY_KIND[(manifest["apiVersion"], manifest["kind"])]
        # Without a read, an apply of what is already there is a no-op the API server does not store.
        actual = self.kube.get(path, metadata["namespace"], metadata["name"]) if read_first else None
        if needs_apply(manifest, actual):
            logger.info("Applying %s %s/%s", manifest["kind"], metadata["namespace"], metadata["name"])
            return self.kube.apply(manifest)
        assert actual is not None
        return actual

    def _empty_owned_secret(self, owner: Owner) -> None:
        # Emptied with an apply rather than deleted: the operator has no delete rights on Secrets,
        # and the empty object goes with its ChatBot through the garbage collector.
        secret = self.kube.get(SECRETS, owner.namespace, naming.secret_name(owner.name))
        if secret is None or not secret.get("data"):
            return
        if any(ref.get("uid") == owner.uid for ref in secret["metadata"].get("ownerReferences") or []):
            name = f"{owner.namespace}/{naming.secret_name(owner.name)}"
            logger.info("Emptying Secret %s: App Configuration gives no secret now", name)
            self.kube.apply(builders.stamp_applied_hash(builders.build_secret(owner, {})))

    def _with_history(self, body: Mapping[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """`status` with the revision history: the last one's, plus the last plan's revision once a
        rollout has served it (its restore document written first, into the revisions ConfigMap)."""
        metadata = body["metadata"]
        history = (body.get("status") or {}).get("revisions") or []
        with self._lock:
            candidate = self._candidates.get((metadata["namespace"], metadata["name"]))
        recorded = None
        if candidate is not None and revisions.newly_served(status, candidate):
            recorded = revisions.record_served(history, candidate, format_time(self.now()))
        if candidate is None or recorded is None:
            return {**status, "revisions": list(history)} if history else status
        owner = Owner(metadata["name"], metadata["namespace"], metadata["uid"])
        name = naming.revisions_config_map_name(owner.name)
        stored = (self.kube.get(CONFIG_MAPS, owner.namespace, name) or {}).get("data") or {}
        data = revisions.build_revisions_data(recorded, stored, candidate)
        self.kube.apply(builders.stamp_applied_hash(revisions.build_revisions_config_map(owner, data)))
        return {**status, "revisions": recorded}

    def _write_status(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        """Patch the status if it changed, and post an Event for each condition that moved."""
        metadata = body["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        previous = body.get("status") or {}
        old = strip_volatile(previous)
        status = self._with_history(body, status)
        if status == old:
            return
        patch = build_status_patch(old, status)
        self.kube.patch_status(
            CHATBOTS, namespace, name, patch, resource_version=metadata.get("resourceVersion")
        )
        record_golden_metric(namespace, name, status)
        for event in build_events(previous.get("conditions") or [], status["conditions"]):
            try:
                self.post_event(body, event.type, event.reason, event.message)
            except KubeError as error:
                # Best effort, as client-go's recorder: the status (already written) is the record;
                # raising here would retry a reconcile whose status no longer differs, posting nothing.
                logger.warning(
                    "Event %s for ChatBot %s/%s not recorded: %s",
                    event.reason,
                    namespace,
                    name,
                    error.message,
                )


def record_golden_metric(namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """The golden-question outcome a written status reports, on the operator's /metrics."""
    condition = next((c for c in status["conditions"] if c["type"] == golden.CONDITION), None)
    failure = (status.get("goldenQuestions") or {}).get("failure")
    if condition is None or condition["status"] == UNKNOWN:
        record_golden_outcome(namespace, name, None, None)
    elif failure:
        record_golden_outcome(namespace, name, failure.get("revision"), False)
    else:
        record_golden_outcome(
            namespace, name, (status.get("config") or {}).get("revision"), condition["status"] == TRUE
        )
