"""Render a ChatBot spec into the bot's settings document (settings.json) and hash it.

The keys are the bot's settings field names (chatbot_server.settings); a contract test loads
what this renders with the bot's own settings class.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# spec.generation field -> bot settings field.
_GENERATION_FIELDS = {
    "temperature": "temperature",
    "maxTokens": "max_tokens",
    "topP": "top_p",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
}

# spec.llm field -> bot settings field (the API key is never rendered here: it is a Secret).
_LLM_FIELDS = {
    "provider": "llm_provider",
    "baseURL": "llm_base_url",
    "apiVersion": "llm_api_version",
    "deployment": "llm_deployment",
    "timeoutSeconds": "llm_timeout_seconds",
    "maxRetries": "llm_max_retries",
}


def render_bot_settings(name: str, spec: Mapping[str, Any], system_prompt: str) -> dict[str, Any]:
    """The bot's non-secret settings for one ChatBot; unset spec fields keep the bot's defaults."""
    settings: dict[str, Any] = {"name": name, "system_prompt": system_prompt}
    for spec_key, field in (
        ("model", "model"),
        ("greeting", "greeting"),
        ("maxContextTokens", "max_context_tokens"),
        ("fallbackMessage", "fallback_message"),
        ("transcriptLog", "transcript_log"),
    ):
        if spec_key in spec:
            settings[field] = spec[spec_key]
    for spec_key, field in _GENERATION_FIELDS.items():
        if spec_key in spec.get("generation", {}):
            settings[field] = spec["generation"][spec_key]
    llm = spec.get("llm", {})
    for spec_key, field in _LLM_FIELDS.items():
        if spec_key in llm:
            settings[field] = llm[spec_key]
    if "topK" in spec.get("retrieval", {}):
        settings["retrieval_top_k"] = spec["retrieval"]["topK"]
    if "mode" in spec.get("retrieval", {}):
        settings["retrieval_mode"] = spec["retrieval"]["mode"]
    if spec.get("faq"):
        settings["faq"] = [{"question": item["question"], "answer": item["answer"]} for item in spec["faq"]]
    return settings


def serialize_settings(settings: Mapping[str, Any]) -> str:
    """A stable serialization: equal settings give byte-equal documents (and equal hashes)."""
    return json.dumps(settings, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def compute_settings_hash(*parts: str) -> str:
    """Hash of everything that, when changed, must roll the pods."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
