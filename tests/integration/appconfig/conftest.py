"""Servers for the App Configuration integration tests: the data-plane fake and a Key Vault."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.appconfig_fake import FakeAppConfiguration
from tests.support.lowkey_vault import KeyVaultUnderTest, start_key_vault
from tests.support.selfsigned import CertificateFiles, make_test_certificates

PREFIX = "docs-assistant:"


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return make_test_certificates(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="session")
def key_vault(certificates: CertificateFiles) -> Iterator[KeyVaultUnderTest]:
    vault = start_key_vault(certificates)
    logging.getLogger(__name__).info("Key Vault for the tests: %s at %s", vault.kind, vault.vault_url)
    yield vault
    vault.stop()


@pytest.fixture
def store() -> Iterator[FakeAppConfiguration]:
    fake = FakeAppConfiguration(page_size=2)
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def no_provider_failure_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    # The provider sleeps until 5 s have passed since load() began before it re-raises a failure
    # (against crash loops in apps). Harmless in the operator's thread pool; slow in a test suite.
    monkeypatch.setattr("azure.appconfiguration.provider._utils.min_uptime", 0)


@pytest.fixture
def spec() -> dict[str, object]:
    return {
        "connectionStringSecretRef": {"name": "appconfig", "key": "connectionString"},
        "selectors": [
            {"keyFilter": f"{PREFIX}*"},  # defaults without a label ...
            {"keyFilter": f"{PREFIX}*", "labelFilter": "prd"},  # ... overridden by this environment's
        ],
        "trimKeyPrefixes": [PREFIX],
        "refreshInterval": "1s",
    }
