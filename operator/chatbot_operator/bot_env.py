"""The bot container's environment: where its settings, corpus, keys and collector are (the golden
init container gets the same). Pure."""

from collections.abc import Mapping
from typing import Any

import chatbot_contract as contract
from chatbot_operator import golden, spec_fields
from chatbot_operator.spec_fields import SecretKeyRef


def build_bot_env(spec: Mapping[str, Any], llm_key: SecretKeyRef | None) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": contract.CONFIG_FILE_ENV, "value": contract.CONFIG_FILE},
        {"name": contract.CORPUS_DIR_ENV, "value": contract.CORPUS_DIR},
        {"name": contract.PORT_ENV, "value": str(contract.PORT)},
    ]
    if spec_fields.api_keys_secret_name(spec):
        env.append({"name": contract.API_KEYS_DIR_ENV, "value": contract.API_KEYS_DIR})
    if llm_key is not None:
        env.append({"name": contract.LLM_API_KEY_FILE_ENV, "value": contract.LLM_API_KEY_FILE})
    env += golden.build_bot_env(spec)
    env += build_telemetry_env(spec)
    return env


def build_telemetry_env(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The standard OpenTelemetry variables when spec.telemetry names a collector (none otherwise:
    the bot then does not even load the SDK)."""
    endpoint = spec.get("telemetry", {}).get("otlpEndpoint")
    if not endpoint:
        return []
    return [
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": endpoint},
        {"name": "OTEL_EXPORTER_OTLP_PROTOCOL", "value": "http/protobuf"},
    ]
