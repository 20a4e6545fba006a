"""Observations: a ChatBot's inputs, read from the cluster, git and App Configuration into plain data.

The only module of the reconcile path that reads inputs (the system prompt's ConfigMap, users'
Secrets, the corpus ref, App Configuration); what it returns is plain data that the pure plan
(`chatbot_operator.plan`) and status (`chatbot_operator.status`) work from. A problem with an
input is an observation too: a condition with a reason, never an exception.
"""

import base64
import binascii
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chatbot_operator import corpus, naming, spec_fields
from chatbot_operator.bot_settings import compute_settings_hash, serialize_settings
from chatbot_operator.builders import Owner
from chatbot_operator.config import OperatorSettings
from chatbot_operator.kube import CONFIG_MAPS, SECRETS, Kube
from chatbot_operator.spec_fields import SecretKeyRef
from chatbot_operator.status import (
    FALSE,
    TRUE,
    Condition,
    ConfigObservation,
    CorpusObservation,
    format_time,
)

if TYPE_CHECKING:  # the Azure SDKs are imported only when a ChatBot uses App Configuration
    from chatbot_operator.appconfig import KeyVaultOptions, ResolvedAppConfiguration

MAX_SYSTEM_PROMPT_BYTES = 256 * 1024
# The key, in the ChatBot's own Secret, of an LLM key resolved from App Configuration.
LLM_KEY_IN_OWNED_SECRET = "llmApiKey"


@dataclass(frozen=True)
class SettingsInputs:
    """What the bot's settings are rendered from, besides the spec (chatbot_operator.plan)."""

    system_prompt: str
    # The user's Secret holding the LLM key, once it holds the key.
    llm_key: SecretKeyRef | None
    app_configuration: "ResolvedAppConfiguration | None" = None


@dataclass(frozen=True)
class Observations:
    """Everything a reconcile plans from, besides the spec."""

    config: ConfigObservation
    corpus: CorpusObservation
    # None when the settings cannot be resolved (config.condition says why).
    inputs: SettingsInputs | None


class ConfigProblem(Exception):
    """A setting cannot be resolved; reason and message go into ConfigResolved (never a secret)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class _AppConfigMemo:
    source: str
    resolved: "ResolvedAppConfiguration"
    resolved_at: datetime


@dataclass
class Observer:
    """Reads a ChatBot's inputs. Keeps the last good App Configuration per ChatBot, served while the
    store is down, and one long-lived provider per ChatBot (ETags and sentinel keys save work)."""

    kube: Kube
    settings: OperatorSettings
    resolve_commit: Callable[..., str] = corpus.resolve_corpus_commit
    _appconfig: dict[tuple[str, str], _AppConfigMemo] = field(default_factory=dict)
    _appconfig_cache: Any = None  # chatbot_operator.appconfig.AppConfigurationCache, created on first use
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(
        self, owner: Owner, spec: Mapping[str, Any], status: Mapping[str, Any], now: datetime
    ) -> Observations:
        """What the ChatBot's inputs are now; `status` is its last status (the corpus commit served)."""
        config, inputs = self._observe_settings(owner, spec, now)
        corpus_obs = self._observe_corpus(owner, spec, status.get("corpus") or {}, now)
        return Observations(config, corpus_obs, inputs)

    def app_configuration_resolved_at(self, namespace: str, name: str) -> datetime | None:
        """When App Configuration was last read with success for this ChatBot (None: never)."""
        with self._lock:
            memo = self._appconfig.get((namespace, name))
        return None if memo is None else memo.resolved_at

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._appconfig.pop((namespace, name), None)
        if self._appconfig_cache is not None:
            self._appconfig_cache.forget(f"{namespace}/{name}")

    # ---- settings ------------------------------------------------------------------------

    def _observe_settings(
        self, owner: Owner, spec: Mapping[str, Any], now: datetime
    ) -> tuple[ConfigObservation, SettingsInputs | None]:
        resolved: ResolvedAppConfiguration | None = None
        resolved_at: str | None = None
        try:
            system_prompt = self._read_system_prompt(owner, spec)
            llm_key = self._check_llm_key(owner, spec)
            self._check_fallback_keys(owner, spec)
            self._check_api_keys(owner, spec)
            if spec.get("appConfiguration"):
                memo = self._resolve_app_configuration(owner, spec["appConfiguration"], now)
                resolved, resolved_at = memo.resolved, format_time(memo.resolved_at)
        except ConfigProblem as problem:
            return ConfigObservation(Condition(FALSE, problem.reason, problem.message)), None
        unknown = tuple(resolved.unknown_keys) if resolved is not None else ()
        message = "Settings resolved."
        if unknown:
            message += f" Ignored unknown App Configuration keys: {', '.join(unknown)}."
        observation = ConfigObservation(Condition(TRUE, "Resolved", message), resolved_at, unknown)
        return observation, SettingsInputs(system_prompt, llm_key, resolved)

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
        key = spec_fields.llm_key_ref(spec)
        if key is None:
            return None
        self._check_key(owner, key, "spec.llm.apiKeySecretRef")
        return key

    def _check_fallback_keys(self, owner: Owner, spec: Mapping[str, Any]) -> None:
        """Each fallback model's key is there: its pods mount it, and could not start without it."""
        for position, key in spec_fields.fallback_key_refs(spec):
            self._check_key(owner, key, f"spec.llm.fallbacks[{position}].apiKeySecretRef")

    def _check_key(self, owner: Owner, key: SecretKeyRef, field: str) -> None:
        data = self._read_secret(owner, key.name)
        if data is None:
            raise ConfigProblem(
                "LLMKeySecretNotFound", f"Secret {owner.namespace}/{key.name} ({field}) does not exist."
            )
        if not data.get(key.key):
            raise ConfigProblem(
                "LLMKeySecretNotFound",
                f"Secret {owner.namespace}/{key.name} has no key {key.key!r} ({field}).",
            )

    def _check_api_keys(self, owner: Owner, spec: Mapping[str, Any]) -> None:
        name = spec_fields.api_keys_secret_name(spec)
        if name and self._read_secret(owner, name) is None:
            raise ConfigProblem(
                "APIKeysSecretNotFound",
                f"Secret {owner.namespace}/{name} (spec.auth.apiKeysSecretRef) does not exist.",
            )

    def _resolve_app_configuration(
        self, owner: Owner, spec: Mapping[str, Any], now: datetime
    ) -> _AppConfigMemo:
        # Imported here: the Azure SDK is loaded only by operators whose ChatBots use App Configuration.
        from chatbot_operator import appconfig

        key = (owner.namespace, owner.name)
        source = serialize_settings(spec)
        with self._lock:
            memo = self._appconfig.get(key)
        interval = spec_fields.app_configuration_refresh_interval(spec)
        if memo is not None and memo.source == source and now - memo.resolved_at < interval:
            return memo
        connection_string = None
        ref = spec.get("connectionStringSecretRef")
        if ref:
            secret_key = ref.get("key", spec_fields.APP_CONFIGURATION_CONNECTION_STRING_KEY)
            data = self._read_secret(owner, ref["name"])
            connection_string = (data or {}).get(secret_key)
            if not connection_string:
                raise ConfigProblem(
                    "ConnectionStringSecretNotFound",
                    f"Secret {owner.namespace}/{ref['name']} with key {secret_key!r} "
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
        with self._lock:
            self._appconfig[key] = memo
        return memo

    # ---- corpus --------------------------------------------------------------------------

    def _observe_corpus(
        self, owner: Owner, spec: Mapping[str, Any], seen: Mapping[str, Any], now: datetime
    ) -> CorpusObservation:
        corpus_spec = spec.get("corpus")
        if not corpus_spec:
            return CorpusObservation(
                Condition(TRUE, "NoCorpus", "No corpus is configured; the bot answers from its FAQ.")
            )
        repo, ref = corpus_spec["repo"], spec_fields.corpus_ref(corpus_spec)
        if not corpus.corpus_due(corpus_spec, seen, now):
            failure = seen.get("fetchFailure") or {}
            if failure.get("commit") == seen["commit"] and failure.get("source") == corpus_source(
                corpus_spec
            ):
                return CorpusObservation(
                    Condition(FALSE, failure["reason"], failure["message"]),
                    seen["commit"], repo, ref, seen.get("checkedAt"), failure,
                )  # fmt: skip
            return CorpusObservation(
                Condition(TRUE, "Synced", f"Serving commit {seen['commit']} of {ref}."),
                seen["commit"], repo, ref, seen.get("checkedAt"),
            )  # fmt: skip
        try:
            credentials = None
            secret_name = spec_fields.corpus_credentials_secret(corpus_spec)
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
            previous = seen.get("commit") if seen.get("repo") == repo else None
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


def corpus_source(corpus_spec: Mapping[str, Any]) -> str:
    """What, besides the commit, decides whether a fetch can succeed."""
    return compute_settings_hash(serialize_settings(corpus_spec))


def corpus_failure_observation(
    corpus_spec: Mapping[str, Any] | None, seen: CorpusObservation, pod: Mapping[str, Any]
) -> CorpusObservation | None:
    """A bot pod's failed corpus init container, as an observation about the commit status serves.

    None when the pod did not fail, or ran another commit than the one status describes."""
    failure = corpus.corpus_failure_from_pod(pod)
    commit = (pod.get("metadata", {}).get("annotations") or {}).get(naming.ANNOTATION_CORPUS_COMMIT)
    if failure is None or not commit or not corpus_spec or seen.commit != commit:
        return None
    record = {"commit": commit, "reason": failure.reason, "message": failure.message,
              "source": corpus_source(corpus_spec)}  # fmt: skip
    return CorpusObservation(
        Condition(FALSE, failure.reason, failure.message),
        seen.commit,
        seen.repo,
        seen.ref,
        seen.checked_at,
        record,
    )


def keyvault_options(settings: OperatorSettings) -> "KeyVaultOptions":
    """How Key Vault references are read, from the operator's settings."""
    from chatbot_operator.appconfig import KeyVaultOptions

    return KeyVaultOptions(
        api_version=settings.keyvault_api_version or None,
        connection_verify=settings.keyvault_ca_bundle or True,
        verify_challenge_resource=settings.keyvault_verify_challenge_resource,
    )
