"""Render a ChatBot spec into the bot's settings document (settings.json) and hash it.

The keys are the bot's settings field names (chatbot_server.settings), listed with their spec
fields in chatbot_operator.spec_fields; a contract test loads what this renders with the bot's own
settings class.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import chatbot_contract as contract
from chatbot_operator import spec_fields

# spec.llm.fallbacks[] field -> the bot's LlmModel field.
_FALLBACK_FIELDS = {
    "provider": "provider",
    "model": "model",
    "baseURL": "base_url",
    "apiVersion": "api_version",
    "deployment": "deployment",
}


def render_bot_settings(name: str, spec: Mapping[str, Any], system_prompt: str) -> dict[str, Any]:
    """The bot's non-secret settings for one ChatBot.

    Every field of spec_fields.BOT_SETTINGS is rendered: its value, else its default (the CRD's);
    a field with neither is left out, so the bot's own default applies.
    """
    settings: dict[str, Any] = {"name": name, "system_prompt": system_prompt}
    for field in spec_fields.BOT_SETTINGS:
        value = spec_fields.read(spec, field.path)
        if value is spec_fields.UNSET:
            value = field.default
        if value is not spec_fields.UNSET:
            settings[field.setting] = value
    fallbacks = spec.get("llm", {}).get("fallbacks")
    if fallbacks:
        settings["llm_fallbacks"] = render_llm_fallbacks(fallbacks)
    if spec.get("faq"):
        settings["faq"] = [{"question": item["question"], "answer": item["answer"]} for item in spec["faq"]]
    if spec.get("goldenQuestions"):
        settings["golden_questions"] = [render_golden_question(item) for item in spec["goldenQuestions"]]
    return settings


def render_golden_question(item: Mapping[str, Any]) -> dict[str, Any]:
    """One spec.goldenQuestions item under the bot's names (chatbot_server.golden.GoldenQuestion)."""
    expect = item.get("expect", {})
    return {
        "question": item["question"],
        "expect": {name: expect[key] for key, name in _EXPECT_KEYS if key in expect},
    }


_EXPECT_KEYS = (
    ("faqAnswer", "faq_answer"),
    ("source", "source"),
    ("contains", "contains"),
    ("notContains", "not_contains"),
    ("fallback", "fallback"),
)


def render_llm_fallbacks(fallbacks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The bot's llm_fallbacks: each model's fields, and the file its key is mounted as (the key
    itself is never rendered: the pod mounts its Secret item, see builders)."""
    rendered = []
    for position, fallback in enumerate(fallbacks):
        model = {
            field: fallback[spec_key] for spec_key, field in _FALLBACK_FIELDS.items() if spec_key in fallback
        }
        if spec_fields.fallback_key_ref(fallback) is not None:
            model["api_key_file"] = contract.llm_fallback_key_file(position)
        rendered.append(model)
    return rendered


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
