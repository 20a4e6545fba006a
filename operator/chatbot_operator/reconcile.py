"""The one reconcile path: gather inputs, converge the children, report status.

Every entry point (resume, create, update, the refresh loop, a child's event) ends here, and
every step is idempotent: a ChatBot whose children and status already match writes nothing.
"""

import base64
import binascii
import itertools
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chatbot_operator import builders, corpus, naming
from chatbot_operator.bot_settings import compute_settings_hash, render_bot_settings, serialize_settings
from chatbot_operator.builders import Owner, SecretKeyRef
from chatbot_operator.config import OperatorSettings
from chatbot_operator.drift import needs_apply
from chatbot_operator.kube import CHATBOTS, CONFIG_MAPS, PATHS_BY_KIND, SECRETS, KubeClient, KubeError
from chatbot_operator.status import (
    AVAILABLE,
    CONFIG_RESOLVED,
    CORPUS_SYNCED,
    FALSE,
    PROGRESSING,
    READY,
    TRUE,
    UNKNOWN,
    Condition,
    format_time,
    list_transitions,
    merge_conditions,
    observe_rollout,
    strip_volatile,
    summarize_ready,
)

if TYPE_CHECKING:  # the Azure SDKs are imported only when a ChatBot uses App Configuration
    from chatbot_operator.appconfig import KeyVaultOptions

logger = logging.getLogger(__name__)

MAX_SYSTEM_PROMPT_BYTES = 256 * 1024
LLM_KEY_IN_OWNED_SECRET = "llmApiKey"
STATUS_CONFLICT_ATTEMPTS = 5
# ConfigResolved reasons that a Secret created later fixes (a missing ConfigMap prompt or App
# Configuration connection string is read again at every refresh anyway).
WAITING_FOR_A_SECRET = frozenset({"LLMKeySecretNotFound", "APIKeysSecretNotFound"})

EventPoster = Callable[[Mapping[str, Any], str, str, str], None]


@dataclass(frozen=True)
class ConfigObservation:
    condition: Condition
    revision: str | None = None
    resolved_at: str | None = None
    unknown_keys: tuple[str, ...] = ()
    # The model the bot runs, after App Configuration (kubectl get shows it).
    model: str | None = None


@dataclass(frozen=True)
class CorpusObservation:
    condition: Condition
    commit: str | None = None
    repo: str | None = None
    ref: str | None = None
    checked_at: str | None = None
    # A failure the init container reported for `commit` (reason, message, commit, source).
    fetch_failure: Mapping[str, str] | None = None


# What a watcher concluded: corpus and settings observations, and the Deployment to report.
_Observed = tuple[CorpusObservation, ConfigObservation, Mapping[str, Any] | None]


@dataclass
class _Settings:
    """Everything the ConfigMap, the Secret and the pod template's hash are made of."""

    values: dict[str, Any]
    secrets: dict[str, str]
    llm_key: SecretKeyRef | None
    hash: str


class ConfigProblem(Exception):
    """A setting cannot be resolved; reason and message go into ConfigResolved (never a secret)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class _AppConfigMemo:
    source: str
    resolved: Any  # chatbot_operator.appconfig.ResolvedAppConfiguration
    resolved_at: datetime


@dataclass
class Reconciler:
    kube: KubeClient
    settings: OperatorSettings
    post_event: EventPoster
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    resolve_commit: Callable[..., str] = corpus.resolve_corpus_commit
    # The last good App Configuration per ChatBot: served while the store is down.
    _appconfig: dict[tuple[str, str], _AppConfigMemo] = field(default_factory=dict)
    # One long-lived provider per ChatBot (ETags and sentinel keys save work); created on first use.
    _appconfig_cache: Any = None
    # The manifests last applied per ChatBot, to repair a child's drift without re-reading inputs.
    # Kept as compact JSON: at 1,000 ChatBots 3.6 MiB, against 11.3 MiB as dicts (the operator's
    # memory target is 150 MB at that size; docs/benchmarks.md).
    _desired: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    # ChatBots the refresh loop reconciles at its next check: their event-driven work (a child's
    # repair or re-creation, a status update) failed, and Kopf never retries an event handler; or
    # they wait for a Secret, which sends no event. The value tells marks apart, so that a
    # reconcile clears only the marks made before it started.
    _unsettled: dict[tuple[str, str], int] = field(default_factory=dict)
    _marks: "itertools.count[int]" = field(default_factory=itertools.count)
    # When each ChatBot was first seen with a spec change not yet observed in its status.
    _lagging: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- entry points -------------------------------------------------------------------

    def reconcile(self, body: Mapping[str, Any], *, new: bool = False) -> None:
        """Converge one ChatBot's children and status to its spec.

        `new`: a ChatBot seen for the first time (Kopf's create), whose children are applied without
        being read first: they almost never exist, and three reads per new ChatBot add up in a fleet.
        """
        metadata, spec = body["metadata"], body.get("spec", {})
        owner = Owner(metadata["name"], metadata["namespace"], metadata["uid"])
        previous = body.get("status") or {}
        now = self.now()
        with self._lock:
            mark = self._unsettled.get((owner.namespace, owner.name))

        config_obs, resolved = self._resolve_settings(owner, spec, now)
        corpus_obs = self._resolve_corpus(owner, spec, previous.get("corpus") or {}, now)

        desired: dict[str, dict[str, Any]] = {"Service": builders.build_service(owner, spec)}
        if self.settings.bot_network_policy is not None:
            desired["NetworkPolicy"] = builders.build_network_policy(owner, self.settings.bot_network_policy)
        if resolved is not None:
            desired["ConfigMap"] = builders.build_config_map(owner, serialize_settings(resolved.values))
            if resolved.secrets:
                desired["Secret"] = builders.build_secret(owner, resolved.secrets)
            # Without a commit to serve, the Deployment waits: a half-built bot is worse than none.
            if not spec.get("corpus") or corpus_obs.commit:
                desired["Deployment"] = builders.build_deployment(
                    owner,
                    spec,
                    image=spec.get("image") or self.settings.bot_image,
                    settings_hash=resolved.hash,
                    corpus_commit=corpus_obs.commit,
                    llm_key=resolved.llm_key,
                )
        for manifest in desired.values():
            builders.stamp_applied_hash(manifest)
        compact = {kind: serialize_settings(manifest).encode() for kind, manifest in desired.items()}
        with self._lock:
            self._desired[(owner.namespace, owner.name)] = compact

        apply_error: Condition | None = None
        actual: dict[str, dict[str, Any] | None] = {}
        # The policy first, so that no bot pod ever runs without it.
        for kind in ("NetworkPolicy", "ConfigMap", "Secret", "Service", "Deployment"):
            if kind not in desired:
                continue
            try:
                actual[kind] = self._converge(desired[kind], read_first=not new)
            except KubeError as error:
                if error.retryable:
                    raise
                apply_error = Condition(FALSE, "ApplyFailed", f"The {kind} was rejected: {error.message}")
                break
        if (
            resolved is not None
            and "Secret" not in desired
            and (previous.get("config") or {}).get("resolvedAt")
        ):
            # App Configuration gave secrets before (status says it resolved) and gives none now, or
            # is gone from the spec: the owned copy of the old key must not outlive its source.
            self._empty_owned_secret(owner)
        deployment = actual.get("Deployment")
        if "Deployment" not in actual:  # not wanted now, or not reached: report the one that exists
            deployment = self.kube.get(PATHS_BY_KIND[("apps/v1", "Deployment")], owner.namespace, owner.name)
        self._write_status(body, deployment, corpus_obs, config_obs, apply_error, now)
        if mark is not None:
            with self._lock:
                if self._unsettled.get((owner.namespace, owner.name)) == mark:
                    del self._unsettled[(owner.namespace, owner.name)]
        if config_obs.condition.reason in WAITING_FOR_A_SECRET:
            # The operator does not watch users' Secrets: one created after its ChatBot sends no
            # event, so the refresh loop looks again at its next check.
            self.retry_later(owner.namespace, owner.name)

    def retry_later(self, namespace: str, name: str) -> None:
        """Have the refresh loop reconcile this ChatBot at its next check (see _unsettled)."""
        with self._lock:
            self._unsettled[(namespace, name)] = next(self._marks)

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

    def reconcile_latest(self, namespace: str, name: str) -> None:
        """Reconcile from a fresh read, again on a conflict (someone wrote the ChatBot meanwhile).

        For callers outside Kopf's handlers (the refresh loop), whose copy may be stale and who have
        no Kopf retry behind them.
        """
        self._retry_on_conflict(namespace, name, self.reconcile)

    def _retry_on_conflict(self, namespace: str, name: str, act: Callable[[Mapping[str, Any]], None]) -> None:
        """Act on a fresh read of the ChatBot; read and act again on a 409, as client-go's
        RetryOnConflict does. A ChatBot that is gone or being deleted is left alone."""
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
                self.retry_later(namespace, name)
            raise
        self.retry_later(namespace, name)
        logger.warning("ChatBot %s/%s kept changing; the refresh loop retries", namespace, name)

    def refresh_is_due(self, body: Mapping[str, Any]) -> bool:
        """Whether the refresh loop should reconcile: work for an event failed (retry_later), a
        spec change has waited a whole refresh interval, or a corpus, prompt or App Configuration
        read is due."""
        spec, status = body.get("spec", {}), body.get("status") or {}
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        now = self.now()
        with self._lock:
            if key in self._unsettled or self._lagged(key, body, now):
                return True
        corpus_spec = spec.get("corpus")
        if corpus_spec and self._corpus_due(corpus_spec, status.get("corpus") or {}, now):
            return True
        if "systemPromptFrom" in spec:
            return True  # a prompt ConfigMap can change at any time; reading it is one GET
        appconfig = spec.get("appConfiguration")
        if appconfig:
            memo = self._appconfig.get(key)
            interval = corpus.parse_duration(appconfig.get("refreshInterval", "5m"))
            return memo is None or now - memo.resolved_at >= interval
        return False

    def _lagged(self, key: tuple[str, str], body: Mapping[str, Any], now: datetime) -> bool:
        """A backstop for a spec change whose event reached us but not a finished reconcile (Kopf
        held its update back, or gave up): true once the change has gone unobserved in status for
        a refresh interval.

        Only for ChatBots reconciled before (a status with observedGeneration): a new fleet waits
        in Kopf's queue, where a second reconcile would only add writes."""
        observed = (body.get("status") or {}).get("observedGeneration")
        generation = body["metadata"].get("generation")
        if observed is None or generation is None or observed == generation:
            self._lagging.pop(key, None)
            return False
        since = self._lagging.setdefault(key, now)
        return (now - since).total_seconds() >= self.settings.refresh_check_seconds

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
        if not needs_apply(wanted, child):
            return False
        self.kube.apply(wanted)
        return True

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._desired.pop((namespace, name), None)
            self._appconfig.pop((namespace, name), None)
            self._unsettled.pop((namespace, name), None)
            self._lagging.pop((namespace, name), None)
        if self._appconfig_cache is not None:
            self._appconfig_cache.forget(f"{namespace}/{name}")

    def update_status_from_deployment(self, namespace: str, name: str, deployment: Mapping[str, Any]) -> None:
        """A Deployment changed: reflect its replicas and rollout in the owner's status."""

        def observe(chatbot: Mapping[str, Any]) -> _Observed | None:
            previous = chatbot.get("status") or {}
            known = {c.get("type") for c in previous.get("conditions") or []}
            if not {CORPUS_SYNCED, CONFIG_RESOLVED} <= known:
                return None  # the reconcile has not reported yet; it reads the Deployment itself
            corpus_obs, config_obs = _observations_from_status(previous)
            return corpus_obs, config_obs, deployment

        self._update_status(namespace, name, observe)

    def report_corpus_failure(self, namespace: str, name: str, pod: Mapping[str, Any]) -> None:
        """A bot pod's corpus init container failed: say why on the ChatBot, against that commit."""
        failure = corpus.corpus_failure_from_pod(pod)
        commit = (pod.get("metadata", {}).get("annotations") or {}).get(naming.ANNOTATION_CORPUS_COMMIT)
        if failure is None or not commit:
            return

        def observe(chatbot: Mapping[str, Any]) -> _Observed | None:
            corpus_spec = chatbot.get("spec", {}).get("corpus")
            corpus_obs, config_obs = _observations_from_status(chatbot.get("status") or {})
            if not corpus_spec or corpus_obs.commit != commit:
                return None  # a pod of an older commit; the current one is what status describes
            record = {"commit": commit, "reason": failure.reason, "message": failure.message,
                      "source": _corpus_source(corpus_spec)}  # fmt: skip
            corpus_obs = CorpusObservation(
                Condition(FALSE, failure.reason, failure.message),
                corpus_obs.commit, corpus_obs.repo, corpus_obs.ref, corpus_obs.checked_at, record,
            )  # fmt: skip
            deployment = self.kube.get(PATHS_BY_KIND[("apps/v1", "Deployment")], namespace, name)
            return corpus_obs, config_obs, deployment

        self._update_status(namespace, name, observe)

    def _update_status(
        self, namespace: str, name: str, observe: Callable[[Mapping[str, Any]], _Observed | None]
    ) -> None:
        """Write a status computed from a fresh read of the owner; read again on a conflict.

        Several writers share the status (watchers and the reconcile), so each writes only over the
        version it read.
        """

        def write(chatbot: Mapping[str, Any]) -> None:
            observed = observe(chatbot)
            if observed is None:
                return
            corpus_obs, config_obs, deployment = observed
            # Only a reconcile acts on a new generation, so only it may claim to have observed one.
            seen = (chatbot.get("status") or {}).get("observedGeneration")
            self._write_status(
                chatbot, deployment, corpus_obs, config_obs, None, self.now(), observed_generation=seen
            )

        self._retry_on_conflict(namespace, name, write)

    # ---- inputs ----------------------------------------------------------------------

    def _resolve_settings(
        self, owner: Owner, spec: Mapping[str, Any], now: datetime
    ) -> tuple[ConfigObservation, _Settings | None]:
        try:
            system_prompt = self._read_system_prompt(owner, spec)
            values = render_bot_settings(owner.name, spec, system_prompt)
            llm_key = self._check_llm_key(owner, spec)
            self._check_fallback_keys(owner, spec)
            self._check_api_keys(owner, spec)
            secrets: dict[str, str] = {}
            revision_parts: list[str] = []
            unknown: tuple[str, ...] = ()
            resolved_at: str | None = None
            if spec.get("appConfiguration"):
                memo = self._resolve_app_configuration(owner, spec["appConfiguration"], now)
                from chatbot_operator.appconfig import merge_settings

                values = merge_settings(values, memo.resolved)
                secrets = dict(memo.resolved.secrets)
                revision_parts.append(memo.resolved.revision)
                unknown = tuple(memo.resolved.unknown_keys)
                resolved_at = format_time(memo.resolved_at)
                if LLM_KEY_IN_OWNED_SECRET in secrets:
                    llm_key = SecretKeyRef(naming.secret_name(owner.name), LLM_KEY_IN_OWNED_SECRET)
        except ConfigProblem as problem:
            return ConfigObservation(Condition(FALSE, problem.reason, problem.message)), None

        llm_ref = f"{llm_key.name}/{llm_key.key}" if llm_key else ""
        auth_ref = spec.get("auth", {}).get("apiKeysSecretRef", {}).get("name", "")
        settings_hash = compute_settings_hash(serialize_settings(values), llm_ref, auth_ref, *revision_parts)
        message = "Settings resolved."
        if unknown:
            message += f" Ignored unknown App Configuration keys: {', '.join(unknown)}."
        observation = ConfigObservation(
            Condition(TRUE, "Resolved", message), settings_hash, resolved_at, unknown
        )
        return observation, _Settings(values, secrets, llm_key, settings_hash)

    def _read_system_prompt(self, owner: Owner, spec: Mapping[str, Any]) -> str:
        if "systemPrompt" in spec:
            return str(spec["systemPrompt"])
        ref = spec["systemPromptFrom"]["configMapKeyRef"]
        config_map = self.kube.get(CONFIG_MAPS, owner.namespace, ref["name"])
        where = f"ConfigMap {owner.namespace}/{ref['name']}"
        if config_map is None:
            raise ConfigProblem("SystemPromptNotFound", f"{where} (spec.systemPromptFrom) does not exist.")
        prompt = (config_map.get("data") or {}).get(ref["key"])
        if not prompt:
            raise ConfigProblem(
                "SystemPromptNotFound", f"{where} has no key {ref['key']!r} (spec.systemPromptFrom)."
            )
        if len(prompt.encode()) > MAX_SYSTEM_PROMPT_BYTES:
            raise ConfigProblem(
                "SystemPromptTooLong",
                f"The system prompt in {where} key {ref['key']!r} is over "
                f"{MAX_SYSTEM_PROMPT_BYTES // 1024} KiB.",
            )
        return str(prompt)

    def _read_secret(self, owner: Owner, name: str) -> dict[str, str] | None:
        secret = self.kube.get(SECRETS, owner.namespace, name)
        if secret is None:
            return None
        decoded = {}
        for key, value in (secret.get("data") or {}).items():
            try:
                decoded[key] = base64.b64decode(value).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded[key] = ""  # not text; treated as unusable, and never echoed
        return decoded

    def _check_llm_key(self, owner: Owner, spec: Mapping[str, Any]) -> SecretKeyRef | None:
        """The key's Secret reference, once the key is there.

        Its value is not part of the settings hash: the pods mount the Secret and read a rotated key
        without a restart (chatbot_server.llm_key)."""
        ref = spec.get("llm", {}).get("apiKeySecretRef")
        if not ref:
            return None
        key = SecretKeyRef(ref["name"], ref.get("key", "apiKey"))
        data = self._read_secret(owner, key.name)
        if data is None:
            raise ConfigProblem(
                "LLMKeySecretNotFound",
                f"Secret {owner.namespace}/{key.name} (spec.llm.apiKeySecretRef) does not exist.",
            )
        if not data.get(key.key):
            raise ConfigProblem(
                "LLMKeySecretNotFound",
                f"Secret {owner.namespace}/{key.name} has no key {key.key!r} (spec.llm.apiKeySecretRef).",
            )
        return key

    def _check_fallback_keys(self, owner: Owner, spec: Mapping[str, Any]) -> None:
        """Each fallback's key is there (its pods mount it: a missing one would keep them from starting)."""
        for position, fallback in enumerate(spec.get("llm", {}).get("fallbacks") or ()):
            ref = fallback.get("apiKeySecretRef")
            if not ref:
                continue
            name, key = ref["name"], ref.get("key", "apiKey")
            field = f"spec.llm.fallbacks[{position}].apiKeySecretRef"
            data = self._read_secret(owner, name)
            if data is None:
                raise ConfigProblem(
                    "LLMKeySecretNotFound", f"Secret {owner.namespace}/{name} ({field}) does not exist."
                )
            if not data.get(key):
                raise ConfigProblem(
                    "LLMKeySecretNotFound", f"Secret {owner.namespace}/{name} has no key {key!r} ({field})."
                )

    def _check_api_keys(self, owner: Owner, spec: Mapping[str, Any]) -> None:
        ref = spec.get("auth", {}).get("apiKeysSecretRef")
        if ref and self._read_secret(owner, ref["name"]) is None:
            raise ConfigProblem(
                "APIKeysSecretNotFound",
                f"Secret {owner.namespace}/{ref['name']} (spec.auth.apiKeysSecretRef) does not exist.",
            )

    def _resolve_app_configuration(
        self, owner: Owner, spec: Mapping[str, Any], now: datetime
    ) -> _AppConfigMemo:
        # Imported here: the Azure SDK is loaded only by operators whose ChatBots use App Configuration.
        from chatbot_operator import appconfig

        key = (owner.namespace, owner.name)
        source = serialize_settings(spec)
        memo = self._appconfig.get(key)
        interval = corpus.parse_duration(spec.get("refreshInterval", "5m"))
        if memo is not None and memo.source == source and now - memo.resolved_at < interval:
            return memo
        connection_string = None
        ref = spec.get("connectionStringSecretRef")
        if ref:
            data = self._read_secret(owner, ref["name"])
            connection_string = (data or {}).get(ref.get("key", "connectionString"))
            if not connection_string:
                raise ConfigProblem(
                    "ConnectionStringSecretNotFound",
                    f"Secret {owner.namespace}/{ref['name']} with key {ref.get('key', 'connectionString')!r} "
                    "(spec.appConfiguration.connectionStringSecretRef) does not exist.",
                )
        if self._appconfig_cache is None:
            self._appconfig_cache = appconfig.AppConfigurationCache(
                startup_timeout=self.settings.appconfig_timeout,
                keyvault_options=keyvault_options(self.settings),
            )
        try:
            resolved = self._appconfig_cache.resolve(
                f"{owner.namespace}/{owner.name}", spec, connection_string=connection_string
            )
        except appconfig.AppConfigurationError as error:
            if memo is not None and memo.source == source:
                # Keep serving the last good settings; the condition still tells the truth.
                raise ConfigProblem(
                    error.reason, f"{error.message} Serving the last good settings."
                ) from None
            raise ConfigProblem(error.reason, error.message) from None
        memo = _AppConfigMemo(source, resolved, now)
        self._appconfig[key] = memo
        return memo

    def _corpus_due(self, corpus_spec: Mapping[str, Any], seen: Mapping[str, Any], now: datetime) -> bool:
        if seen.get("repo") != corpus_spec["repo"] or seen.get("ref") != corpus_spec.get("ref", "main"):
            return True
        if not seen.get("commit"):
            return True
        if corpus.is_commit_sha(corpus_spec.get("ref", "main")):
            return False  # a pinned commit never moves
        return corpus.corpus_refresh_due(
            seen.get("checkedAt"), corpus_spec.get("refreshInterval", "10m"), now
        )

    def _resolve_corpus(
        self, owner: Owner, spec: Mapping[str, Any], seen: Mapping[str, Any], now: datetime
    ) -> CorpusObservation:
        corpus_spec = spec.get("corpus")
        if not corpus_spec:
            return CorpusObservation(
                Condition(TRUE, "NoCorpus", "No corpus is configured; the bot answers from its FAQ.")
            )
        repo, ref = corpus_spec["repo"], corpus_spec.get("ref", "main")
        same_source = seen.get("repo") == repo
        failure = seen.get("fetchFailure") or {}
        if not self._corpus_due(corpus_spec, seen, now):
            if failure.get("commit") == seen["commit"] and failure.get("source") == _corpus_source(
                corpus_spec
            ):
                return CorpusObservation(
                    Condition(FALSE, failure["reason"], failure["message"]),
                    seen["commit"],
                    repo,
                    ref,
                    seen.get("checkedAt"),
                    failure,
                )
            return CorpusObservation(
                Condition(TRUE, "Synced", f"Serving commit {seen['commit']} of {ref}."),
                seen["commit"],
                repo,
                ref,
                seen.get("checkedAt"),
            )
        try:
            credentials = None
            secret_name = corpus_spec.get("credentialsSecretRef", {}).get("name")
            if secret_name:
                data = self._read_secret(owner, secret_name)
                if data is None:
                    raise corpus.CorpusError(
                        "CredentialsSecretNotFound",
                        f"Secret {owner.namespace}/{secret_name} "
                        "(spec.corpus.credentialsSecretRef) does not exist.",
                    )
                credentials = corpus.GitCredentials.from_secret_data(data)
            commit = self.resolve_commit(repo, ref, credentials, timeout=self.settings.corpus_resolve_timeout)
        except corpus.CorpusError as error:
            previous = seen.get("commit") if same_source else None
            message = error.message + (f" Still serving commit {previous}." if previous else "")
            return CorpusObservation(
                Condition(FALSE, error.reason, message),
                previous,
                repo if previous else None,
                seen.get("ref") if previous else None,
                seen.get("checkedAt") if previous else None,
            )
        return CorpusObservation(
            Condition(TRUE, "Synced", f"Serving commit {commit} of {ref}."),
            commit,
            repo,
            ref,
            format_time(now),
        )

    # ---- children and status ------------------------------------------------------------

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

    def _write_status(
        self,
        body: Mapping[str, Any],
        deployment: Mapping[str, Any] | None,
        corpus_obs: CorpusObservation,
        config_obs: ConfigObservation,
        apply_error: Condition | None,
        now: datetime,
        *,
        observed_generation: int | None = None,
    ) -> None:
        metadata, spec = body["metadata"], body.get("spec", {})
        previous = body.get("status") or {}
        owner = Owner(metadata["name"], metadata["namespace"], metadata.get("uid", ""))
        generation = int(
            metadata.get("generation", 0) if observed_generation is None else observed_generation
        )
        rollout = observe_rollout(deployment)
        ready = apply_error or summarize_ready(
            config_obs.condition, corpus_obs.condition, rollout.available, rollout.progressing
        )
        conditions = merge_conditions(
            previous.get("conditions") or [],
            {
                READY: ready,
                AVAILABLE: rollout.available,
                PROGRESSING: rollout.progressing,
                CORPUS_SYNCED: corpus_obs.condition,
                CONFIG_RESOLVED: config_obs.condition,
            },
            generation=generation,
            now=now,
        )
        desired_replicas = spec.get("replicas")
        if desired_replicas is None:
            desired_replicas = rollout.desired
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "replicas": rollout.replicas,
            "readyReplicas": rollout.ready,
            "ready": f"{rollout.ready}/{desired_replicas}",
            "selector": naming.selector_string(owner.name),
            "endpoint": builders.service_endpoint(owner, spec),
            "conditions": conditions,
        }
        model = config_obs.model or previous.get("model") or spec.get("model")
        if model:
            status["model"] = model
        if corpus_obs.commit:
            status["corpus"] = {
                "commit": corpus_obs.commit,
                "shortCommit": corpus_obs.commit[:7],
                "repo": corpus_obs.repo,
                "ref": corpus_obs.ref,
                "checkedAt": corpus_obs.checked_at,
            }
            if corpus_obs.fetch_failure:
                status["corpus"]["fetchFailure"] = dict(corpus_obs.fetch_failure)
        config_status: dict[str, Any] = {}
        if config_obs.revision:
            config_status["revision"] = config_obs.revision
        elif (previous.get("config") or {}).get("revision"):
            config_status["revision"] = previous["config"]["revision"]
        if config_obs.resolved_at:
            config_status["resolvedAt"] = config_obs.resolved_at
        if config_obs.unknown_keys:
            config_status["unknownKeys"] = list(config_obs.unknown_keys)
        if config_status:
            status["config"] = config_status

        old = strip_volatile(previous)
        if _without_nones(status) == old:
            return
        patch = _merge_patch(old, status)
        self.kube.patch_status(
            CHATBOTS, owner.namespace, owner.name, patch, resource_version=metadata.get("resourceVersion")
        )
        for condition in list_transitions(previous.get("conditions") or [], conditions):
            event_type = (
                "Warning" if condition["status"] == FALSE and condition["type"] != PROGRESSING else "Normal"
            )
            try:
                self.post_event(
                    body, event_type, condition["reason"], f"{condition['type']}: {condition['message']}"
                )
            except KubeError as error:
                # Best effort, as client-go's recorder: the status (already written) is the record;
                # raising here would retry a reconcile whose status no longer differs, posting nothing.
                logger.warning(
                    "Event %s for ChatBot %s/%s not recorded: %s",
                    condition["reason"], owner.namespace, owner.name, error.message,
                )  # fmt: skip


def keyvault_options(settings: OperatorSettings) -> "KeyVaultOptions":
    """How Key Vault references are read, from the operator's settings."""
    from chatbot_operator.appconfig import KeyVaultOptions

    return KeyVaultOptions(
        api_version=settings.keyvault_api_version or None,
        connection_verify=settings.keyvault_ca_bundle or True,
        verify_challenge_resource=settings.keyvault_verify_challenge_resource,
    )


def _corpus_source(corpus_spec: Mapping[str, Any]) -> str:
    """What, besides the commit, decides whether a fetch can succeed."""
    return compute_settings_hash(serialize_settings(corpus_spec))


def _merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch from `old` to `new`. Keys we no longer report, nested ones included (a
    stale status.config.unknownKeys), are removed explicitly: a merge patch keeps what it does not name."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        previous = old.get(key)
        if isinstance(value, Mapping) and isinstance(previous, Mapping):
            patch[key] = _merge_patch(previous, value)
        else:
            patch[key] = value
    return patch


def _without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nones(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nones(item) for item in value]
    return value


def _observations_from_status(status: Mapping[str, Any]) -> tuple[CorpusObservation, ConfigObservation]:
    """What the last full reconcile concluded about the corpus and the settings."""
    by_type = {c.get("type"): c for c in status.get("conditions") or []}

    def condition(kind: str) -> Condition:
        found = by_type.get(kind)
        if found is None:
            return Condition(UNKNOWN, "Reconciling", "The operator has not checked this yet.")
        return Condition(str(found.get("status")), str(found.get("reason")), str(found.get("message", "")))

    seen_corpus = status.get("corpus") or {}
    seen_config = status.get("config") or {}
    corpus_obs = CorpusObservation(
        condition(CORPUS_SYNCED),
        seen_corpus.get("commit"),
        seen_corpus.get("repo"),
        seen_corpus.get("ref"),
        seen_corpus.get("checkedAt"),
        seen_corpus.get("fetchFailure"),
    )
    config_obs = ConfigObservation(
        condition(CONFIG_RESOLVED),
        seen_config.get("revision"),
        seen_config.get("resolvedAt"),
        tuple(seen_config.get("unknownKeys", ())),
        status.get("model"),
    )
    return corpus_obs, config_obs
