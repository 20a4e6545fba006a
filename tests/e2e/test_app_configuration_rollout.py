"""Settings from App Configuration on the real control plane (issue 6): the store's values reach
the bot's ConfigMap; a changed value rolls the pods, an unchanged store rolls nothing; a store that
is down turns `ConfigResolved` False (`StoreUnreachable`) while the last good ConfigMap and the
Deployment stay as they were, and recovery is automatic. No secret reaches status, Events or the
operator's log.

The store is tests/support/appconfig_fake.py on 127.0.0.1 (plain http, HMAC-signed requests, as
the SDK allows on loopback), read by the real azure-appconfiguration-provider in the operator
process, which runs locally with the chart's ServiceAccount (operator_process.py) and checks every
2 s which ChatBots are due; the ChatBots ask for the shortest refresh the CRD allows (30 s).

Key Vault references: the LLM API key is a reference to a Key Vault over TLS
(tests/support/keyvault_fake.py; lowkey-vault is not on Maven Central). The operator keeps its
production credential, DefaultAzureCredential, reaching the vault through a managed-identity
endpoint (tests/support/managed_identity_fake.py) named in its environment, as on Azure; its
CHATBOT_OPERATOR_KEYVAULT_* settings pin the API version, trust the test CA and turn off the
challenge-resource check that no vault on 127.0.0.1 could pass.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e.cluster import EXAMPLE_FILE, Cluster, CorpusRepo, condition, wait_until
from tests.e2e.operator_process import LocalOperator
from tests.e2e.rollouts import SETTINGS_HASH, get_chatbot, replica_sets, rolled_out, settled
from tests.support.appconfig_fake import FakeAppConfiguration
from tests.support.keyvault_fake import PINNED_API_VERSION, FakeKeyVault
from tests.support.managed_identity_fake import FakeManagedIdentity
from tests.support.selfsigned import make_test_certificates

PREFIX = "docs-assistant:"
SECRET_NAME = "appconfig"
REFRESH_INTERVAL = "30s"
# One refresh interval, plus the operator's due-check period, the provider's timeout and a busy
# machine.
REFRESH_WAIT = 100.0


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKeyVault]:
    fake = FakeKeyVault(make_test_certificates(tmp_path_factory.mktemp("vault-tls")))
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def identity(vault: FakeKeyVault) -> Iterator[FakeManagedIdentity]:
    fake = FakeManagedIdentity(vault.token)
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def operator_env(vault: FakeKeyVault, identity: FakeManagedIdentity) -> dict[str, str]:
    return {
        "CHATBOT_OPERATOR_REFRESH_CHECK_SECONDS": "2",
        "CHATBOT_OPERATOR_APPCONFIG_TIMEOUT": "5",
        "CHATBOT_OPERATOR_KEYVAULT_API_VERSION": PINNED_API_VERSION,
        "CHATBOT_OPERATOR_KEYVAULT_CA_BUNDLE": str(vault.certificates.ca_file),
        "CHATBOT_OPERATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
        **identity.environment(),
    }


@pytest.fixture
def store() -> Iterator[FakeAppConfiguration]:
    fake = FakeAppConfiguration(page_size=2)
    # Shared defaults without a label, this environment's values under `prd`, one unknown key.
    fake.set(f"{PREFIX}model", "gpt-4o-mini")
    fake.set(f"{PREFIX}maxTokens", "512")
    fake.set(f"{PREFIX}colour", "teal")
    fake.set(f"{PREFIX}model", "gpt-4o", label="prd")
    fake.set(f"{PREFIX}temperature", "0.7", label="prd")
    fake.set("support-bot:model", "gpt-3.5-turbo", label="prd")  # another app's key: not selected
    yield fake
    fake.stop()


@pytest.fixture
def bots(
    bots: str, cluster: Cluster, operator: LocalOperator, store: FakeAppConfiguration, vault: FakeKeyVault
) -> Iterator[str]:
    """The test's namespace (conftest's `bots`) with the store's connection string Secret.

    Afterwards: no secret in the namespace's ChatBots or Events or in what the operator logged
    during the test (d).
    """
    since = operator.log_offset()
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        SECRET_NAME,
        "-n",
        bots,
        f"--from-literal=connectionString={store.connection_string()}",
    )
    yield bots
    assert_no_secret_leaked(cluster, bots, operator, since, store, vault)


# --- helpers --------------------------------------------------------------------------------------


def appconfig_chatbot(corpus_repo: CorpusRepo) -> dict[str, Any]:
    """examples/chatbot.yaml with its settings from the store (defaults, then `prd`)."""
    chatbot: dict[str, Any] = yaml.safe_load(EXAMPLE_FILE.read_text())
    chatbot["spec"]["replicas"] = 1
    chatbot["spec"]["corpus"]["repo"] = corpus_repo.url
    chatbot["spec"]["appConfiguration"] = {
        "connectionStringSecretRef": {"name": SECRET_NAME, "key": "connectionString"},
        "selectors": [
            {"keyFilter": f"{PREFIX}*"},
            {"keyFilter": f"{PREFIX}*", "labelFilter": "prd"},
        ],
        "trimKeyPrefixes": [PREFIX],
        "refreshInterval": REFRESH_INTERVAL,
    }
    return chatbot


def bot_settings(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """settings.json of the ChatBot's ConfigMap, parsed."""
    config_map = cluster.get("configmap", f"{name}-config", "-n", namespace)
    settings: dict[str, Any] = json.loads(config_map["data"]["settings.json"])
    return settings


def settings_hash(deployment: dict[str, Any]) -> str:
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return str(annotations.get(SETTINGS_HASH, ""))


def mounted_llm_key(deployment: dict[str, Any]) -> dict[str, Any] | None:
    """The Secret volume the bot reads its LLM key from, if any."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    secret = volumes.get("llm-api-key", {}).get("secret")
    # Without the API server's default (defaultMode).
    return {key: secret[key] for key in ("secretName", "items")} if secret else None


def config_resolved(chatbot: dict[str, Any]) -> dict[str, Any]:
    return condition(chatbot, "ConfigResolved") or {}


def start_bot(cluster: Cluster, namespace: str, corpus_repo: CorpusRepo) -> tuple[str, dict[str, Any]]:
    """Applies the ChatBot and waits until its settings are resolved and its pods run them."""
    chatbot = appconfig_chatbot(corpus_repo)
    name: str = chatbot["metadata"]["name"]
    cluster.apply(chatbot, namespace=namespace)
    resolved = wait_until(
        "ConfigResolved=True",
        lambda: (lambda c: c if config_resolved(c).get("status") == "True" else None)(
            get_chatbot(cluster, namespace, name)
        ),
    )
    wait_until("the ChatBot to be Ready", lambda: settled(cluster, namespace, name))
    revision = resolved["status"]["config"]["revision"]
    wait_until(
        "the pods of the store's settings",
        lambda: rolled_out(cluster, namespace, name, SETTINGS_HASH, revision),
    )
    deployment: dict[str, Any] = cluster.get("deployment", name, "-n", namespace)
    return name, deployment


def assert_no_secret_leaked(
    cluster: Cluster,
    namespace: str,
    operator: LocalOperator,
    since: int,
    store: FakeAppConfiguration,
    vault: FakeKeyVault,
) -> None:
    """(d) Neither the connection string nor its key nor any Key Vault secret is in the ChatBots
    (status included), the namespace's Events or ConfigMaps, or what the operator logged since byte
    `since`."""
    secret_values = {"the connection string": store.connection_string(), "its Secret": store.secret}
    secret_values.update({f"Key Vault secret #{i}": value for i, value in enumerate(vault.values())})
    places = {
        "the ChatBots": cluster.kubectl("get", "chatbots", "-n", namespace, "-o", "json").stdout,
        "the Events": cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
        "the ConfigMaps": cluster.kubectl("get", "configmaps", "-n", namespace, "-o", "json").stdout,
    }
    with operator.log_path.open("rb") as log:
        log.seek(since)
        places["the operator's log"] = log.read().decode(errors="replace")
    # The right stretch of the log: it is this namespace's reconciles that are searched.
    assert f"Applying ConfigMap {namespace}/" in places["the operator's log"]
    leaks = [
        f"{what} in {where}"
        for where, text in places.items()
        for what, value in secret_values.items()
        if value in text
    ]
    assert not leaks, "secret leaked: " + ", ".join(leaks)


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.timeout(480)  # several bounded waits of a refresh interval each
def test_store_values_reach_the_config_map_and_a_changed_value_rolls_the_pods(
    cluster: Cluster, bots: str, store: FakeAppConfiguration, corpus_repo: CorpusRepo
) -> None:
    # (a) The store's values, the `prd` label winning over the defaults, App Configuration over spec.
    name, deployment = start_bot(cluster, bots, corpus_repo)
    chatbot = get_chatbot(cluster, bots, name)
    resolved = config_resolved(chatbot)
    assert resolved["status"] == "True", resolved
    assert "colour" in resolved["message"], resolved
    assert chatbot["status"]["config"]["unknownKeys"] == ["colour"]
    settings = bot_settings(cluster, bots, name)
    assert settings["model"] == "gpt-4o"  # `prd` over the unlabelled default; spec says gpt-4o-mini
    assert settings["temperature"] == 0.7  # the store over spec.generation.temperature (0.2)
    assert settings["max_tokens"] == 512  # the unlabelled default over spec.generation.maxTokens (800)
    assert settings["top_p"] == 1  # not in the store: the spec's value
    assert "colour" not in settings
    first_hash = settings_hash(deployment)
    assert first_hash == chatbot["status"]["config"]["revision"]
    assert len(replica_sets(cluster, bots, deployment)) == 1

    # (b) A value changes in the store: within a refresh the hash on the pod template changes and
    # a new ReplicaSet rolls.
    store.set(f"{PREFIX}temperature", "0.9", label="prd")
    changed = time.monotonic()
    rolled = wait_until(
        "the settings hash on the pod template to change",
        lambda: (lambda d: d if settings_hash(d) != first_hash else None)(
            cluster.get("deployment", name, "-n", bots)
        ),
        timeout=REFRESH_WAIT,
    )
    noticed = time.monotonic() - changed
    second_hash = settings_hash(rolled)
    assert bot_settings(cluster, bots, name)["temperature"] == 0.9
    wait_until("a second ReplicaSet", lambda: len(replica_sets(cluster, bots, deployment)) == 2)
    wait_until(
        "the pods of the new settings", lambda: rolled_out(cluster, bots, name, SETTINGS_HASH, second_hash)
    )
    wait_until("the ChatBot to settle", lambda: settled(cluster, bots, name))
    # The status names the revision the pods run, promptly: not a refresh interval later, as when
    # the rollout's Deployment event wrote status from a stale read over the refresh's own write
    # (fixed by 04c49e0, status patches with a resourceVersion precondition).
    settled_at = time.monotonic()
    chatbot = wait_until(
        f"status.config.revision to be {second_hash}",
        lambda: (lambda c: c if c["status"]["config"]["revision"] == second_hash else None)(
            get_chatbot(cluster, bots, name)
        ),
        timeout=10,
    )
    print(f"changed value noticed {noticed:.1f}s after the edit (refreshInterval {REFRESH_INTERVAL})")
    print(f"status.config.revision matched the pods {time.monotonic() - settled_at:.1f}s after the rollout")

    # Unchanged store: after another refresh (resolvedAt moves) nothing rolls.
    resolved_at = chatbot["status"]["config"]["resolvedAt"]
    store.clear_requests()
    wait_until(
        "another App Configuration refresh (status.config.resolvedAt to move)",
        lambda: get_chatbot(cluster, bots, name)["status"]["config"].get("resolvedAt") != resolved_at,
        timeout=REFRESH_WAIT,
    )
    time.sleep(3)  # anything a refresh would write is written by now
    assert any(request.status == 304 for request in store.requests), store.requests  # ETags at work
    after = cluster.get("deployment", name, "-n", bots)
    assert settings_hash(after) == second_hash
    assert after["metadata"]["generation"] == rolled["metadata"]["generation"]
    assert len(replica_sets(cluster, bots, after)) == 2


def test_a_store_outage_keeps_the_last_good_settings_and_recovery_is_automatic(
    cluster: Cluster, bots: str, store: FakeAppConfiguration, corpus_repo: CorpusRepo
) -> None:
    name, deployment = start_bot(cluster, bots, corpus_repo)
    config_map = cluster.get("configmap", f"{name}-config", "-n", bots)
    revision = get_chatbot(cluster, bots, name)["status"]["config"]["revision"]

    # (c) The store goes down (every connection dropped unanswered) and a value changes meanwhile.
    store.outage = True
    down = time.monotonic()

    def unreachable() -> dict[str, Any] | None:
        chatbot = get_chatbot(cluster, bots, name)
        resolved = config_resolved(chatbot)
        return chatbot if resolved.get("status") == "False" else None

    chatbot = wait_until("ConfigResolved=False", unreachable, timeout=REFRESH_WAIT)
    noticed = time.monotonic() - down
    resolved = config_resolved(chatbot)
    assert resolved["reason"] == "StoreUnreachable", resolved
    assert "127.0.0.1" in resolved["message"], resolved
    store.set(f"{PREFIX}temperature", "1.5", label="prd")  # not seen while the store is down
    time.sleep(10)  # several retries, all failing
    assert config_resolved(get_chatbot(cluster, bots, name))["reason"] == "StoreUnreachable"
    kept = cluster.get("configmap", f"{name}-config", "-n", bots)
    assert kept["data"] == config_map["data"]
    assert kept["metadata"]["resourceVersion"] == config_map["metadata"]["resourceVersion"]
    during = cluster.get("deployment", name, "-n", bots)
    assert during["metadata"]["generation"] == deployment["metadata"]["generation"]
    assert settings_hash(during) == revision
    assert len(replica_sets(cluster, bots, during)) == 1
    print(f"outage noticed {noticed:.1f}s after the store went down")

    # The store comes back: ConfigResolved=True again, and the value changed meanwhile rolls.
    store.outage = False
    up = time.monotonic()
    wait_until(
        "ConfigResolved=True again",
        lambda: config_resolved(get_chatbot(cluster, bots, name)).get("status") == "True",
        timeout=REFRESH_WAIT,
    )
    print(f"recovery noticed {time.monotonic() - up:.1f}s after the store came back")
    wait_until(
        "temperature 1.5 in the ConfigMap", lambda: bot_settings(cluster, bots, name)["temperature"] == 1.5
    )
    wait_until("a second ReplicaSet", lambda: len(replica_sets(cluster, bots, deployment)) == 2)
    chatbot = wait_until("the ChatBot to settle", lambda: settled(cluster, bots, name))
    assert chatbot["status"]["config"]["revision"] != revision


def test_a_store_outage_found_by_a_refresh_is_recorded_in_an_event(
    cluster: Cluster, bots: str, store: FakeAppConfiguration, corpus_repo: CorpusRepo
) -> None:
    name, _ = start_bot(cluster, bots, corpus_repo)
    store.outage = True
    wait_until(
        "ConfigResolved=False with reason StoreUnreachable",
        lambda: config_resolved(get_chatbot(cluster, bots, name)).get("reason") == "StoreUnreachable",
        timeout=REFRESH_WAIT,
    )
    selector = f"involvedObject.name={name},reason=StoreUnreachable"
    (event, *_) = wait_until(
        "an Event with reason StoreUnreachable on the ChatBot",
        lambda: cluster.get("events", "-n", bots, "--field-selector", selector)["items"],
        timeout=30,
    )
    assert event["involvedObject"]["kind"] == "ChatBot"
    assert event["type"] == "Warning"
    assert "127.0.0.1" in event["message"]


KEY_VAULT_SECRET = "docs-assistant-llm-api-key"


def owned_secret_value(cluster: Cluster, namespace: str, name: str) -> str:
    secret = cluster.get("secret", f"{name}-secrets", "-n", namespace)
    return base64.b64decode(secret["data"]["llmApiKey"]).decode()


@pytest.mark.timeout(600)  # a rotation, a failure and a recovery, each within a refresh interval
def test_a_key_vault_reference_supplies_the_llm_key_and_a_rotation_in_key_vault_rolls_the_pods(
    cluster: Cluster,
    bots: str,
    store: FakeAppConfiguration,
    vault: FakeKeyVault,
    identity: FakeManagedIdentity,
    corpus_repo: CorpusRepo,
) -> None:
    api_key = "sk-e2e-" + secrets.token_hex(16)
    store.set_keyvault_reference(
        f"{PREFIX}llm:apiKey", vault.set_secret(KEY_VAULT_SECRET, api_key), label="prd"
    )

    # The key reaches the owned Secret, and the pods read it from there (never from the ConfigMap).
    name, deployment = start_bot(cluster, bots, corpus_repo)
    assert owned_secret_value(cluster, bots, name) == api_key
    assert mounted_llm_key(deployment) == {
        "secretName": f"{name}-secrets",
        "items": [{"key": "llmApiKey", "path": "apiKey"}],
    }
    assert "https://vault.azure.net" in identity.resources  # DefaultAzureCredential, managed identity
    first_hash = settings_hash(deployment)

    # A rotation in Key Vault alone (App Configuration unchanged, no ETag moves) rolls the pods.
    rotated = "sk-e2e-" + secrets.token_hex(16)
    vault.set_secret(KEY_VAULT_SECRET, rotated)
    rotated_at = time.monotonic()
    rolled = wait_until(
        "the settings hash to change after the rotation",
        lambda: (lambda d: d if settings_hash(d) != first_hash else None)(
            cluster.get("deployment", name, "-n", bots)
        ),
        timeout=REFRESH_WAIT,
    )
    print(
        f"rotation noticed {time.monotonic() - rotated_at:.1f}s after it (refreshInterval {REFRESH_INTERVAL})"
    )
    assert owned_secret_value(cluster, bots, name) == rotated
    second_hash = settings_hash(rolled)
    wait_until(
        "the pods of the rotated key", lambda: rolled_out(cluster, bots, name, SETTINGS_HASH, second_hash)
    )
    wait_until("the ChatBot to settle", lambda: settled(cluster, bots, name))

    # The secret disappears from the vault: ConfigResolved=False with its own reason, an Event, and
    # the last good Secret and pods stay.
    vault.delete_secret(KEY_VAULT_SECRET)
    chatbot = wait_until(
        "ConfigResolved=False with reason KeyVaultReferenceUnresolved",
        lambda: (lambda c: c if config_resolved(c).get("reason") == "KeyVaultReferenceUnresolved" else None)(
            get_chatbot(cluster, bots, name)
        ),
        timeout=REFRESH_WAIT,
    )
    resolved = config_resolved(chatbot)
    assert resolved["status"] == "False", resolved
    assert "llm:apiKey" in resolved["message"], resolved
    assert KEY_VAULT_SECRET in resolved["message"], resolved
    assert "does not exist" in resolved["message"], resolved
    selector = f"involvedObject.name={name},reason=KeyVaultReferenceUnresolved"
    wait_until(
        "an Event with reason KeyVaultReferenceUnresolved",
        lambda: cluster.get("events", "-n", bots, "--field-selector", selector)["items"],
        timeout=30,
    )
    assert owned_secret_value(cluster, bots, name) == rotated
    during = cluster.get("deployment", name, "-n", bots)
    assert settings_hash(during) == second_hash
    assert during["metadata"]["generation"] == rolled["metadata"]["generation"]
    assert chatbot["status"]["readyReplicas"] == 1  # the bots keep serving

    # The secret is back (same value, a new version): recovery, and nothing rolls.
    vault.set_secret(KEY_VAULT_SECRET, rotated)
    wait_until(
        "ConfigResolved=True again",
        lambda: config_resolved(get_chatbot(cluster, bots, name)).get("status") == "True",
        timeout=REFRESH_WAIT,
    )
    after = cluster.get("deployment", name, "-n", bots)
    assert settings_hash(after) == second_hash
    assert after["metadata"]["generation"] == rolled["metadata"]["generation"]

    # App Configuration is removed from the spec: the owned copy of the key does not outlive it
    # (emptied; the operator has no delete rights on Secrets), and the pods stop reading it.
    cluster.kubectl(
        "patch", "chatbot", name, "-n", bots, "--type=json",
        "-p", '[{"op": "remove", "path": "/spec/appConfiguration"}]',
    )  # fmt: skip
    wait_until(
        "the owned Secret to be emptied",
        lambda: not cluster.get("secret", f"{name}-secrets", "-n", bots).get("data"),
        timeout=60,
    )
    final = wait_until("the ChatBot to settle", lambda: settled(cluster, bots, name))
    deployment = cluster.get("deployment", name, "-n", bots)
    assert mounted_llm_key(deployment) is None
    assert "config" not in final["status"] or not final["status"]["config"].get("resolvedAt")
