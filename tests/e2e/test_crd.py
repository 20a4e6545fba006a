"""The CRD itself on a real API server: accepted as it is, with nothing silently dropped."""

from __future__ import annotations

import json

import yaml

from tests.e2e.cluster import CRD_FILE, Cluster
from tests.e2e.operator_process import Release


def test_crd_is_accepted_by_the_api_server_without_unknown_fields(cluster: Cluster) -> None:
    # A server-side dry run validates the whole CRD (structural schema, CEL rules) and warns
    # about every field it does not know: in a schema, such a field is usually a description
    # cut short by YAML (a ", " or ": " inside an unquoted flow-style value).
    result = cluster.kubectl("apply", "--dry-run=server", "-f", str(CRD_FILE), check=False)
    assert result.returncode == 0, result.stderr
    unknown = [line for line in result.stderr.splitlines() if "unknown field" in line]
    assert not unknown, "\n".join(unknown)


def test_provider_embeddings_with_a_provider_are_accepted_and_keep_their_fields(
    cluster: Cluster, operator_release: Release, namespace: str
) -> None:
    # The invalid embeddings specs (tests/data/invalid_chatbots/embeddings-*) are refused by
    # test_operator.py; this is the other half: the CEL rules let a good spec through, unpruned.
    embeddings = {"model": "text-embedding-3-small", "dimensions": 256, "relevanceThreshold": 0.3}
    chatbot = {
        "apiVersion": "chatbot-operator.io/v1alpha1",
        "kind": "ChatBot",
        "metadata": {"name": "provider-embeddings"},
        "spec": {
            "systemPrompt": "You help.",
            "llm": {"provider": "openai-compatible", "baseURL": "http://vllm.llm.svc:8000/v1"},
            "retrieval": {"mode": "semantic", "embeddings": embeddings},
        },
    }
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-o", "json", "-f", "-", input=yaml.safe_dump(chatbot)
    )
    assert json.loads(result.stdout)["spec"]["retrieval"]["embeddings"] == embeddings
