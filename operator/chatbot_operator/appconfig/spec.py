"""Read `spec.appConfiguration` into a typed value, with errors that name the field.

The CRD schema already rejects most mistakes; this is the second line for what a schema cannot
say (durations, one of endpoint or connection string).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from chatbot_operator import spec_fields
from chatbot_operator.appconfig.errors import INVALID_SPEC, AppConfigurationError
from chatbot_operator.durations import parse_duration

# App Configuration's "no label" filter. Users write it as an omitted or empty labelFilter, or as
# the two characters backslash-zero (the form the Azure docs and CLI use).
NO_LABEL: Final = "\0"


@dataclass(frozen=True)
class Selector:
    key_filter: str
    label_filter: str = NO_LABEL


@dataclass(frozen=True)
class SentinelKey:
    key: str
    label: str = NO_LABEL


@dataclass(frozen=True)
class AppConfigurationSpec:
    endpoint: str | None
    connection_string_secret: tuple[str, str] | None  # (Secret name, data key)
    selectors: tuple[Selector, ...]
    trim_key_prefixes: tuple[str, ...]
    refresh_seconds: float
    sentinel: SentinelKey | None


def _refresh_seconds(value: Any, field: str) -> float:
    try:
        seconds = parse_duration(value, field).total_seconds()
    except ValueError:
        message = f"{field} must be a duration such as 30s, 5m or 1h"
        raise AppConfigurationError(INVALID_SPEC, message) from None
    if seconds < 1:
        raise AppConfigurationError(INVALID_SPEC, f"{field} must be at least 1s")
    return seconds


def _label(value: Any, field: str) -> str:
    if value is None or value in ("", "\\0"):
        return NO_LABEL
    if not isinstance(value, str):
        raise AppConfigurationError(INVALID_SPEC, f"{field} must be a string")
    return value


def parse_app_configuration_spec(spec: Mapping[str, Any]) -> AppConfigurationSpec:
    """`spec` is the ChatBot's `spec.appConfiguration` object."""
    base = "spec.appConfiguration"
    endpoint = spec.get("endpoint") or None
    secret_ref = spec.get("connectionStringSecretRef") or None
    if (endpoint is None) == (secret_ref is None):
        raise AppConfigurationError(
            INVALID_SPEC, f"{base}: set exactly one of endpoint or connectionStringSecretRef"
        )
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint.startswith("https://")):
        raise AppConfigurationError(INVALID_SPEC, f"{base}.endpoint must be an https:// URL")
    connection_string_secret = None
    if secret_ref is not None:
        name = secret_ref.get("name")
        if not isinstance(name, str) or not name:
            raise AppConfigurationError(INVALID_SPEC, f"{base}.connectionStringSecretRef.name is required")
        connection_string_secret = (
            name,
            str(secret_ref.get("key") or spec_fields.APP_CONFIGURATION_CONNECTION_STRING_KEY),
        )

    raw_selectors = spec.get("selectors") or []
    if not raw_selectors:
        raise AppConfigurationError(INVALID_SPEC, f"{base}.selectors needs at least one selector")
    selectors = []
    for index, raw in enumerate(raw_selectors):
        key_filter = raw.get("keyFilter")
        if not isinstance(key_filter, str) or not key_filter:
            raise AppConfigurationError(INVALID_SPEC, f"{base}.selectors[{index}].keyFilter is required")
        label = _label(raw.get("labelFilter"), f"{base}.selectors[{index}].labelFilter")
        selectors.append(Selector(key_filter=key_filter, label_filter=label))

    prefixes = spec.get("trimKeyPrefixes") or []
    if not all(isinstance(prefix, str) and prefix for prefix in prefixes):
        raise AppConfigurationError(INVALID_SPEC, f"{base}.trimKeyPrefixes must be non-empty strings")

    refresh = spec.get("refreshInterval", spec_fields.APP_CONFIGURATION_REFRESH_INTERVAL)
    refresh_seconds = _refresh_seconds(refresh, f"{base}.refreshInterval")

    sentinel = None
    raw_sentinel = spec.get("sentinelKey")
    if raw_sentinel:
        key = raw_sentinel.get("key")
        if not isinstance(key, str) or not key:
            raise AppConfigurationError(INVALID_SPEC, f"{base}.sentinelKey.key is required")
        sentinel = SentinelKey(key=key, label=_label(raw_sentinel.get("label"), f"{base}.sentinelKey.label"))

    return AppConfigurationSpec(
        endpoint=endpoint,
        connection_string_secret=connection_string_secret,
        selectors=tuple(selectors),
        trim_key_prefixes=tuple(prefixes),
        refresh_seconds=refresh_seconds,
        sentinel=sentinel,
    )
