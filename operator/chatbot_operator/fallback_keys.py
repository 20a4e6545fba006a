"""The keys of a ChatBot's fallback models (spec.llm.fallbacks) in its pods: one projected volume.

Each fallback that has an apiKeySecretRef gets that one Secret item as the file named by its
position (chatbot_contract.llm_fallback_key_file), the name the bot's settings give it. Projected
Secret items are updated in place by the kubelet, like a Secret volume (and unlike a subPath
mount): a rotated fallback key reaches the running bot as the primary's does.
"""

from collections.abc import Mapping
from typing import Any

import chatbot_contract as contract
from chatbot_operator import spec_fields

VOLUME = "llm-fallback-keys"


def build_volumes(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The fallback keys' volume, or none when no fallback has a key."""
    sources = [
        {"secret": {"name": ref.name, "items": [{"key": ref.key, "path": str(position)}]}}
        for position, ref in spec_fields.fallback_key_refs(spec)
    ]
    return [{"name": VOLUME, "projected": {"sources": sources}}] if sources else []


def build_mounts(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Its mount in the bot container, or none."""
    if not spec_fields.fallback_key_refs(spec):
        return []
    return [{"name": VOLUME, "mountPath": contract.LLM_FALLBACK_KEYS_DIR, "readOnly": True}]
