"""The operator-to-bot contract: what the operator renders is exactly what the bot reads.

A ChatBot using every spec field is rendered by the operator's own builders (settings.json and the
bot container's environment); the bot then loads them with its own settings class, as in the pod.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import chatbot_contract as contract
from chatbot_operator import builders
from chatbot_operator.bot_settings import render_bot_settings, serialize_settings
from chatbot_operator.builders import Owner, SecretKeyRef
from chatbot_server.settings import SECRET_FIELDS, Settings, load_settings

FULL_SPEC: dict[str, Any] = {
    "replicas": 2,
    "model": "ft:gpt-4o-mini:acme::abc123",
    "greeting": "Hi, I'm Docsy.",
    "generation": {
        "temperature": 0.2,
        "maxTokens": 800,
        "topP": 1,
        "presencePenalty": 0,
        "frequencyPenalty": 0.5,
    },
    "maxContextTokens": 3000,
    "llm": {
        "provider": "azure-openai",
        "baseURL": "https://example.openai.azure.com",
        "apiVersion": "2024-10-21",
        "deployment": "prod-gpt4o",
        "timeoutSeconds": 30,
        "maxRetries": 3,
        "apiKeySecretRef": {"name": "llm-key", "key": "apiKey"},
    },
    "retrieval": {
        "topK": 6,
        "embeddings": {"model": "embeddings-deployment", "dimensions": 256, "relevanceThreshold": 0.3},
    },
    "faq": [{"question": "What are your support hours?", "answer": "Monday to Friday, 9am to 5pm."}],
    "fallbackMessage": "Our team will e-mail you.",
    "transcriptLog": True,
    "auth": {"apiKeysSecretRef": {"name": "bot-keys"}},
    "goldenQuestions": [
        {"question": "When is support open?", "expect": {"faqAnswer": True, "contains": ["9am"]}},
        {"question": "How do I install?", "expect": {"source": "docs/install.md", "notContains": ["sorry"]}},
        {"question": "What is the CEO's salary?", "expect": {"fallback": True}},
    ],
}


pytestmark = pytest.mark.usefixtures("no_chatbot_environment")


def pod_of(spec: dict[str, Any], llm_key: SecretKeyRef | None = None) -> dict[str, Any]:
    """The bot's pod spec as the operator builds it."""
    deployment = builders.build_deployment(
        Owner(name="docs-assistant", namespace="docs", uid="uid"),
        spec,
        image="bot:1",
        settings_hash="h",
        corpus_commit=None,
        llm_key=llm_key,
    )
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def test_the_bot_loads_every_setting_the_operator_renders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rendered = render_bot_settings("docs-assistant", FULL_SPEC, "You are Docsy.")
    config = tmp_path / contract.CONFIG_FILE_KEY
    config.write_text(serialize_settings(rendered))
    pod = pod_of(FULL_SPEC, llm_key=SecretKeyRef(name="llm-key", key="apiKey"))
    (container,) = pod["containers"]
    # Each mount, here a folder; the Secret volumes with the keys they project.
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    folders = {mount["mountPath"]: tmp_path / mount["name"] for mount in container["volumeMounts"]}
    for mount in container["volumeMounts"]:
        folder = folders[mount["mountPath"]]
        folder.mkdir()
        for item in volumes[mount["name"]].get("secret", {}).get("items", []):
            assert (volumes[mount["name"]]["secret"]["secretName"], item["key"]) == ("llm-key", "apiKey")
            (folder / item["path"]).write_text("sk-from-the-secret\n")
    for variable in container["env"]:
        assert "valueFrom" not in variable  # every secret is a mounted file
        value = variable["value"]
        for mount_path, folder in folders.items():
            if value == mount_path or value.startswith(mount_path + "/"):
                value = str(folder) + value[len(mount_path) :]
                break
        if variable["name"] == contract.CONFIG_FILE_ENV:
            value = str(config)  # the mounted ConfigMap, here
        monkeypatch.setenv(variable["name"], value)

    settings = load_settings()

    assert set(rendered) <= set(Settings.model_fields) - SECRET_FIELDS
    for field, value in rendered.items():
        loaded = getattr(settings, field)
        if field == "faq":
            loaded = [entry.model_dump() for entry in loaded]
        if field == "golden_questions":
            loaded = [question.model_dump(mode="json", exclude_defaults=True) for question in loaded]
        assert loaded == value, field
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-from-the-secret"
    # The paths the bot reads are where the pod mounts them.
    assert settings.api_keys_dir == folders[contract.API_KEYS_DIR]
    assert settings.corpus_dir == folders[contract.CORPUS_DIR]
    assert settings.llm_api_key_file == folders[contract.LLM_API_KEY_DIR] / contract.LLM_API_KEY_FILE_NAME
    assert settings.port == contract.PORT
    assert container["ports"][0]["containerPort"] == settings.port


def test_a_minimal_chatbot_renders_settings_the_bot_accepts(tmp_path: Path) -> None:
    rendered = render_bot_settings("tiny", {"model": "gpt-4o-mini"}, "Be brief.")
    config = tmp_path / "settings.json"
    config.write_text(serialize_settings(rendered))
    settings = load_settings(config)
    assert settings.name == "tiny"
    assert settings.llm_provider == "offline"


def test_the_bot_reads_each_fallback_key_where_the_operator_mounts_it(tmp_path: Path) -> None:
    spec = {
        "model": "gpt-4o",
        "llm": {
            "provider": "openai-compatible",
            "baseURL": "http://vllm.llm.svc:8000/v1",
            "fallbacks": [
                {"provider": "openai", "model": "gpt-4o-mini", "apiKeySecretRef": {"name": "openai-key"}},
                {"provider": "openai-compatible", "model": "llama3", "baseURL": "http://ollama:11434/v1"},
                {
                    "provider": "azure-openai",
                    "model": "gpt-4o",
                    "baseURL": "https://backup.openai.azure.com",
                    "deployment": "backup",
                    "apiKeySecretRef": {"name": "azure-key", "key": "token"},
                },
            ],
        },
    }
    secrets = {("openai-key", "apiKey"): "sk-openai\n", ("azure-key", "token"): "sk-azure\n"}
    rendered = render_bot_settings("docs-assistant", spec, "You help.")
    pod = pod_of(spec)
    (mount,) = [
        m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == contract.LLM_FALLBACK_KEYS_DIR
    ]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    folder = tmp_path / "fallback-keys"
    folder.mkdir()
    for source in volume["projected"]["sources"]:
        for item in source["secret"]["items"]:
            (folder / item["path"]).write_text(secrets[(source["secret"]["name"], item["key"])])
    for fallback in rendered["llm_fallbacks"]:
        if "api_key_file" in fallback:  # the pod's path, here the folder
            fallback["api_key_file"] = fallback["api_key_file"].replace(
                contract.LLM_FALLBACK_KEYS_DIR, str(folder)
            )
    config = tmp_path / "settings.json"
    config.write_text(serialize_settings(rendered))

    settings = load_settings(config)

    keys = [m.api_key.get_secret_value() if m.api_key else None for m in settings.llm_fallbacks]
    assert keys == ["sk-openai", None, "sk-azure"]
    assert [(m.provider, m.model, m.deployment) for m in settings.llm_fallbacks] == [
        ("openai", "gpt-4o-mini", None),
        ("openai-compatible", "llama3", None),
        ("azure-openai", "gpt-4o", "backup"),
    ]


def test_the_golden_checks_threads_are_the_cpu_limit_the_kubelet_resolves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = {"model": "gpt-4o-mini", "goldenQuestions": [{"question": "Hi?", "expect": {"fallback": True}}]}
    golden_init = pod_of(spec)["initContainers"][-1]  # offline, hybrid with the bundled model
    assert golden_init["name"] == "golden-questions"
    (variable,) = [item for item in golden_init["env"] if "valueFrom" in item]
    assert variable["valueFrom"] == {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}
    config = tmp_path / contract.CONFIG_FILE_KEY
    config.write_text(serialize_settings(render_bot_settings("docs-assistant", spec, "You are Docsy.")))
    monkeypatch.setenv(contract.CONFIG_FILE_ENV, str(config))
    monkeypatch.setenv(variable["name"], "2")  # what the kubelet gives for a limit of 1500m
    assert load_settings(corpus_dir=tmp_path).embedding_threads == 2
