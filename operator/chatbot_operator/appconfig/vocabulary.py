"""The App Configuration key vocabulary: which keys (after prefix trimming) set which bot setting.

Values arrive as strings, or already parsed when the key's content type is JSON; each is typed and
checked here, so a malformed value fails resolution (reason InvalidValue, naming the key) instead
of reaching the bot. Messages describe what was expected, never the value itself.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlparse

from chatbot_operator.appconfig.errors import INVALID_VALUE, AppConfigurationError

# The Secret data key the resolved LLM API key is written under (in the `<name>-secrets` Secret).
LLM_API_KEY_SECRET_KEY: Final = "llmApiKey"

LLM_PROVIDERS: Final = ("openai", "azure-openai", "openai-compatible", "offline")


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a string")
    return value


def _non_empty_string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value


def _number(low: float, high: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        expected = f"a number from {low:g} to {high:g}"
        if isinstance(value, bool):
            raise ValueError(expected)
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ValueError(expected) from None
        if not math.isfinite(number) or not low <= number <= high:
            raise ValueError(expected)
        return number

    return convert


def _integer(low: int, high: int | None = None) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        expected = f"an integer of at least {low}" + (f" and at most {high}" if high is not None else "")
        if isinstance(value, bool):
            raise ValueError(expected)
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and value.strip().lstrip("+").isdigit():
            number = int(value.strip())
        else:
            raise ValueError(expected)
        if number < low or (high is not None and number > high):
            raise ValueError(expected)
        return number

    return convert


def _choice(*choices: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return str(value)

    return convert


def _http_url(value: Any) -> str:
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("an http(s) URL")
    return str(value)


@dataclass(frozen=True)
class Term:
    """One vocabulary entry: an App Configuration key and the bot setting (or Secret key) it sets."""

    key: str
    target: str
    convert: Callable[[Any], Any]
    secret: bool = False
    description: str = ""


# Keys mirror the ChatBot spec's field names; targets are the bot's settings field names
# (chatbot_server.settings.Settings). Bounds match the bot's own validation.
VOCABULARY: Final[Mapping[str, Term]] = {
    term.key: term
    for term in (
        Term("model", "model", _non_empty_string, description="model id, fine-tunes included"),
        Term("systemPrompt", "system_prompt", _non_empty_string, description="the system message"),
        Term("greeting", "greeting", _string, description="the first message of the web chat"),
        Term("temperature", "temperature", _number(0, 2), description="0 to 2"),
        Term("maxTokens", "max_tokens", _integer(1), description="positive integer"),
        Term("topP", "top_p", _number(0, 1), description="0 to 1"),
        Term("presencePenalty", "presence_penalty", _number(-2, 2), description="-2 to 2"),
        Term("frequencyPenalty", "frequency_penalty", _number(-2, 2), description="-2 to 2"),
        Term(
            "maxContextTokens",
            "max_context_tokens",
            _integer(256, 2000000),
            description="integer, 256 to 2000000",
        ),
        Term("fallbackMessage", "fallback_message", _non_empty_string, description="answer when unsure"),
        Term("retrieval:topK", "retrieval_top_k", _integer(1, 50), description="1 to 50 passages"),
        Term("llm:provider", "llm_provider", _choice(*LLM_PROVIDERS), description=" | ".join(LLM_PROVIDERS)),
        Term("llm:baseURL", "llm_base_url", _http_url, description="http(s) URL of the LLM API"),
        Term("llm:apiVersion", "llm_api_version", _non_empty_string, description="Azure OpenAI API version"),
        Term("llm:deployment", "llm_deployment", _non_empty_string, description="Azure OpenAI deployment"),
        Term("llm:timeoutSeconds", "llm_timeout_seconds", _number(0.001, 3600), description="seconds"),
        Term("llm:maxRetries", "llm_max_retries", _integer(0, 10), description="0 to 10"),
        Term(
            "llm:apiKey",
            LLM_API_KEY_SECRET_KEY,
            _non_empty_string,
            secret=True,
            description="the LLM API key; use a Key Vault reference",
        ),
    )
}


@dataclass(frozen=True)
class MappedValues:
    settings: dict[str, Any]
    secrets: dict[str, str]
    unknown_keys: list[str]


def map_values(values: Mapping[str, Any], describe_key: Callable[[str], str] = repr) -> MappedValues:
    """Type and check every (trimmed) key's value; split settings from secrets; list unknown keys.

    `describe_key` turns a trimmed key into the words an error message uses for it (the full key
    and label in the store, when the caller knows them).
    """
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    unknown: list[str] = []
    for key in sorted(values):
        term = VOCABULARY.get(key)
        if term is None:
            unknown.append(key)
            continue
        try:
            converted = term.convert(values[key])
        except ValueError as expected:
            raise AppConfigurationError(
                INVALID_VALUE, f"App Configuration key {describe_key(key)} must be {expected}"
            ) from None
        if term.secret:
            secrets[term.target] = converted
        else:
            settings[term.target] = converted
    return MappedValues(settings=settings, secrets=secrets, unknown_keys=unknown)
