"""Child manifests, built by pure functions and checked as plain dicts."""

import base64
import json
from typing import Any

import pytest
import yaml

import chatbot_contract as contract
from chatbot_operator import builders, naming
from chatbot_operator.bot_settings import render_bot_settings, serialize_settings
from chatbot_operator.builders import Owner
from chatbot_operator.spec_fields import SecretKeyRef
from chatbot_operator.status import service_endpoint

OWNER = Owner(name="docs-assistant", namespace="docs", uid="0b7e-uid")
COMMIT = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"


def example_spec() -> dict[str, Any]:
    with open("examples/chatbot.yaml") as file:
        spec: dict[str, Any] = yaml.safe_load(file)["spec"]
    return spec


def deployment(spec: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "image": "registry.example/bot:1",
        "settings_hash": "abc123",
        "corpus_commit": COMMIT,
        "llm_key": None,
    }
    arguments.update(overrides)
    return builders.build_deployment(OWNER, spec, **arguments)


def test_every_child_is_owned_by_its_chatbot_so_deletion_cascades() -> None:
    spec = example_spec()
    children = [
        builders.build_config_map(OWNER, "{}"),
        builders.build_secret(OWNER, {"llmApiKey": "k"}),
        builders.build_service(OWNER, spec),
        deployment(spec),
    ]
    for child in children:
        (reference,) = child["metadata"]["ownerReferences"]
        assert reference == {
            "apiVersion": "chatbot-operator.io/v1alpha1",
            "kind": "ChatBot",
            "name": "docs-assistant",
            "uid": "0b7e-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert child["metadata"]["namespace"] == "docs"
        assert child["metadata"]["labels"][naming.LABEL_MANAGED_BY] == "chatbot-operator"


def test_deployment_runs_the_bot_with_a_corpus_init_container_and_shared_volume() -> None:
    manifest = deployment(example_spec())
    pod = manifest["spec"]["template"]["spec"]
    init, *_golden_questions = pod["initContainers"]  # the corpus fetch comes first
    (bot,) = pod["containers"]
    assert init["name"] == "corpus"
    init_mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    bot_mounts = {m["name"]: m["mountPath"] for m in bot["volumeMounts"]}
    assert init_mounts["corpus"] == bot_mounts["corpus"] == contract.CORPUS_DIR
    assert bot_mounts["config"] == contract.CONFIG_DIR
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["corpus"]
    assert volumes["config"]["configMap"]["name"] == "docs-assistant-config"
    assert COMMIT in json.dumps(init)
    assert bot["image"] == "registry.example/bot:1"
    assert bot["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert bot["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_deployment_has_replicas_only_when_the_spec_sets_them() -> None:
    spec = example_spec()
    assert deployment(spec)["spec"]["replicas"] == 2
    del spec["replicas"]
    assert "replicas" not in deployment(spec)["spec"]  # an HPA or kubectl scale owns the count
    spec["replicas"] = 0
    assert deployment(spec)["spec"]["replicas"] == 0


def test_pod_template_carries_the_settings_hash_and_the_corpus_commit() -> None:
    annotations = deployment(example_spec())["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "chatbot-operator.io/settings-hash": "abc123",
        "chatbot-operator.io/corpus-commit": COMMIT,
    }


def test_deployment_without_a_corpus_has_no_init_container() -> None:
    spec = example_spec()
    del spec["corpus"], spec["goldenQuestions"]
    manifest = deployment(spec, corpus_commit=None)
    assert "initContainers" not in manifest["spec"]["template"]["spec"]
    assert "chatbot-operator.io/corpus-commit" not in manifest["spec"]["template"]["metadata"]["annotations"]


def test_a_corpus_without_a_resolved_commit_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="resolved commit"):
        deployment(example_spec(), corpus_commit=None)


def test_rollout_never_removes_a_serving_pod_before_its_successor_is_ready() -> None:
    strategy = deployment(example_spec())["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_pods_pass_the_restricted_pod_security_standard() -> None:
    pod = deployment(example_spec())["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod["initContainers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert context["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False


def test_llm_api_key_is_a_mounted_secret_key_never_a_value_nor_a_variable() -> None:
    # Mounted, the kubelet updates it in place and the bot reads a rotated key without a restart;
    # an environment variable would keep the old key until the pod is replaced.
    manifest = deployment(example_spec(), llm_key=SecretKeyRef("llm-key", "token"))
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env[contract.LLM_API_KEY_FILE_ENV] == {
        "name": contract.LLM_API_KEY_FILE_ENV,
        "value": contract.LLM_API_KEY_FILE,
    }
    assert contract.LLM_API_KEY_ENV not in env
    assert not [e for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    volumes = {v["name"]: v for v in pod["volumes"]}
    # Only that key of the Secret, under the file name the bot reads; no subPath (never updated).
    assert volumes["llm-api-key"] == {
        "name": "llm-api-key",
        "secret": {
            "secretName": "llm-key",
            "items": [{"key": "token", "path": contract.LLM_API_KEY_FILE_NAME}],
        },
    }
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["llm-api-key"] == {
        "name": "llm-api-key",
        "mountPath": contract.LLM_API_KEY_DIR,
        "readOnly": True,
    }
    assert f"{contract.LLM_API_KEY_DIR}/{contract.LLM_API_KEY_FILE_NAME}" == contract.LLM_API_KEY_FILE


def test_without_an_llm_key_nothing_is_mounted_for_it() -> None:
    pod = deployment(example_spec())["spec"]["template"]["spec"]
    assert "llm-api-key" not in {v["name"] for v in pod["volumes"]}
    assert contract.LLM_API_KEY_FILE_ENV not in {e["name"] for e in pod["containers"][0]["env"]}


def test_api_keys_secret_is_mounted_where_the_bot_reads_it() -> None:
    spec = example_spec()
    spec["auth"] = {"apiKeysSecretRef": {"name": "bot-keys"}}
    pod = deployment(spec)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["api-keys"]["secret"]["secretName"] == "bot-keys"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env[contract.API_KEYS_DIR_ENV] == contract.API_KEYS_DIR


def test_scheduling_fields_pass_through_to_the_pod() -> None:
    spec = example_spec()
    spec["nodeSelector"] = {"pool": "bots"}
    spec["tolerations"] = [{"key": "bots", "operator": "Exists", "effect": "NoSchedule"}]
    spec["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}
    pod = deployment(spec)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "bots"}
    assert pod["tolerations"] == spec["tolerations"]
    assert pod["affinity"] == spec["affinity"]


def test_image_resources_and_selector() -> None:
    spec = example_spec()
    manifest = deployment(spec)
    assert manifest["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "chatbot",
        "app.kubernetes.io/instance": "docs-assistant",
    }
    resources = manifest["spec"]["template"]["spec"]["containers"][0]["resources"]
    # The example's figures come from the bot's measured memory (docs/benchmarks.md, real pods).
    assert resources == {"requests": {"cpu": "50m", "memory": "224Mi"}, "limits": {"memory": "512Mi"}}
    assert resources == spec["resources"]


def test_service_targets_the_named_bot_port() -> None:
    service = builders.build_service(OWNER, {"service": {"type": "NodePort", "port": 8000}})
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == naming.selector_labels("docs-assistant")
    assert (
        service_endpoint(OWNER.namespace, OWNER.name, {"service": {"port": 8000}})
        == "http://docs-assistant.docs.svc:8000"
    )


def test_config_map_holds_the_rendered_settings_document() -> None:
    settings = render_bot_settings("docs-assistant", example_spec(), "You are Docsy.")
    config_map = builders.build_config_map(OWNER, serialize_settings(settings))
    assert config_map["metadata"]["name"] == "docs-assistant-config"
    assert json.loads(config_map["data"]["settings.json"]) == settings


def test_secret_data_is_base64_as_the_api_server_returns_it() -> None:
    secret = builders.build_secret(OWNER, {"llmApiKey": "sk-test"})
    assert secret["metadata"]["name"] == "docs-assistant-secrets"
    assert base64.b64decode(secret["data"]["llmApiKey"]) == b"sk-test"
    assert "stringData" not in secret


def test_applied_hash_changes_when_any_field_changes() -> None:
    spec = example_spec()
    first = builders.stamp_applied_hash(deployment(spec))
    again = builders.stamp_applied_hash(deployment(spec))
    spec["nodeSelector"] = {"pool": "bots"}
    changed = builders.stamp_applied_hash(deployment(spec))
    key = naming.ANNOTATION_APPLIED_HASH
    assert first["metadata"]["annotations"][key] == again["metadata"]["annotations"][key]
    assert first["metadata"]["annotations"][key] != changed["metadata"]["annotations"][key]


def test_each_fallback_key_is_one_projected_secret_item_named_by_its_position() -> None:
    spec = example_spec()
    spec["llm"] = {
        "provider": "openai",
        "apiKeySecretRef": {"name": "llm-key"},
        "fallbacks": [
            {"provider": "openai-compatible", "model": "llama3", "baseURL": "http://ollama:11434/v1"},
            {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "apiKeySecretRef": {"name": "backup-key", "key": "k"},
            },
        ],
    }
    pod = deployment(spec, llm_key=SecretKeyRef("llm-key", "apiKey"))["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    # Only the second fallback has a key: its file is named 1, as the bot's settings say.
    assert volumes["llm-fallback-keys"] == {
        "name": "llm-fallback-keys",
        "projected": {"sources": [{"secret": {"name": "backup-key", "items": [{"key": "k", "path": "1"}]}}]},
    }
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["llm-fallback-keys"]["mountPath"] == contract.LLM_FALLBACK_KEYS_DIR
    assert "subPath" not in mounts["llm-fallback-keys"]  # a subPath mount is never updated
    rendered = render_bot_settings("docs-assistant", spec, "p")["llm_fallbacks"]
    assert [f.get("api_key_file") for f in rendered] == [None, contract.llm_fallback_key_file(1)]


def test_without_fallback_keys_no_volume_is_mounted_for_them() -> None:
    spec = example_spec()
    spec["llm"] = {
        "provider": "openai-compatible",
        "baseURL": "http://vllm:8000/v1",
        "fallbacks": [
            {"provider": "openai-compatible", "model": "llama3", "baseURL": "http://ollama:11434/v1"}
        ],
    }
    pod = deployment(spec)["spec"]["template"]["spec"]
    assert "llm-fallback-keys" not in {v["name"] for v in pod["volumes"]}
    assert "llm-fallback-keys" not in {m["name"] for m in pod["containers"][0]["volumeMounts"]}


def test_a_telemetry_endpoint_reaches_the_bot_as_the_standard_otlp_variables() -> None:
    spec = example_spec()
    spec["telemetry"] = {"otlpEndpoint": "http://otel-collector.monitoring.svc:4318"}
    env = {
        e["name"]: e.get("value")
        for e in deployment(spec)["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.monitoring.svc:4318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    plain = deployment(example_spec())["spec"]["template"]["spec"]["containers"][0]["env"]
    assert not [e for e in plain if e["name"].startswith("OTEL_")]
