"""Failures: a distinct reason each, no secret anywhere, and recovery once the fault is fixed."""

import dataclasses
import logging
import socket
import time
from typing import Any

import pytest
from tests.support.appconfig_fake import KEY_VAULT_REF_CONTENT_TYPE, FakeAppConfiguration
from tests.support.keyvault_fake import StaticTokenCredential
from tests.support.lowkey_vault import KeyVaultUnderTest

from chatbot_operator.appconfig import AppConfigurationCache, AppConfigurationError, resolve_app_configuration

pytestmark = pytest.mark.integration

P = "docs-assistant:"
API_KEY = "sk-this-must-never-be-logged"


@pytest.fixture
def populated(store: FakeAppConfiguration, key_vault: KeyVaultUnderTest) -> FakeAppConfiguration:
    store.set(f"{P}model", "gpt-4o", label="prd")
    store.set(f"{P}temperature", "0.2", label="prd")
    store.set_keyvault_reference(f"{P}llm:apiKey", key_vault.set_secret("fault-key", API_KEY), label="prd")
    return store


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # everything the SDKs log, HTTP logging policy included
    return caplog


def assert_no_secret_leaked(
    error: AppConfigurationError, logs: pytest.LogCaptureFixture, *secrets: str
) -> None:
    texts = [error.message, str(error), repr(error), repr(error.__cause__), repr(error.__context__)]
    texts += [record.getMessage() for record in logs.records]
    texts += [record.exc_text or "" for record in logs.records]
    for secret in secrets:
        assert not any(secret in text for text in texts), f"a secret leaked into {texts}"


def resolve(
    store: FakeAppConfiguration, spec: dict[str, Any], vault: KeyVaultUnderTest, **kwargs: Any
) -> Any:
    return resolve_app_configuration(
        spec,
        connection_string=kwargs.pop("connection_string", store.connection_string()),
        keyvault_options=kwargs.pop("keyvault_options", vault.keyvault_options()),
        startup_timeout=1,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_store_is_store_unreachable(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest, logs: Any
) -> None:
    nowhere = populated.connection_string().replace(populated.endpoint, f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(AppConfigurationError) as caught:
        resolve(populated, spec, key_vault, connection_string=nowhere)

    assert caught.value.reason == "StoreUnreachable"
    assert "127.0.0.1" in caught.value.message
    assert_no_secret_leaked(caught.value, logs, populated.secret, API_KEY)


def test_a_wrong_secret_is_refused_with_401_and_is_authentication_failed(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest, logs: Any
) -> None:
    wrong = populated.connection_string(secret="d3Jvbmctc2VjcmV0LXZhbHVl")

    with pytest.raises(AppConfigurationError) as caught:
        resolve(populated, spec, key_vault, connection_string=wrong)

    assert caught.value.reason == "AuthenticationFailed"
    assert {r.status for r in populated.requests} == {401}
    assert_no_secret_leaked(caught.value, logs, populated.secret, "d3Jvbmctc2VjcmV0LXZhbHVl", API_KEY)


def test_an_unknown_credential_id_is_authentication_failed(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    with pytest.raises(AppConfigurationError) as caught:
        resolve(
            populated, spec, key_vault, connection_string=populated.connection_string(credential_id="other")
        )
    assert caught.value.reason == "AuthenticationFailed"


def test_a_store_that_denies_access_is_access_denied(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    with populated.faulted(status=403), pytest.raises(AppConfigurationError) as caught:
        resolve(populated, spec, key_vault)
    assert caught.value.reason == "AccessDenied"
    assert "App Configuration Data Reader" in caught.value.message


def test_a_reference_to_a_missing_secret_is_key_vault_reference_unresolved(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest, logs: Any
) -> None:
    populated.set_keyvault_reference(
        f"{P}llm:apiKey", f"{key_vault.vault_url}/secrets/no-such-secret", label="prd"
    )

    with pytest.raises(AppConfigurationError) as caught:
        resolve(populated, spec, key_vault)

    assert caught.value.reason == "KeyVaultReferenceUnresolved"
    assert "'docs-assistant:llm:apiKey' label 'prd'" in caught.value.message
    assert "no-such-secret" in caught.value.message
    assert_no_secret_leaked(caught.value, logs, populated.secret, API_KEY)


def test_a_key_vault_that_denies_the_identity_is_key_vault_reference_unresolved(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest, logs: Any
) -> None:
    if key_vault.kind != "keyvault-fake":
        pytest.skip("lowkey-vault accepts every token")
    denied_token = key_vault.denied_token  # type: ignore[attr-defined]
    denied = dataclasses.replace(key_vault.keyvault_options(), credential=StaticTokenCredential(denied_token))

    with pytest.raises(AppConfigurationError) as caught:
        resolve(populated, spec, key_vault, keyvault_options=denied)

    assert caught.value.reason == "KeyVaultReferenceUnresolved"
    assert "Key Vault Secrets User" in caught.value.message
    assert_no_secret_leaked(caught.value, logs, populated.secret, API_KEY)


def test_a_malformed_value_is_invalid_value_naming_the_key_and_not_the_value(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest, logs: Any
) -> None:
    populated.set(f"{P}temperature", "very-hot-indeed", label="prd")

    with pytest.raises(AppConfigurationError) as caught:
        resolve(populated, spec, key_vault)

    assert caught.value.reason == "InvalidValue"
    assert "'docs-assistant:temperature' label 'prd'" in caught.value.message
    assert "very-hot-indeed" not in caught.value.message
    assert_no_secret_leaked(caught.value, logs, populated.secret, API_KEY)


def test_a_missing_connection_string_secret_is_connection_string_secret_not_found(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    with pytest.raises(AppConfigurationError) as caught:
        resolve(populated, spec, key_vault, connection_string=None)
    assert caught.value.reason == "ConnectionStringSecretNotFound"
    assert "'appconfig'" in caught.value.message


def test_an_outage_fails_the_refresh_and_recovery_returns_the_same_revision(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest, logs: Any
) -> None:
    cache = AppConfigurationCache(keyvault_options=key_vault.keyvault_options(), startup_timeout=1)
    good = cache.resolve("docs/bot", spec, connection_string=populated.connection_string())

    time.sleep(1.1)  # past the provider's 1 s minimum between checks of the store
    with populated.faulted(outage=True), pytest.raises(AppConfigurationError) as caught:
        cache.resolve("docs/bot", spec, connection_string=populated.connection_string())
    assert caught.value.reason == "StoreUnreachable"
    assert_no_secret_leaked(caught.value, logs, populated.secret, API_KEY)

    recovered = cache.resolve("docs/bot", spec, connection_string=populated.connection_string())
    assert recovered.revision == good.revision  # nothing changed: nothing rolls
    assert recovered.secrets == {"llmApiKey": API_KEY}
    cache.close()


def test_resolution_recovers_once_a_missing_secret_is_created(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    uri = f"{key_vault.vault_url}/secrets/created-later"
    populated.set_keyvault_reference(f"{P}llm:apiKey", uri, label="prd")
    cache = AppConfigurationCache(keyvault_options=key_vault.keyvault_options(), startup_timeout=1)
    with pytest.raises(AppConfigurationError):
        cache.resolve("docs/bot", spec, connection_string=populated.connection_string())

    key_vault.set_secret("created-later", "sk-late")

    assert cache.resolve("docs/bot", spec, connection_string=populated.connection_string()).secrets == {
        "llmApiKey": "sk-late"
    }
    cache.close()


def test_resolution_recovers_once_a_malformed_value_is_fixed(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    cache = AppConfigurationCache(keyvault_options=key_vault.keyvault_options(), startup_timeout=1)
    cache.resolve("docs/bot", spec, connection_string=populated.connection_string())
    populated.set(f"{P}maxTokens", "-5", label="prd")
    time.sleep(1.1)  # past the provider's 1 s minimum between checks of the store
    with pytest.raises(AppConfigurationError) as caught:
        cache.resolve("docs/bot", spec, connection_string=populated.connection_string())
    assert caught.value.reason == "InvalidValue"

    populated.set(f"{P}maxTokens", "512", label="prd")

    assert (
        cache.resolve("docs/bot", spec, connection_string=populated.connection_string()).settings[
            "max_tokens"
        ]
        == 512
    )
    cache.close()


@pytest.mark.parametrize("value", ["not json", '{"uri": "ftp://nowhere/x"}', "{}"])
def test_a_malformed_key_vault_reference_is_unresolved_naming_the_key(
    populated: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest, value: str
) -> None:
    populated.set(f"{P}llm:apiKey", value, label="prd", content_type=KEY_VAULT_REF_CONTENT_TYPE)

    with pytest.raises(AppConfigurationError) as caught:
        resolve(populated, spec, key_vault)

    assert caught.value.reason == "KeyVaultReferenceUnresolved"
    assert "'docs-assistant:llm:apiKey' label 'prd'" in caught.value.message
