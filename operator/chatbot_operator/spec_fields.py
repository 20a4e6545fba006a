"""The ChatBot spec, operator side: each field's name and default, defined once.

The CRD (crds/chatbot-operator.io_chatbots.yaml) declares the same defaults; a unit test checks
that the two agree. A default the CRD declares inside an optional object (`generation`, `llm`,
`corpus`...) is applied by the API server only when that object is present, so the operator
applies the default here whether or not the object is present: one rule for every ChatBot.

Adding a spec field that the bot reads: one `BotSetting` row in BOT_SETTINGS (its spec path, the
bot's settings field name and the CRD's default), the field in the CRD, and a line in
docs/chatbot-reference.md. `render_bot_settings` (chatbot_operator.bot_settings) does the rest.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from chatbot_operator.durations import parse_duration


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# No default: a field left unset is left out of the bot's settings (the bot's own default applies).
UNSET: Final = _Unset()


@dataclass(frozen=True)
class SecretKeyRef:
    """One key of a Secret in the ChatBot's namespace."""

    name: str
    key: str


@dataclass(frozen=True)
class BotSetting:
    """A spec field rendered into the bot's settings document (settings.json)."""

    path: tuple[str, ...]  # where it is in spec, e.g. ("generation", "temperature")
    setting: str  # the bot's settings field name (chatbot_server.settings.Settings)
    default: Any = UNSET  # the CRD's default, rendered when the field is unset

    @property
    def spec_path(self) -> str:
        return "spec." + ".".join(self.path)


BOT_SETTINGS: Final = (
    BotSetting(("model",), "model", "gpt-4o-mini"),
    BotSetting(("greeting",), "greeting"),
    BotSetting(("maxContextTokens",), "max_context_tokens", 4000),
    BotSetting(("fallbackMessage",), "fallback_message", "A human will be in touch shortly."),
    BotSetting(("transcriptLog",), "transcript_log", False),
    BotSetting(("generation", "temperature"), "temperature", 0.7),
    BotSetting(("generation", "maxTokens"), "max_tokens"),  # unset: the model's own limit
    BotSetting(("generation", "topP"), "top_p", 1),
    BotSetting(("generation", "presencePenalty"), "presence_penalty", 0),
    BotSetting(("generation", "frequencyPenalty"), "frequency_penalty", 0),
    BotSetting(("llm", "provider"), "llm_provider", "offline"),
    BotSetting(("llm", "baseURL"), "llm_base_url"),
    BotSetting(("llm", "apiVersion"), "llm_api_version", "2024-10-21"),
    BotSetting(("llm", "deployment"), "llm_deployment"),  # unset: the model's name
    BotSetting(("llm", "timeoutSeconds"), "llm_timeout_seconds", 60),
    BotSetting(("llm", "maxRetries"), "llm_max_retries", 2),
    BotSetting(("retrieval", "topK"), "retrieval_top_k", 4),
    BotSetting(("retrieval", "mode"), "retrieval_mode", "hybrid"),
    # The LLM provider's embeddings instead of the bundled model; unset: the bundled model.
    BotSetting(("retrieval", "embeddings", "model"), "embeddings_model"),
    BotSetting(("retrieval", "embeddings", "dimensions"), "embeddings_dimensions"),
    BotSetting(("retrieval", "embeddings", "relevanceThreshold"), "embeddings_relevance_threshold"),
)

# Defaults of the fields the operator itself reads (not rendered into the bot's settings).
SERVICE_TYPE: Final = "ClusterIP"
SERVICE_PORT: Final = 80
LLM_KEY_SECRET_KEY: Final = "apiKey"
CORPUS_REF: Final = "main"
CORPUS_REFRESH_INTERVAL: Final = "10m"
CORPUS_MAX_SIZE_MIB: Final = 100
APP_CONFIGURATION_REFRESH_INTERVAL: Final = "5m"
APP_CONFIGURATION_CONNECTION_STRING_KEY: Final = "connectionString"
# Used when spec.resources is unset: small, but enough for the index of a mid-sized corpus.
RESOURCES: Final = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def read(spec: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at `path` in `spec`, or UNSET."""
    value: Any = spec
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return UNSET
        value = value[key]
    return value


def read_or_default(spec: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at `path`, else its BOT_SETTINGS default (UNSET if it has none)."""
    value = read(spec, path)
    if value is UNSET:
        value = next((field.default for field in BOT_SETTINGS if field.path == path), UNSET)
    return value


def embeds_with_bundled_model(spec: Mapping[str, Any]) -> bool:
    """Whether the bot embeds its corpus with its bundled model: in semantic or hybrid mode, without
    the provider's embeddings (spec.retrieval.embeddings)."""
    mode = read_or_default(spec, ("retrieval", "mode"))
    return mode != "keyword" and read(spec, ("retrieval", "embeddings", "model")) is UNSET


def service_type(spec: Mapping[str, Any]) -> str:
    return str(spec.get("service", {}).get("type", SERVICE_TYPE))


def service_port(spec: Mapping[str, Any]) -> int:
    return int(spec.get("service", {}).get("port", SERVICE_PORT))


def llm_key_ref(spec: Mapping[str, Any]) -> SecretKeyRef | None:
    """spec.llm.apiKeySecretRef, with its default key."""
    ref = spec.get("llm", {}).get("apiKeySecretRef")
    return SecretKeyRef(ref["name"], ref.get("key", LLM_KEY_SECRET_KEY)) if ref else None


def fallback_key_ref(fallback: Mapping[str, Any]) -> SecretKeyRef | None:
    """One spec.llm.fallbacks[] item's apiKeySecretRef, with its default key."""
    ref = fallback.get("apiKeySecretRef")
    return SecretKeyRef(ref["name"], ref.get("key", LLM_KEY_SECRET_KEY)) if ref else None


def fallback_key_refs(spec: Mapping[str, Any]) -> list[tuple[int, SecretKeyRef]]:
    """The key of each fallback model that has one, with the fallback's position (from 0)."""
    fallbacks = spec.get("llm", {}).get("fallbacks") or ()
    return [(position, ref) for position, item in enumerate(fallbacks) if (ref := fallback_key_ref(item))]


def api_keys_secret_name(spec: Mapping[str, Any]) -> str | None:
    """spec.auth.apiKeysSecretRef.name: the Secret of the bot's accepted bearer keys."""
    name = spec.get("auth", {}).get("apiKeysSecretRef", {}).get("name")
    return str(name) if name else None


def corpus_ref(corpus: Mapping[str, Any]) -> str:
    return str(corpus.get("ref", CORPUS_REF))


def corpus_refresh_interval(corpus: Mapping[str, Any]) -> timedelta:
    return parse_duration(
        corpus.get("refreshInterval", CORPUS_REFRESH_INTERVAL), "spec.corpus.refreshInterval"
    )


def corpus_max_size_mib(corpus: Mapping[str, Any]) -> int:
    return int(corpus.get("maxSizeMiB", CORPUS_MAX_SIZE_MIB))


def corpus_credentials_secret(corpus: Mapping[str, Any]) -> str | None:
    name = corpus.get("credentialsSecretRef", {}).get("name")
    return str(name) if name else None


def app_configuration_refresh_interval(app_configuration: Mapping[str, Any]) -> timedelta:
    return parse_duration(
        app_configuration.get("refreshInterval", APP_CONFIGURATION_REFRESH_INTERVAL),
        "spec.appConfiguration.refreshInterval",
    )
