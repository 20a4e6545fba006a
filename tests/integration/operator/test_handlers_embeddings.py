"""spec.retrieval.embeddings through the handlers: the bot's settings carry it, and a new embeddings
model rolls the pods (their vectors must be computed again with it)."""

import json
from typing import Any

from tests.integration.operator.conftest import CHATBOTS, Cluster, eventually

DEPLOYMENT = "/apis/apps/v1/namespaces/docs/deployments/docs-assistant"
CONFIG_MAP = "/api/v1/namespaces/docs/configmaps/docs-assistant-config"
HASH = "chatbot-operator.io/settings-hash"


def chatbot_with_embeddings(model: str) -> dict[str, Any]:
    return {
        "apiVersion": "chatbot-operator.io/v1alpha1",
        "kind": "ChatBot",
        "metadata": {"name": "docs-assistant", "namespace": "docs"},
        "spec": {
            "systemPrompt": "You are Docsy.",
            "llm": {"provider": "openai-compatible", "baseURL": "http://vllm.llm.svc:8000/v1"},
            "retrieval": {"mode": "hybrid", "embeddings": {"model": model, "dimensions": 256}},
        },
    }


async def bot_settings(cluster: Cluster) -> dict[str, Any]:
    config_map = await eventually(lambda: cluster.get(CONFIG_MAP))
    settings: dict[str, Any] = json.loads(config_map["data"]["settings.json"])
    return settings


async def test_the_embeddings_reach_the_bots_settings_and_a_new_model_rolls_the_pods(
    cluster: Cluster,
) -> None:
    await cluster.create(CHATBOTS, chatbot_with_embeddings("text-embedding-3-small"))
    first = await eventually(lambda: cluster.get(DEPLOYMENT))
    settings = await bot_settings(cluster)
    assert settings["embeddings_model"] == "text-embedding-3-small"
    assert settings["embeddings_dimensions"] == 256
    assert "embeddings_relevance_threshold" not in settings  # unset: the model judges (docs)

    patch = {"spec": {"retrieval": {"embeddings": {"model": "text-embedding-3-large"}}}}
    await cluster.patch(f"{CHATBOTS}/docs-assistant", patch)

    async def rolled() -> dict[str, Any] | None:
        current = await cluster.get(DEPLOYMENT)
        changed = (
            current
            and current["spec"]["template"]["metadata"]["annotations"][HASH]
            != (first["spec"]["template"]["metadata"]["annotations"][HASH])
        )
        return current if changed else None

    await eventually(rolled)
    assert (await bot_settings(cluster))["embeddings_model"] == "text-embedding-3-large"
