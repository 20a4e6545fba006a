"""The bot's one typed settings object, read from `CHATBOT_*` variables and the mounted settings.json.

Precedence, highest first: explicit overrides (command-line flags), environment variables, the JSON
file at `$CHATBOT_CONFIG_FILE`, defaults. The operator renders settings.json with exactly these field
names, so an unknown key in the file is a start-up error naming the key rather than a silent no-op.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

import chatbot_contract as contract
from chatbot_server.golden import GoldenQuestion
from chatbot_server.llm_key import read_key_file

LlmProvider = Literal["offline", "openai", "azure-openai", "openai-compatible"]
ModelProvider = Literal["openai", "azure-openai", "openai-compatible"]
DEFAULT_API_VERSION = "2024-10-21"
RetrievalMode = Literal["keyword", "semantic", "hybrid"]

# Settings that must never be written into the ConfigMap-backed file: secrets come from env only.
SECRET_FIELDS: frozenset[str] = frozenset({"llm_api_key"})

DEFAULT_FALLBACK_MESSAGE = "A human will be in touch shortly."
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer from the FAQ and the documentation passages you are given, "
    "cite the source paths you used, and say so when you do not know."
)


class SettingsError(Exception):
    """The settings cannot be loaded; the message names the file, key or variable to fix."""


class FaqEntry(BaseModel):
    """A known question with its fixed answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class LlmModel(BaseModel):
    """One model the bot can call: a fallback of `llm_fallbacks`, or the primary (`Settings.llm_models`).

    A fallback's API key comes from a file only (a mounted Secret item, read again while the bot
    runs), never from the settings file.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    provider: ModelProvider
    model: str = Field(min_length=1, description="Model id, passed to the LLM unchanged.")
    base_url: str | None = Field(None, pattern=r"^https?://\S+$")
    api_version: str = DEFAULT_API_VERSION
    deployment: str | None = Field(None, description="Azure deployment; default: the model.")
    api_key_file: Path | None = None
    api_key: SecretStr | None = Field(None, exclude=True, description="Read from api_key_file.")

    @model_validator(mode="before")
    @classmethod
    def _read_key_file(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        if _is_set(values.get("api_key")):
            raise ValueError("a fallback's API key is read from a file: set api_key_file, not api_key")
        if not _is_set(values.get("api_key_file")):
            return values
        return {**values, "api_key": read_key_file(Path(values["api_key_file"]))}

    @model_validator(mode="after")
    def _check(self) -> LlmModel:
        if self.provider in ("azure-openai", "openai-compatible") and not self.base_url:
            raise ValueError(f"provider {self.provider!r} needs base_url (the endpoint URL)")
        if self.provider in ("openai", "azure-openai") and self.api_key is None:
            raise ValueError(f"provider {self.provider!r} needs an API key: set api_key_file")
        return self


class Settings(BaseSettings):
    """Everything the bot can be told. Field names are the keys of settings.json."""

    model_config = SettingsConfigDict(
        env_prefix=contract.ENV_PREFIX,
        extra="forbid",
        frozen=True,
        # Kubernetes Secrets and ConfigMaps often end values with a newline.
        str_strip_whitespace=True,
    )

    # Who the bot is.
    name: str = Field("chatbot", min_length=1, max_length=200)
    model: str = Field("gpt-4o-mini", min_length=1, description="Model id, passed to the LLM unchanged.")
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    greeting: str = Field("", description="Empty: 'Hi, I'm <name>. How can I help you?'")

    # Generation parameters; None leaves the upstream's default.
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    max_context_tokens: int = Field(4000, ge=64, description="Token budget of the prompt sent upstream.")

    # The LLM.
    llm_provider: LlmProvider = "offline"
    llm_base_url: str | None = None
    llm_api_version: str = DEFAULT_API_VERSION
    llm_deployment: str | None = Field(None, description="Azure deployment; default: the model.")
    llm_timeout_seconds: float = Field(60.0, gt=0)
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_api_key: SecretStr | None = None
    # Where the pod's mounted Secret puts the key; read at start, then again while the bot runs.
    llm_api_key_file: Path | None = None
    # Tried in order when the model before fails with a retryable error before any answer was sent.
    llm_fallbacks: list[LlmModel] = Field(default_factory=list, max_length=5)

    # Answers without the LLM.
    faq: list[FaqEntry] = Field(default_factory=list)
    faq_match_threshold: float = Field(0.5, gt=0, le=1)
    fallback_message: str = Field(DEFAULT_FALLBACK_MESSAGE, min_length=1)
    retrieval_top_k: int = Field(4, ge=0, le=50)
    # hybrid: BM25 and embeddings fused (the best figures, docs/benchmarks.md "Answer quality");
    # keyword until the chunk vectors are ready, and for good when the model is missing.
    retrieval_mode: RetrievalMode = "hybrid"
    embedding_model_dir: Path | None = Path(contract.EMBEDDING_MODEL_DIR)
    # The LLM provider's embeddings instead of the bundled model (remote_embeddings.py): the model
    # id (on Azure OpenAI, its deployment), the vectors' size asked for, and the cosine similarity a
    # question's best passage must reach (None: every question's passages go to the model).
    embeddings_model: str | None = Field(None, min_length=1, max_length=256)
    embeddings_dimensions: int | None = Field(None, ge=1, le=8192)
    embeddings_relevance_threshold: float | None = Field(None, ge=-1, le=1)
    # Where the golden check leaves the chunk vectors for the bot (vector_cache.py); set by the
    # operator in pods with golden questions. None: each process computes its own.
    vectors_dir: Path | None = None
    # How many chunks the bundled model embeds at once, one core each (at most 2,
    # embeddings.MAX_THREADS). The operator sets it in the golden check's container to its CPU
    # limit, rounded up, or the node's CPUs without one (the downward API); None: one.
    embedding_threads: int | None = Field(None, ge=1)
    # Asked by `python -m chatbot_server.golden_check` before the pod serves; the server ignores them.
    golden_questions: list[GoldenQuestion] = Field(default_factory=list)

    # Protection.
    max_message_chars: int = Field(8000, ge=1)
    max_messages: int = Field(50, ge=1)
    max_body_bytes: int = Field(262_144, ge=1024)
    transcript_log: bool = False

    # Files and listening.
    corpus_dir: Path = Path(contract.CORPUS_DIR)
    api_keys_dir: Path | None = Path(contract.API_KEYS_DIR)
    host: str = "0.0.0.0"
    port: int = Field(contract.PORT, ge=1, le=65535)

    @field_validator(
        "api_keys_dir",
        "embedding_model_dir",
        "embeddings_model",
        "vectors_dir",
        "llm_base_url",
        "llm_deployment",
        "llm_api_key",
        "llm_api_key_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # An empty variable means "not set", never the current directory or an empty key.
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="before")
    @classmethod
    def _read_llm_key_file(cls, values: Any) -> Any:
        if not isinstance(values, dict) or not _is_set(values.get("llm_api_key_file")):
            return values
        if _is_set(values.get("llm_api_key")):
            raise ValueError(
                f"set the LLM API key by {contract.LLM_API_KEY_ENV} or by "
                f"{contract.LLM_API_KEY_FILE_ENV}, not both"
            )
        return {**values, "llm_api_key": read_key_file(Path(values["llm_api_key_file"]))}

    @model_validator(mode="after")
    def _check_llm(self) -> Settings:
        provider = self.llm_provider
        if provider in ("azure-openai", "openai-compatible") and not self.llm_base_url:
            raise ValueError(f"llm_provider {provider!r} needs llm_base_url (the endpoint URL)")
        if provider in ("openai", "azure-openai") and self.llm_api_key is None:
            raise ValueError(
                f"llm_provider {provider!r} needs an API key: set {contract.LLM_API_KEY_ENV} "
                f"or {contract.LLM_API_KEY_FILE_ENV}"
            )
        if provider == "offline" and self.llm_fallbacks:
            raise ValueError("llm_fallbacks need a primary model: set llm_provider (it is offline)")
        return self

    @model_validator(mode="after")
    def _check_embeddings(self) -> Settings:
        if self.embeddings_model is None:
            if self.embeddings_dimensions is not None or self.embeddings_relevance_threshold is not None:
                raise ValueError(
                    "embeddings_dimensions and embeddings_relevance_threshold need embeddings_model"
                )
            return self
        if self.offline:
            raise ValueError(
                "embeddings_model needs a language model provider for its embeddings endpoint: "
                "set llm_provider (it is offline)"
            )
        if self.retrieval_mode == "keyword":
            raise ValueError(
                "embeddings_model is not used by retrieval_mode 'keyword': set semantic or hybrid"
            )
        return self

    @property
    def greeting_text(self) -> str:
        return self.greeting or f"Hi, I'm {self.name}. How can I help you?"

    @property
    def offline(self) -> bool:
        return self.llm_provider == "offline"

    @property
    def llm_models(self) -> list[LlmModel]:
        """The primary model, then its fallbacks (none in offline mode)."""
        if self.llm_provider == "offline":
            return []
        primary = LlmModel.model_construct(
            provider=self.llm_provider,
            model=self.model,
            base_url=self.llm_base_url,
            api_version=self.llm_api_version,
            deployment=self.llm_deployment,
            api_key_file=self.llm_api_key_file,
            api_key=self.llm_api_key,
        )
        return [primary, *self.llm_fallbacks]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls))


def _is_set(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


# The values of the settings file being loaded; set only for the duration of load_settings().
_file_values: ContextVar[Mapping[str, Any] | None] = ContextVar("chatbot_file_values", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """The settings.json values, below environment variables in precedence."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_file_values.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_values.get() or {})


@contextmanager
def _with_file_values(values: Mapping[str, Any]) -> Iterator[None]:
    token = _file_values.set(values)
    try:
        yield
    finally:
        _file_values.reset(token)


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings file as a dict, with every key checked against the settings fields."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except OSError as error:
        raise SettingsError(f"cannot read the settings file {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise SettingsError(f"the settings file {path} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise SettingsError(f"the settings file {path} must hold a JSON object, not {type(data).__name__}")
    for key in data:
        if key in SECRET_FIELDS:
            raise SettingsError(
                f"the settings file {path} must not contain the secret {key!r}: "
                f"set the environment variable {contract.ENV_PREFIX}{key.upper()} instead"
            )
        if key not in Settings.model_fields:
            known = ", ".join(sorted(set(Settings.model_fields) - SECRET_FIELDS))
            raise SettingsError(f"unknown key {key!r} in the settings file {path}; known keys: {known}")
    return data


def resolve_config_file(explicit: Path | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The settings file to read, and whether it was asked for (then it must exist)."""
    if explicit is not None:
        return explicit, True
    from_env = environ.get(contract.CONFIG_FILE_ENV)
    if from_env:
        return Path(from_env), True
    return Path(contract.CONFIG_FILE), False


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings from the environment and the settings file; raise SettingsError on any problem.

    `overrides` (command-line flags, tests) win over everything else.
    """
    path, required = resolve_config_file(config_file, os.environ)
    values: dict[str, Any] = {}
    if path.is_file() or required:
        values = read_config_file(path)
    try:
        with _with_file_values(values):
            return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error, path)) from None


def describe_validation_error(error: ValidationError, config_file: Path) -> str:
    """One line per problem, naming the setting, where it can be set, and never echoing a secret."""
    lines = []
    for problem in error.errors():
        if not problem["loc"]:  # a check across fields: its message names them
            lines.append(problem["msg"].removeprefix("Value error, "))
            continue
        key = ".".join(str(part) for part in problem["loc"])
        field = str(problem["loc"][0])
        where = f"{contract.ENV_PREFIX}{field.upper()} or {config_file}"
        lines.append(f"{key}: {problem['msg']} (set by {where})")
    return "invalid settings:\n  " + "\n  ".join(lines)
