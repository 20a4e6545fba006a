"""The operator's own credential path for Key Vault references: DefaultAzureCredential (what AKS
workload identity and managed identity use) plus the operator's Key Vault settings.

The other tests hand the resolver a credential and KeyVaultOptions directly; here nothing is
injected: a managed identity environment (tests/support/managed_identity_fake.py) and the
CHATBOT_OPERATOR_KEYVAULT_* settings are all the resolver gets, exactly as in the operator
process, so the end-to-end tier can use the same set-up.
"""

from collections.abc import Iterator

import pytest
from tests.support.appconfig_fake import FakeAppConfiguration
from tests.support.keyvault_fake import PINNED_API_VERSION, FakeKeyVault
from tests.support.managed_identity_fake import FakeManagedIdentity
from tests.support.selfsigned import CertificateFiles

from chatbot_operator.appconfig import AppConfigurationCache, AppConfigurationError
from chatbot_operator.config import OperatorSettings
from chatbot_operator.observations import keyvault_options

from .conftest import PREFIX

API_KEY = "sk-operator-credential-0123456789"


@pytest.fixture
def vault(certificates: CertificateFiles) -> Iterator[FakeKeyVault]:
    fake = FakeKeyVault(certificates)
    yield fake
    fake.stop()


@pytest.fixture
def identity(vault: FakeKeyVault, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeManagedIdentity]:
    fake = FakeManagedIdentity(vault.token)
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in fake.environment().items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.stop()


def operator_settings(certificates: CertificateFiles, *, verify_challenge: bool = False) -> OperatorSettings:
    return OperatorSettings.from_sources(
        {
            "CHATBOT_OPERATOR_KEYVAULT_API_VERSION": PINNED_API_VERSION,
            "CHATBOT_OPERATOR_KEYVAULT_CA_BUNDLE": str(certificates.ca_file),
            "CHATBOT_OPERATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": str(verify_challenge).lower(),
        }
    )


def test_default_credential_with_a_managed_identity_reads_the_key_vault_reference(
    store: FakeAppConfiguration,
    vault: FakeKeyVault,
    identity: FakeManagedIdentity,
    certificates: CertificateFiles,
    spec: dict[str, object],
) -> None:
    store.set_keyvault_reference(f"{PREFIX}llm:apiKey", vault.set_secret("llm-api-key", API_KEY))
    cache = AppConfigurationCache(keyvault_options=keyvault_options(operator_settings(certificates)))
    try:
        resolved = cache.resolve("docs/bot", spec, connection_string=store.connection_string())
        assert resolved.secrets == {"llmApiKey": API_KEY}
        assert identity.resources == ["https://vault.azure.net"]  # the challenge's resource, not a guess

        vault.set_secret("llm-api-key", API_KEY + "-rotated")  # a rotation in Key Vault only
        assert cache.resolve("docs/bot", spec, connection_string=store.connection_string()).secrets == {
            "llmApiKey": API_KEY + "-rotated"
        }
    finally:
        cache.close()


def test_challenge_resource_verification_refuses_a_vault_off_azure_by_default(
    store: FakeAppConfiguration,
    vault: FakeKeyVault,
    identity: FakeManagedIdentity,
    certificates: CertificateFiles,
    spec: dict[str, object],
) -> None:
    # The vault on 127.0.0.1 claims the resource https://vault.azure.net: with verification on (the
    # default) the SDK refuses to send it a token, which is what protects a real cluster from a
    # reference pointing at a look-alike host.
    store.set_keyvault_reference(f"{PREFIX}llm:apiKey", vault.set_secret("llm-api-key", API_KEY))
    options = keyvault_options(operator_settings(certificates, verify_challenge=True))
    cache = AppConfigurationCache(keyvault_options=options)
    try:
        with pytest.raises(AppConfigurationError) as raised:
            cache.resolve("docs/bot", spec, connection_string=store.connection_string())
    finally:
        cache.close()
    assert raised.value.reason == "KeyVaultReferenceUnresolved", raised.value
    assert "asked for a token of another domain" in str(raised.value), raised.value
    assert API_KEY not in str(raised.value)
    assert identity.resources == []
