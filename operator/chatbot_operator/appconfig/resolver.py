"""Resolve a ChatBot's settings from Azure App Configuration, Key Vault references included.

Two ways in, sharing everything below them:
- `resolve_app_configuration(...)`: one load, then close (simple; every call lists every key).
- `AppConfigurationCache.resolve(owner, ...)`: keeps one provider per ChatBot and calls its
  `refresh()`, so an unchanged store costs one conditional request per selector page (a 304) or,
  with a sentinel key, one conditional GET of that key; all settings are reloaded only when it
  changed. Key Vault secrets are read again on every call (one GET per reference). Any failure
  closes and forgets the provider, so the next call starts from a clean load: there is no
  half-refreshed state.

Either raises AppConfigurationError with a distinct reason. Messages are built here from keys,
labels, endpoints and status codes only, never from values or SDK exception text; SDK exceptions
are not chained (`from None`), so a traceback cannot carry them into a log either.
"""

import base64
import binascii
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from azure.appconfiguration.provider import AzureAppConfigurationProvider, SettingSelector, load
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from chatbot_operator.appconfig.errors import (
    ACCESS_DENIED,
    AUTHENTICATION_FAILED,
    CONNECTION_STRING_SECRET_NOT_FOUND,
    INVALID_CONNECTION_STRING,
    INVALID_VALUE,
    KEY_VAULT_REFERENCE_UNRESOLVED,
    STORE_UNREACHABLE,
    AppConfigurationError,
)
from chatbot_operator.appconfig.keyvault import KeyVaultOptions, KeyVaultSecretResolver
from chatbot_operator.appconfig.model import ResolvedAppConfiguration, compute_revision
from chatbot_operator.appconfig.spec import NO_LABEL, AppConfigurationSpec, parse_app_configuration_spec
from chatbot_operator.appconfig.vocabulary import map_values

logger = logging.getLogger(__name__)

DEFAULT_STARTUP_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class ConnectionString:
    endpoint: str
    credential_id: str


def parse_connection_string(connection_string: str) -> ConnectionString:
    """Check `Endpoint=...;Id=...;Secret=...` without ever quoting it back."""
    fields: dict[str, str] = {}
    for part in connection_string.strip().split(";"):
        name, sep, value = part.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    missing = [name for name in ("Endpoint", "Id", "Secret") if not fields.get(name.lower())]
    if missing:
        raise AppConfigurationError(
            INVALID_CONNECTION_STRING,
            "the connection string must have the form Endpoint=https://...;Id=...;Secret=... "
            f"(missing: {', '.join(missing)}); copy it from the store's Access keys (read-only key)",
        )
    try:
        base64.b64decode(fields["secret"], validate=True)
    except (binascii.Error, ValueError):
        raise AppConfigurationError(
            INVALID_CONNECTION_STRING, "the connection string's Secret is not base64; copy it again"
        ) from None
    if not fields["endpoint"].startswith(("https://", "http://")):
        raise AppConfigurationError(INVALID_CONNECTION_STRING, "the connection string's Endpoint is no URL")
    return ConnectionString(endpoint=fields["endpoint"].rstrip("/"), credential_id=fields["id"])


def _describe_label(label: str | None) -> str:
    return "(no label)" if label in (None, NO_LABEL, "") else f"label {label!r}"


class _KeyTracker:
    """Remembers, for messages, the full key and label behind each trimmed key and secret URI."""

    def __init__(self, trim_prefixes: tuple[str, ...]) -> None:
        self._trim_prefixes = trim_prefixes
        self._by_trimmed: dict[str, tuple[str, str | None]] = {}
        self._by_secret_uri: dict[str, tuple[str, str | None]] = {}
        self.secret_uris: dict[str, str] = {}  # trimmed key -> Key Vault secret URI
        self.current: tuple[str, str | None, bool] | None = None  # (key, label, is a reference)

    def record(self, setting: Any) -> None:
        # The provider calls this (as its configuration_mapper) just before it processes a setting.
        origin = (setting.key, setting.label)
        is_reference = "keyvaultref" in (setting.content_type or "")
        self.current = (setting.key, setting.label, is_reference)
        trimmed = next(
            (setting.key[len(p) :] for p in self._trim_prefixes if setting.key.startswith(p)), setting.key
        )
        self._by_trimmed[trimmed] = origin
        secret_id = getattr(setting, "secret_id", None)
        if secret_id:
            self._by_secret_uri[secret_id] = origin
            self.secret_uris[trimmed] = secret_id
        else:
            self.secret_uris.pop(trimmed, None)

    def describe_key(self, trimmed: str) -> str:
        key, label = self._by_trimmed.get(trimmed, (trimmed, None))
        return f"{key!r} {_describe_label(label)}"

    def describe_secret_uri(self, uri: str) -> str:
        if uri in self._by_secret_uri:
            key, label = self._by_secret_uri[uri]
            return f"{key!r} {_describe_label(label)}"
        return "a Key Vault reference"


def _store_error(error: BaseException, endpoint: str) -> AppConfigurationError:
    """Classify what the provider raised while talking to the store."""
    if isinstance(error, TimeoutError) and len(error.args) > 1 and error.args[1]:
        # The provider retries at start-up until startup_timeout, then raises
        # TimeoutError(message, [the exceptions of every attempt]); the last one says why.
        error = error.args[1][-1]
    if isinstance(error, ClientAuthenticationError):
        if error.status_code is None:
            return AppConfigurationError(
                AUTHENTICATION_FAILED,
                f"no Azure credential could get a token for {endpoint}; set up workload identity "
                "(service account annotation azure.workload.identity/client-id and the pod label)",
            )
        return AppConfigurationError(
            AUTHENTICATION_FAILED,
            f"{endpoint} refused the credentials (HTTP {error.status_code}); "
            "check the connection string Secret or the identity",
        )
    if isinstance(error, HttpResponseError) and error.status_code == 403:
        return AppConfigurationError(
            ACCESS_DENIED, f"{endpoint} denied access; grant the identity App Configuration Data Reader"
        )
    if isinstance(error, HttpResponseError) and error.status_code is not None:
        return AppConfigurationError(STORE_UNREACHABLE, f"{endpoint} answered HTTP {error.status_code}")
    if isinstance(error, (ServiceRequestError, ServiceResponseError, TimeoutError)):
        return AppConfigurationError(STORE_UNREACHABLE, f"could not reach {endpoint}")
    if isinstance(error, AzureError):
        return AppConfigurationError(STORE_UNREACHABLE, f"reading {endpoint} failed ({type(error).__name__})")
    if isinstance(error, ValueError) and "key vault" in str(error).lower():
        return AppConfigurationError(
            KEY_VAULT_REFERENCE_UNRESOLVED, "a Key Vault reference in the store has no valid uri"
        )
    return AppConfigurationError(
        INVALID_VALUE, f"a setting in {endpoint} could not be read ({type(error).__name__})"
    )


@dataclass
class _Loaded:
    provider: AzureAppConfigurationProvider
    tracker: _KeyTracker
    resolver: KeyVaultSecretResolver
    endpoint: str

    def close(self) -> None:
        self.resolver.close()
        self.provider.close()

    def result(self, *, reread_secrets: bool = False) -> ResolvedAppConfiguration:
        values = {key: self.provider[key] for key in self.provider}
        if reread_secrets:
            # The provider caches resolved secrets for its lifetime (and its own periodic secret
            # refresh, secret_refresh_interval, writes back under the untrimmed key in 2.5), so a
            # long-lived provider would never see a rotated secret: read every reference again.
            for key, uri in self.tracker.secret_uris.items():
                if key in values:
                    values[key] = self.resolver(uri)
        mapped = map_values(values, describe_key=self.tracker.describe_key)
        return ResolvedAppConfiguration(
            settings=mapped.settings,
            secrets=mapped.secrets,
            unknown_keys=mapped.unknown_keys,
            revision=compute_revision(mapped.settings, mapped.secrets),
        )


# load() is overloaded on the two auth forms; the auth arguments here are built at run time.
_provider_load: Callable[..., AzureAppConfigurationProvider] = load


def _default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def _load(
    parsed: AppConfigurationSpec,
    *,
    connection_string: str | None,
    credential: Any | None,
    startup_timeout: float,
    keyvault_options: KeyVaultOptions | None,
) -> _Loaded:
    options = keyvault_options or KeyVaultOptions()
    if parsed.connection_string_secret is not None:
        if not connection_string:
            name, key = parsed.connection_string_secret
            raise AppConfigurationError(
                CONNECTION_STRING_SECRET_NOT_FOUND,
                f"Secret {name!r} with key {key!r} (spec.appConfiguration.connectionStringSecretRef) "
                "was not found in the ChatBot's namespace or is empty",
            )
        endpoint = parse_connection_string(connection_string).endpoint
        store_auth: dict[str, Any] = {"connection_string": connection_string}
    else:
        assert parsed.endpoint is not None  # parse_app_configuration_spec guarantees one of the two
        endpoint = parsed.endpoint
        credential = credential if credential is not None else _default_credential()
        store_auth = {"endpoint": endpoint, "credential": credential}

    keyvault_credential = options.credential or credential
    if keyvault_credential is None:
        keyvault_credential = _default_credential()
    tracker = _KeyTracker(parsed.trim_key_prefixes)
    resolver = KeyVaultSecretResolver(options, keyvault_credential, tracker.describe_secret_uri)
    chosen = parsed.selectors
    try:
        provider = _provider_load(
            **store_auth,
            selects=[SettingSelector(key_filter=s.key_filter, label_filter=s.label_filter) for s in chosen],
            trim_prefixes=list(parsed.trim_key_prefixes),
            secret_resolver=resolver,
            refresh_on=[(parsed.sentinel.key, parsed.sentinel.label)] if parsed.sentinel else None,
            refresh_enabled=True,
            # The caller decides how often to refresh; the provider checks the store on every call.
            refresh_interval=1,
            configuration_mapper=tracker.record,
            startup_timeout=startup_timeout,
        )
    except AppConfigurationError:
        resolver.close()
        raise
    except Exception as error:  # the provider raises Azure, Timeout and Value errors; all are classified
        resolver.close()
        if isinstance(error, ValueError) and tracker.current is not None and tracker.current[2]:
            key, label, _ = tracker.current
            raise AppConfigurationError(
                KEY_VAULT_REFERENCE_UNRESOLVED,
                f"Key Vault reference {key!r} {_describe_label(label)} has no valid secret URI "
                '(expected {"uri": "https://<vault>.vault.azure.net/secrets/<name>"})',
            ) from None
        raise _store_error(error, endpoint) from None
    return _Loaded(provider=provider, tracker=tracker, resolver=resolver, endpoint=endpoint)


def resolve_app_configuration(
    spec: Mapping[str, Any],
    *,
    connection_string: str | None,
    credential: Any | None = None,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    keyvault_options: KeyVaultOptions | None = None,
) -> ResolvedAppConfiguration:
    """Load `spec` (a ChatBot's spec.appConfiguration) once and return typed settings and secrets.

    connection_string: the value of the Secret named by connectionStringSecretRef (None if that
        Secret or key is missing); ignored when the spec names an endpoint.
    credential: a TokenCredential for the endpoint form (default: DefaultAzureCredential).
    Blocks up to about startup_timeout seconds (at least 5 on failure: the provider's own floor).
    """
    parsed = parse_app_configuration_spec(spec)
    loaded = _load(
        parsed,
        connection_string=connection_string,
        credential=credential,
        startup_timeout=startup_timeout,
        keyvault_options=keyvault_options,
    )
    try:
        return loaded.result()
    finally:
        loaded.close()


def _fingerprint(spec: Mapping[str, Any], connection_string: str | None) -> str:
    document = {
        "spec": spec,
        "connectionString": hashlib.sha256((connection_string or "").encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


class AppConfigurationCache:
    """One long-lived provider per ChatBot, refreshed on each `resolve`.

    Keyed by owner ("namespace/name"); a changed spec or connection string starts a new provider.
    Safe to share between kopf's handler threads (kopf never runs two handlers of one object at once).
    """

    def __init__(
        self,
        *,
        credential: Any | None = None,
        keyvault_options: KeyVaultOptions | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> None:
        self._credential = credential
        self._keyvault_options = keyvault_options
        self._startup_timeout = startup_timeout
        self._entries: dict[str, tuple[str, _Loaded]] = {}
        self._lock = threading.Lock()

    def resolve(
        self, owner: str, spec: Mapping[str, Any], *, connection_string: str | None
    ) -> ResolvedAppConfiguration:
        parsed = parse_app_configuration_spec(spec)
        fingerprint = _fingerprint(spec, connection_string)
        with self._lock:
            entry = self._entries.get(owner)
        if entry is not None and entry[0] != fingerprint:
            self.forget(owner)
            entry = None
        if entry is None:
            loaded = _load(
                parsed,
                connection_string=connection_string,
                credential=self._credential,
                startup_timeout=self._startup_timeout,
                keyvault_options=self._keyvault_options,
            )
            with self._lock:
                self._entries[owner] = (fingerprint, loaded)
        else:
            loaded = entry[1]
            try:
                loaded.provider.refresh()
            except AppConfigurationError:
                self.forget(owner)
                raise
            except Exception as error:
                self.forget(owner)
                raise _store_error(error, loaded.endpoint) from None
        try:
            return loaded.result(reread_secrets=entry is not None)
        except AppConfigurationError:
            self.forget(owner)
            raise

    def forget(self, owner: str) -> None:
        """Close and drop the provider of one ChatBot (on deletion, or after a failure)."""
        with self._lock:
            entry = self._entries.pop(owner, None)
        if entry is not None:
            entry[1].close()

    def close(self) -> None:
        with self._lock:
            owners = list(self._entries)
        for owner in owners:
            self.forget(owner)
