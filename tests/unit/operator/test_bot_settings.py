"""Rendering a spec into the bot's settings document, and the hash that rolls the pods."""

from chatbot_operator.bot_settings import compute_settings_hash, render_bot_settings, serialize_settings


def test_spec_fields_map_to_bot_settings_names() -> None:
    spec = {
        "model": "ft:gpt-4o-mini-2024-07-18:acme:support:abc123",
        "greeting": "Hi!",
        "maxContextTokens": 4000,
        "fallbackMessage": "A human will be in touch shortly.",
        "transcriptLog": True,
        "generation": {
            "temperature": 0.2,
            "maxTokens": 800,
            "topP": 0.9,
            "presencePenalty": 0.5,
            "frequencyPenalty": -0.5,
        },
        "llm": {
            "provider": "azure-openai",
            "baseURL": "https://x.openai.azure.com",
            "apiVersion": "2024-10-21",
            "deployment": "gpt4o",
            "timeoutSeconds": 30,
            "maxRetries": 3,
            "apiKeySecretRef": {"name": "llm-key", "key": "apiKey"},
        },
        "retrieval": {
            "topK": 6,
            "mode": "semantic",
            "embeddings": {"model": "text-embedding-3-large", "dimensions": 1024, "relevanceThreshold": 0.35},
        },
        "faq": [{"question": "Hours?", "answer": "Nine to five."}],
    }
    assert render_bot_settings("support", spec, "Be kind.") == {
        "name": "support",
        "system_prompt": "Be kind.",
        "model": "ft:gpt-4o-mini-2024-07-18:acme:support:abc123",
        "greeting": "Hi!",
        "max_context_tokens": 4000,
        "fallback_message": "A human will be in touch shortly.",
        "transcript_log": True,
        "temperature": 0.2,
        "max_tokens": 800,
        "top_p": 0.9,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "llm_provider": "azure-openai",
        "llm_base_url": "https://x.openai.azure.com",
        "llm_api_version": "2024-10-21",
        "llm_deployment": "gpt4o",
        "llm_timeout_seconds": 30,
        "llm_max_retries": 3,
        "retrieval_top_k": 6,
        "retrieval_mode": "semantic",
        "embeddings_model": "text-embedding-3-large",
        "embeddings_dimensions": 1024,
        "embeddings_relevance_threshold": 0.35,
        "faq": [{"question": "Hours?", "answer": "Nine to five."}],
    }


def test_the_api_key_reference_is_never_rendered_into_settings() -> None:
    spec = {"llm": {"provider": "openai", "apiKeySecretRef": {"name": "llm-key", "key": "apiKey"}}}
    rendered = serialize_settings(render_bot_settings("bot", spec, "p"))
    assert "llm-key" not in rendered
    assert "apiKey" not in rendered


def test_serialization_is_stable_so_equal_settings_hash_equal() -> None:
    one = serialize_settings({"b": 1, "a": [1, 2], "c": "é"})
    two = serialize_settings({"c": "é", "a": [1, 2], "b": 1})
    assert one == two
    assert compute_settings_hash(one) == compute_settings_hash(two)


def test_any_change_of_settings_changes_the_hash() -> None:
    base = render_bot_settings("bot", {"model": "gpt-4o-mini"}, "You help.")
    edited = render_bot_settings("bot", {"model": "gpt-4o-mini"}, "You help!")
    assert compute_settings_hash(serialize_settings(base)) != compute_settings_hash(
        serialize_settings(edited)
    )
    # Parts are separated, so moving text between them changes the hash too.
    assert compute_settings_hash("ab", "c") != compute_settings_hash("a", "bc")


def test_without_provider_embeddings_nothing_of_them_is_rendered_and_the_bundled_model_is_used() -> None:
    rendered = render_bot_settings("bot", {"retrieval": {"mode": "hybrid"}}, "p")
    assert not [key for key in rendered if key.startswith("embeddings_")]
