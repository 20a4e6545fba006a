"""The plan as plain dicts: which children a ChatBot gets, from its spec and what was observed."""

from typing import Any

import pytest

from chatbot_operator import naming
from chatbot_operator.builders import Owner
from chatbot_operator.network_policy import BotNetworkPolicy
from chatbot_operator.observations import SettingsInputs
from chatbot_operator.plan import BotSettings, build_children, plan_settings
from chatbot_operator.spec_fields import SecretKeyRef

OWNER = Owner(name="docs-assistant", namespace="docs", uid="0b7e-uid")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SPEC: dict[str, Any] = {"model": "gpt-4o-mini", "systemPrompt": "Be brief."}
INPUTS = SettingsInputs(system_prompt="Be brief.", llm_key=None)


def children(
    spec: dict[str, Any],
    settings: BotSettings | None,
    commit: str | None = None,
    policy: BotNetworkPolicy | None = None,
) -> dict[str, dict[str, Any]]:
    return build_children(
        OWNER, spec, settings, commit, bot_image="ghcr.io/example/bot:1", network_policy=policy
    )


def test_a_faq_bot_gets_a_config_map_a_service_and_a_deployment_in_apply_order() -> None:
    planned = children(SPEC, plan_settings(OWNER, SPEC, INPUTS))
    assert list(planned) == ["ConfigMap", "Service", "Deployment"]
    assert (
        planned["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/example/bot:1"
    )
    for manifest in planned.values():
        assert naming.ANNOTATION_APPLIED_HASH in manifest["metadata"]["annotations"]


def test_the_network_policy_comes_first_so_no_pod_runs_without_it() -> None:
    planned = children(SPEC, plan_settings(OWNER, SPEC, INPUTS), policy=BotNetworkPolicy())
    assert list(planned) == ["NetworkPolicy", "ConfigMap", "Service", "Deployment"]


def test_settings_that_cannot_be_resolved_leave_only_the_service() -> None:
    # The last good ConfigMap and Deployment stay as they are: nothing is planned for them.
    assert list(children(SPEC, None)) == ["Service"]


def test_a_corpus_without_a_commit_yet_gets_no_deployment() -> None:
    spec = {**SPEC, "corpus": {"repo": "https://git.example/docs.git"}}
    settings = plan_settings(OWNER, spec, INPUTS)
    assert "Deployment" not in children(spec, settings)
    deployment = children(spec, settings, COMMIT)["Deployment"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations[naming.ANNOTATION_CORPUS_COMMIT] == COMMIT


def test_the_spec_image_wins_over_the_operators_default() -> None:
    spec = {**SPEC, "image": "registry.example/bot:2"}
    deployment = children(spec, plan_settings(OWNER, spec, INPUTS))["Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/bot:2"


def test_the_settings_hash_follows_the_prompt_and_the_key_reference_not_the_key() -> None:
    base = plan_settings(OWNER, SPEC, INPUTS)
    assert plan_settings(OWNER, SPEC, INPUTS).hash == base.hash
    assert plan_settings(OWNER, SPEC, SettingsInputs("Be kind.", None)).hash != base.hash
    with_key = plan_settings(OWNER, SPEC, SettingsInputs("Be brief.", SecretKeyRef("llm", "apiKey")))
    assert with_key.hash != base.hash
    assert with_key.llm_key == SecretKeyRef("llm", "apiKey")
    assert "apiKey" not in str(with_key.values)


class Resolved:
    """What App Configuration resolved (chatbot_operator.appconfig.ResolvedAppConfiguration)."""

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str], revision: str) -> None:
        self.settings, self.secrets, self.revision, self.unknown_keys = settings, secrets, revision, []


def test_app_configuration_wins_and_its_llm_key_goes_into_the_owned_secret() -> None:
    resolved = Resolved({"temperature": 0.1}, {"llmApiKey": "sk-from-vault"}, "r1")
    inputs = SettingsInputs("Be brief.", SecretKeyRef("llm", "apiKey"), resolved)  # type: ignore[arg-type]
    settings = plan_settings(OWNER, {**SPEC, "generation": {"temperature": 0.9}}, inputs)
    assert settings.values["temperature"] == 0.1
    assert settings.llm_key == SecretKeyRef(naming.secret_name(OWNER.name), "llmApiKey")
    planned = children(SPEC, settings)
    assert list(planned) == ["ConfigMap", "Secret", "Service", "Deployment"]
    # A new revision (a rotated secret included) rolls the pods.
    rotated = Resolved({"temperature": 0.1}, {"llmApiKey": "sk-rotated"}, "r2")
    inputs = SettingsInputs("Be brief.", None, rotated)  # type: ignore[arg-type]
    assert plan_settings(OWNER, {**SPEC, "generation": {"temperature": 0.9}}, inputs).hash != settings.hash


@pytest.mark.parametrize(
    "spec", [SPEC, {**SPEC, "generation": {"maxTokens": 300}}, {**SPEC, "generation": {}}]
)
def test_generation_defaults_are_one_rule_with_or_without_a_generation_object(spec: dict[str, Any]) -> None:
    values = plan_settings(OWNER, spec, INPUTS).values
    assert (
        values["temperature"],
        values["top_p"],
        values["presence_penalty"],
        values["frequency_penalty"],
    ) == (
        0.7,
        1,
        0,
        0,
    )


def test_provider_embeddings_go_into_the_config_map_and_a_new_model_rolls_the_pods() -> None:
    def spec(model: str) -> dict[str, Any]:
        llm = {"provider": "openai-compatible", "baseURL": "http://vllm:8000/v1"}
        return {**SPEC, "llm": llm, "retrieval": {"embeddings": {"model": model}}}

    small = plan_settings(OWNER, spec("text-embedding-3-small"), INPUTS)
    assert (
        '"embeddings_model":"text-embedding-3-small"'
        in children(spec("s"), small)["ConfigMap"]["data"]["settings.json"]
    )
    assert plan_settings(OWNER, spec("text-embedding-3-large"), INPUTS).hash != small.hash
