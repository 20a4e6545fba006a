"""Vocabulary, spec parsing, precedence, revision hashing and redaction: pure functions."""

from typing import Any

import pytest

from chatbot_operator.appconfig import (
    REASONS,
    VOCABULARY,
    AppConfigurationError,
    ResolvedAppConfiguration,
    compute_revision,
    merge_settings,
    overridden_settings,
    parse_app_configuration_spec,
    parse_connection_string,
)
from chatbot_operator.appconfig.vocabulary import map_values

pytestmark = pytest.mark.unit


def resolved(settings: dict[str, Any], secrets: dict[str, str] | None = None) -> ResolvedAppConfiguration:
    secrets = secrets or {}
    return ResolvedAppConfiguration(settings, secrets, [], compute_revision(settings, secrets))


# -- vocabulary -------------------------------------------------------------------------------


def test_values_are_typed_and_mapped_to_bot_settings_field_names() -> None:
    mapped = map_values(
        {
            "model": "ft:gpt-4o-mini:acme::abc123",
            "systemPrompt": "You are Docsy.",
            "temperature": "0.2",
            "maxTokens": "800",
            "topP": 1,  # a JSON content type arrives parsed
            "presencePenalty": "-0.5",
            "maxContextTokens": "4000",
            "llm:baseURL": "https://example.openai.azure.com",
            "llm:provider": "azure-openai",
            "llm:apiKey": "sk-secret",
        }
    )
    assert mapped.settings == {
        "model": "ft:gpt-4o-mini:acme::abc123",
        "system_prompt": "You are Docsy.",
        "temperature": 0.2,
        "max_tokens": 800,
        "top_p": 1.0,
        "presence_penalty": -0.5,
        "max_context_tokens": 4000,
        "llm_base_url": "https://example.openai.azure.com",
        "llm_provider": "azure-openai",
    }
    assert mapped.secrets == {"llmApiKey": "sk-secret"}


def test_keys_outside_the_vocabulary_are_listed_sorted_not_dropped_silently() -> None:
    assert map_values({"theme": "dark", "model": "m", "Temperature": "1"}).unknown_keys == [
        "Temperature",
        "theme",
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("temperature", "2.5"),
        ("temperature", "hot"),
        ("temperature", "nan"),
        ("temperature", True),
        ("maxTokens", "0"),
        ("maxTokens", "1.5"),
        ("maxTokens", "-3"),
        ("topP", "1.01"),
        ("maxContextTokens", "10"),
        ("model", ""),
        ("llm:provider", "anthropic"),
        ("llm:baseURL", "example.com/v1"),
        ("llm:apiKey", ""),
        ("greeting", {"a": 1}),
    ],
)
def test_a_malformed_value_is_invalid_value_naming_the_key_not_the_value(key: str, value: Any) -> None:
    with pytest.raises(AppConfigurationError) as caught:
        map_values({key: value}, describe_key=lambda k: f"'app:{k}' label 'prd'")
    assert caught.value.reason == "InvalidValue"
    assert f"'app:{key}' label 'prd'" in caught.value.message
    if isinstance(value, str) and value:
        assert value not in caught.value.message.replace(f"app:{key}", "")


def test_the_llm_api_key_is_the_only_secret_in_the_vocabulary() -> None:
    assert [term.key for term in VOCABULARY.values() if term.secret] == ["llm:apiKey"]


# -- precedence -------------------------------------------------------------------------------


def test_app_configuration_wins_over_spec_fields_for_the_keys_it_sets() -> None:
    spec_settings = {"model": "gpt-4o-mini", "temperature": 0.2, "greeting": "Hi"}
    merged = merge_settings(spec_settings, resolved({"model": "gpt-4o", "max_tokens": 500}))
    assert merged == {"model": "gpt-4o", "temperature": 0.2, "greeting": "Hi", "max_tokens": 500}


def test_without_app_configuration_the_spec_settings_stand_unchanged() -> None:
    spec_settings = {"model": "gpt-4o-mini"}
    merged = merge_settings(spec_settings, None)
    assert merged == spec_settings
    assert merged is not spec_settings


def test_overridden_settings_lists_only_spec_fields_with_a_different_value() -> None:
    spec_settings = {"model": "a", "temperature": 0.2, "greeting": "Hi"}
    assert overridden_settings(spec_settings, resolved({"model": "b", "temperature": 0.2, "top_p": 1})) == [
        "model"
    ]


# -- revision and redaction -------------------------------------------------------------------


def test_the_revision_is_stable_for_equal_inputs_whatever_their_order() -> None:
    first = compute_revision({"a": 1, "b": "x"}, {"llmApiKey": "k"})
    assert first == compute_revision({"b": "x", "a": 1}, {"llmApiKey": "k"})
    assert len(first) == 16


@pytest.mark.parametrize(
    ("settings", "secrets"),
    [({"a": 2, "b": "x"}, {"llmApiKey": "k"}), ({"a": 1, "b": "x"}, {"llmApiKey": "k2"}), ({"a": 1}, {})],
)
def test_any_changed_setting_or_secret_changes_the_revision(
    settings: dict[str, Any], secrets: dict[str, str]
) -> None:
    assert compute_revision(settings, secrets) != compute_revision({"a": 1, "b": "x"}, {"llmApiKey": "k"})


def test_the_revision_does_not_contain_a_secret_or_its_plain_hash() -> None:
    import hashlib

    secret = "sk-abcdef0123456789"
    revision = compute_revision({}, {"llmApiKey": secret})
    assert secret not in revision
    assert revision not in hashlib.sha256(secret.encode()).hexdigest()


def test_repr_and_str_show_secret_keys_but_never_secret_values() -> None:
    value = resolved({"model": "m"}, {"llmApiKey": "sk-top-secret"})
    for text in (repr(value), str(value), f"{value}", repr([value])):
        assert "sk-top-secret" not in text
        assert "llmApiKey" in text


def test_error_reasons_are_distinct_camel_case_words() -> None:
    assert all(reason[0].isupper() and reason.isalnum() for reason in REASONS)
    with pytest.raises(ValueError, match="unknown"):
        AppConfigurationError("SomethingElse", "nope")


# -- spec ------------------------------------------------------------------------------------


def test_a_full_spec_parses_with_defaults_for_labels() -> None:
    parsed = parse_app_configuration_spec(
        {
            "endpoint": "https://example.azconfig.io",
            "selectors": [{"keyFilter": "app:*"}, {"keyFilter": "app:*", "labelFilter": "prd"}],
            "trimKeyPrefixes": ["app:"],
            "refreshInterval": "1m30s",
            "sentinelKey": {"key": "app:sentinel"},
        }
    )
    assert parsed.selectors[0].label_filter == "\0"
    assert parsed.selectors[1].label_filter == "prd"
    assert parsed.refresh_seconds == 90
    assert parsed.sentinel is not None
    assert parsed.sentinel.label == "\0"


@pytest.mark.parametrize(
    "spec",
    [
        {"selectors": [{"keyFilter": "a"}]},  # neither endpoint nor connection string
        {
            "endpoint": "https://x",
            "connectionStringSecretRef": {"name": "s"},
            "selectors": [{"keyFilter": "a"}],
        },
        {"endpoint": "http://insecure.example", "selectors": [{"keyFilter": "a"}]},
        {"endpoint": "https://x", "selectors": []},
        {"endpoint": "https://x", "selectors": [{"labelFilter": "prd"}]},
        {"endpoint": "https://x", "selectors": [{"keyFilter": "a"}], "refreshInterval": "soon"},
        {"endpoint": "https://x", "selectors": [{"keyFilter": "a"}], "refreshInterval": "500ms"},
    ],
)
def test_an_unusable_spec_is_invalid_spec(spec: dict[str, Any]) -> None:
    with pytest.raises(AppConfigurationError) as caught:
        parse_app_configuration_spec(spec)
    assert caught.value.reason == "InvalidSpec"
    assert "spec.appConfiguration" in caught.value.message


def test_a_connection_string_is_checked_without_being_quoted_back() -> None:
    parsed = parse_connection_string("Endpoint=https://s.azconfig.io;Id=abc;Secret=c2VjcmV0")
    assert parsed.endpoint == "https://s.azconfig.io"
    with pytest.raises(AppConfigurationError) as caught:
        parse_connection_string("Endpoint=https://s.azconfig.io;Id=abc;Secret=not*base64")
    assert caught.value.reason == "InvalidConnectionString"
    assert "not*base64" not in caught.value.message
    with pytest.raises(AppConfigurationError):
        parse_connection_string("https://s.azconfig.io")
