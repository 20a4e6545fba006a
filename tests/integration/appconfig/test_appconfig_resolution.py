"""The real azure-appconfiguration-provider and azure-keyvault-secrets against the local servers."""

import time
from typing import Any

import pytest
from tests.support.appconfig_fake import JSON_CONTENT_TYPE, FakeAppConfiguration
from tests.support.keyvault_fake import StaticTokenCredential
from tests.support.lowkey_vault import KeyVaultUnderTest
from tests.support.selfsigned import CertificateFiles

from chatbot_operator.appconfig import (
    AppConfigurationCache,
    resolve_app_configuration,
)

pytestmark = pytest.mark.integration

P = "docs-assistant:"


def resolve(
    store: FakeAppConfiguration, spec: dict[str, Any], vault: KeyVaultUnderTest, **kwargs: Any
) -> Any:
    return resolve_app_configuration(
        spec,
        connection_string=kwargs.pop("connection_string", store.connection_string()),
        keyvault_options=vault.keyvault_options(),
        startup_timeout=kwargs.pop("startup_timeout", 2),
        **kwargs,
    )


def wait_past_refresh_interval() -> None:
    time.sleep(1.1)  # the spec's refreshInterval is 1s, the provider's minimum


def test_settings_are_selected_by_prefix_and_label_trimmed_and_typed(
    store: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    store.set(f"{P}model", "gpt-4o-mini")  # no label: the default
    store.set(f"{P}model", "gpt-4o", label="prd")  # prd overrides it
    store.set(f"{P}model", "gpt-dev", label="dev")  # another environment: not selected
    store.set(f"{P}temperature", "0.2", label="prd")
    store.set(f"{P}maxTokens", "800", label="prd")
    store.set(f"{P}topP", "1", content_type=JSON_CONTENT_TYPE)  # JSON content type: parsed by the provider
    store.set(f"{P}systemPrompt", "You are Docsy.")
    store.set("support-bot:model", "gpt-support", label="prd")  # another app: not selected

    resolved = resolve(store, spec, key_vault)

    assert resolved.settings == {
        "model": "gpt-4o",
        "temperature": 0.2,
        "max_tokens": 800,
        "top_p": 1.0,
        "system_prompt": "You are Docsy.",
    }
    assert resolved.secrets == {}
    assert resolved.unknown_keys == []


def test_pages_are_followed_through_next_links(
    store: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    for key, value in [
        ("model", "m"),
        ("greeting", "hi"),
        ("temperature", "1"),
        ("topP", "0.5"),
        ("maxTokens", "9"),
    ]:
        store.set(P + key, value, label="prd")

    resolved = resolve(store, spec, key_vault)

    assert len(resolved.settings) == 5
    assert any("after=" in request.target and request.status == 200 for request in store.requests)


def test_key_vault_reference_resolves_into_the_secrets_never_the_settings(
    store: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    uri = key_vault.set_secret("llm-api-key-ref", "sk-resolved-from-key-vault")
    store.set_keyvault_reference(f"{P}llm:apiKey", uri, label="prd")
    store.set(f"{P}model", "gpt-4o", label="prd")

    resolved = resolve(store, spec, key_vault)

    assert resolved.secrets == {"llmApiKey": "sk-resolved-from-key-vault"}
    assert "sk-resolved-from-key-vault" not in repr(resolved) + str(resolved)
    assert "sk-resolved-from-key-vault" not in str(resolved.settings)


def test_unknown_keys_are_reported_after_trimming(
    store: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    store.set(f"{P}model", "gpt-4o", label="prd")
    store.set(f"{P}temprature", "0.3", label="prd")
    store.set(f"{P}ui:theme", "dark")

    resolved = resolve(store, spec, key_vault)

    assert resolved.unknown_keys == ["temprature", "ui:theme"]
    assert resolved.settings == {"model": "gpt-4o"}


def test_a_changed_value_changes_the_revision_and_an_unchanged_store_keeps_it(
    store: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    store.set(f"{P}temperature", "0.2", label="prd")
    cache = AppConfigurationCache(keyvault_options=key_vault.keyvault_options(), startup_timeout=2)
    first = cache.resolve("docs/bot", spec, connection_string=store.connection_string())

    store.clear_requests()
    wait_past_refresh_interval()
    unchanged = cache.resolve("docs/bot", spec, connection_string=store.connection_string())
    assert unchanged.revision == first.revision
    assert {request.status for request in store.requests} == {304}  # ETags: nothing re-downloaded

    store.set(f"{P}temperature", "0.7", label="prd")
    wait_past_refresh_interval()
    changed = cache.resolve("docs/bot", spec, connection_string=store.connection_string())
    assert changed.settings["temperature"] == 0.7
    assert changed.revision != first.revision
    cache.close()


def test_a_one_shot_resolve_gives_the_same_revision_for_the_same_store(
    store: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    store.set(f"{P}model", "gpt-4o", label="prd")
    assert resolve(store, spec, key_vault).revision == resolve(store, spec, key_vault).revision


def test_a_new_key_vault_secret_version_changes_the_revision(
    store: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    uri = key_vault.set_secret("rotated-key", "sk-old")
    store.set_keyvault_reference(f"{P}llm:apiKey", uri, label="prd")
    cache = AppConfigurationCache(keyvault_options=key_vault.keyvault_options(), startup_timeout=2)
    before = cache.resolve("docs/bot", spec, connection_string=store.connection_string())

    key_vault.set_secret("rotated-key", "sk-new")
    wait_past_refresh_interval()
    after = cache.resolve("docs/bot", spec, connection_string=store.connection_string())

    assert after.secrets == {"llmApiKey": "sk-new"}
    assert after.revision != before.revision
    cache.close()


def test_with_a_sentinel_key_changes_apply_only_when_the_sentinel_changes(
    store: FakeAppConfiguration, spec: dict[str, Any], key_vault: KeyVaultUnderTest
) -> None:
    spec = {**spec, "sentinelKey": {"key": f"{P}sentinel", "label": "prd"}}
    store.set(f"{P}sentinel", "1", label="prd")
    store.set(f"{P}temperature", "0.2", label="prd")
    cache = AppConfigurationCache(keyvault_options=key_vault.keyvault_options(), startup_timeout=2)
    first = cache.resolve("docs/bot", spec, connection_string=store.connection_string())
    assert first.unknown_keys == ["sentinel"]  # listed like any key outside the vocabulary

    store.set(f"{P}temperature", "0.9", label="prd")  # an edit in progress: not applied yet
    store.clear_requests()
    wait_past_refresh_interval()
    assert (
        cache.resolve("docs/bot", spec, connection_string=store.connection_string()).revision
        == first.revision
    )
    assert [(r.target.split("?")[0], r.status) for r in store.requests] == [
        ("/kv/docs-assistant%3Asentinel", 304)
    ]

    store.set(f"{P}sentinel", "2", label="prd")  # the edit is complete
    wait_past_refresh_interval()
    applied = cache.resolve("docs/bot", spec, connection_string=store.connection_string())
    assert applied.settings["temperature"] == 0.9
    cache.close()


def test_the_endpoint_form_authenticates_with_a_token_credential_over_tls(
    spec: dict[str, Any],
    key_vault: KeyVaultUnderTest,
    certificates: CertificateFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The SDK refuses bearer tokens over plain http, so this store serves TLS; the client trusts
    # the test CA through REQUESTS_CA_BUNDLE (requests honours it when verification is on).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates.ca_file))
    tls_store = FakeAppConfiguration(certificates=certificates, bearer_token="entra-token")
    try:
        tls_store.set(f"{P}model", "gpt-4o", label="prd")
        endpoint_spec = {k: v for k, v in spec.items() if k != "connectionStringSecretRef"}
        endpoint_spec["endpoint"] = tls_store.endpoint.replace("http://", "https://")
        credential = StaticTokenCredential("entra-token")

        resolved = resolve_app_configuration(
            endpoint_spec,
            connection_string=None,
            credential=credential,
            keyvault_options=key_vault.keyvault_options(),
            startup_timeout=2,
        )

        assert resolved.settings == {"model": "gpt-4o"}
        assert credential.scopes
        assert all(scope.endswith("/.default") for scope in credential.scopes)
    finally:
        tls_store.stop()
