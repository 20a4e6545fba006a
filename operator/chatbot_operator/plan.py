"""The plan: spec + observations in, the children a ChatBot should have out. Pure, no API calls.

Which children exist is decided here; what each looks like is decided by its builder
(`chatbot_operator.builders`); the bot's settings document is rendered by
`chatbot_operator.bot_settings` from the fields listed in `chatbot_operator.spec_fields`.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatbot_operator import builders, naming, spec_fields
from chatbot_operator.bot_settings import compute_settings_hash, render_bot_settings, serialize_settings
from chatbot_operator.builders import Owner
from chatbot_operator.network_policy import BotNetworkPolicy
from chatbot_operator.observations import LLM_KEY_IN_OWNED_SECRET, SettingsInputs
from chatbot_operator.spec_fields import SecretKeyRef

# The order children are applied in: the policy first, so that no bot pod ever runs without it;
# the Deployment last, so that its pods find their ConfigMap and Secret.
APPLY_ORDER = ("NetworkPolicy", "ConfigMap", "Secret", "Service", "Deployment")


@dataclass(frozen=True)
class BotSettings:
    """Everything the ConfigMap, the Secret and the pod template's hash are made of."""

    values: dict[str, Any]
    secrets: dict[str, str]
    llm_key: SecretKeyRef | None
    hash: str


def plan_settings(owner: Owner, spec: Mapping[str, Any], inputs: SettingsInputs) -> BotSettings:
    """The bot's settings: the spec's, overridden by App Configuration's, and their hash.

    The hash covers what must roll the pods when it changes: the rendered settings, which Secret
    and key the LLM key and the API keys come from, and App Configuration's revision (its secrets
    included). The LLM key's value is not part of it: the pods read a rotated key from the file.
    """
    values = render_bot_settings(owner.name, spec, inputs.system_prompt)
    secrets: dict[str, str] = {}
    revision_parts: list[str] = []
    llm_key = inputs.llm_key
    resolved = inputs.app_configuration
    if resolved is not None:
        # Imported here: the Azure SDK is loaded only by operators whose ChatBots use App Configuration.
        from chatbot_operator.appconfig import merge_settings

        values = merge_settings(values, resolved)
        secrets = dict(resolved.secrets)
        revision_parts.append(resolved.revision)
        if LLM_KEY_IN_OWNED_SECRET in secrets:
            llm_key = SecretKeyRef(naming.secret_name(owner.name), LLM_KEY_IN_OWNED_SECRET)
    llm_ref = f"{llm_key.name}/{llm_key.key}" if llm_key else ""
    auth_ref = spec_fields.api_keys_secret_name(spec) or ""
    settings_hash = compute_settings_hash(serialize_settings(values), llm_ref, auth_ref, *revision_parts)
    return BotSettings(values, secrets, llm_key, settings_hash)


def build_children(
    owner: Owner,
    spec: Mapping[str, Any],
    settings: BotSettings | None,
    corpus_commit: str | None,
    *,
    bot_image: str,
    network_policy: BotNetworkPolicy | None,
) -> dict[str, dict[str, Any]]:
    """The children to apply, by kind, each stamped with the hash of itself.

    `settings` None (they cannot be resolved): only what does not depend on them; the last good
    ConfigMap, Secret and Deployment stay as they are. A ChatBot with a corpus but no commit yet gets
    no Deployment: a half-built bot is worse than none.
    """
    children: dict[str, dict[str, Any]] = {"Service": builders.build_service(owner, spec)}
    if network_policy is not None:
        children["NetworkPolicy"] = builders.build_network_policy(owner, network_policy)
    if settings is not None:
        children["ConfigMap"] = builders.build_config_map(owner, serialize_settings(settings.values))
        if settings.secrets:
            children["Secret"] = builders.build_secret(owner, settings.secrets)
        if not spec.get("corpus") or corpus_commit:
            children["Deployment"] = builders.build_deployment(
                owner,
                spec,
                image=spec.get("image") or bot_image,
                settings_hash=settings.hash,
                corpus_commit=corpus_commit,
                llm_key=settings.llm_key,
            )
    for manifest in children.values():
        builders.stamp_applied_hash(manifest)
    return {kind: children[kind] for kind in APPLY_ORDER if kind in children}
