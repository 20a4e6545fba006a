"""No secret the end-to-end suite used shows up in anything it produced (issue 8, security).

This test runs last (conftest.py orders it so). The session recorded every Secret, ChatBot, Event
and ConfigMap the cluster held and every kubectl and helm output (secret_scan.py); this test adds
a ChatBot of its own that uses every kind of secret a ChatBot can name (the LLM key, the bot's API
keys), edits it, and then searches all of it, the operator logs and the control plane's logs
for every secret value recorded. Run alone, it still proves its own part; run with the suite (as
`make test` does), it covers the App Configuration connection strings, Key Vault secrets and
every other Secret the other tests created.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cluster import EXAMPLE_FILE, Cluster, CorpusRepo, wait_until
from tests.e2e.operator_process import LocalOperator, print_operator_log_on_failure
from tests.e2e.rollouts import SETTINGS_HASH, rolled_out, settled, template_annotations
from tests.e2e.secret_scan import ClusterRecorder, find_leaks, searched_places, secret_values


def secret_manifest(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def log_files(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The operator logs of every LocalOperator of the session, and the control plane's logs."""
    files = sorted(tmp_path_factory.getbasetemp().rglob("*.log"))
    if cluster.cluster_dir is not None and (run_dir_file := cluster.cluster_dir / "run-dir").exists():
        files += sorted((Path(run_dir_file.read_text().strip()) / "logs").glob("*.log"))
    return files


@pytest.mark.timeout(300)
def test_no_secret_appears_in_any_log_status_event_config_map_or_command_output(
    cluster: Cluster,
    namespace: str,
    operator: LocalOperator,
    corpus_repo: CorpusRepo,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> None:
    assert cluster.transcript is not None, "the session's recorder is not running"
    llm_key = "sk-scan-" + secrets.token_hex(16)
    bot_keys = ["bot-scan-" + secrets.token_hex(12), "bot-scan-" + secrets.token_hex(12)]
    cluster.apply(secret_manifest("llm-key", {"apiKey": llm_key}), namespace=namespace)
    cluster.apply(
        secret_manifest("bot-keys", {"web": bot_keys[0], "partner": bot_keys[1]}), namespace=namespace
    )
    chatbot: dict[str, Any] = yaml.safe_load(EXAMPLE_FILE.read_text())
    chatbot["spec"]["replicas"] = 1
    chatbot["spec"]["corpus"]["repo"] = corpus_repo.url
    chatbot["spec"]["llm"] = {"provider": "openai", "apiKeySecretRef": {"name": "llm-key", "key": "apiKey"}}
    chatbot["spec"]["auth"] = {"apiKeysSecretRef": {"name": "bot-keys"}}
    name = chatbot["metadata"]["name"]
    try:
        cluster.apply(chatbot, namespace=namespace)
        wait_until("the ChatBot to be Ready", lambda: settled(cluster, namespace, name))
        before = template_annotations(cluster.get("deployment", name, "-n", namespace))[SETTINGS_HASH]
        # An edit: the operator reads the Secrets again and rolls the pods (more output to search).
        cluster.kubectl(
            "patch",
            "chatbot",
            name,
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec": {"systemPrompt": "Answer briefly, from the documentation only."}}',
        )
        after = wait_until(
            "a new settings hash after the edit",
            lambda: (lambda h: h if h != before else None)(
                template_annotations(cluster.get("deployment", name, "-n", namespace))[SETTINGS_HASH]
            ),
            timeout=120,
        )
        wait_until(
            "the pods of the edited spec", lambda: rolled_out(cluster, namespace, name, SETTINGS_HASH, after)
        )
        wait_until("the ChatBot to settle", lambda: settled(cluster, namespace, name))
    finally:
        print_operator_log_on_failure(request, operator)

    recorder = ClusterRecorder(cluster, cluster.transcript.parent)
    recorded_secrets = list(recorder.objects("secrets"))
    values = secret_values(recorded_secrets)
    places = searched_places(recorder, log_files(cluster, tmp_path_factory))

    # The search has material: this test's own secrets were recorded, and so were its ChatBot, the
    # operator's work on it and its Events.
    assert {llm_key, *bot_keys} <= values
    assert any(f"Applying Deployment {namespace}/{name}" in text for text in places.values())
    assert any(
        chatbot_version.get("metadata", {}).get("namespace") == namespace
        for chatbot_version in recorder.objects("chatbots")
    )
    assert f'"namespace": "{namespace}"' in places["recorded events"]
    # ... and finds a secret where one is.
    decoy = base64.b64encode(b"x").decode() + llm_key
    assert find_leaks({llm_key}, {"decoy": decoy})

    leaks = find_leaks(values, places)
    print(
        f"searched {len(places)} sources ({sum(len(t) for t in places.values()) // 1024} KiB) for "
        f"{len(values)} secret values from {len(recorded_secrets)} recorded Secret versions"
    )
    assert not leaks, "secrets leaked:\n" + "\n".join(str(leak) for leak in leaks[:50])
