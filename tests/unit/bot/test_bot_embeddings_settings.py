"""spec.retrieval.embeddings as the bot reads it: the provider's embeddings, and the bad values refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatbot_server.settings import SettingsError, load_settings

pytestmark = pytest.mark.usefixtures("no_chatbot_environment")

PROVIDER = {"llm_provider": "openai-compatible", "llm_base_url": "http://llm.test/v1"}


def load(tmp_path: Path, values: dict[str, Any]) -> Any:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(values))
    return load_settings(path)


def test_the_providers_embeddings_are_read_with_their_size_and_threshold(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        {
            **PROVIDER,
            "embeddings_model": "text-embedding-3-small",
            "embeddings_dimensions": 256,
            "embeddings_relevance_threshold": 0.3,
        },
    )
    assert settings.embeddings_model == "text-embedding-3-small"
    assert settings.embeddings_dimensions == 256
    assert settings.embeddings_relevance_threshold == 0.3


def test_without_embeddings_the_bundled_model_is_used(tmp_path: Path) -> None:
    settings = load(tmp_path, PROVIDER)
    assert settings.embeddings_model is None


def test_an_empty_model_variable_means_no_provider_embeddings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_EMBEDDINGS_MODEL", " ")
    assert load(tmp_path, PROVIDER).embeddings_model is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"embeddings_model": "text-embedding-3-small"}, "needs a language model provider"),
        ({**PROVIDER, "embeddings_dimensions": 256}, "need embeddings_model"),
        ({**PROVIDER, "embeddings_relevance_threshold": 0.3}, "need embeddings_model"),
        (
            {**PROVIDER, "embeddings_model": "e", "retrieval_mode": "keyword"},
            "not used by retrieval_mode 'keyword'",
        ),
        ({**PROVIDER, "embeddings_model": "e", "embeddings_dimensions": 0}, "embeddings_dimensions:"),
        ({**PROVIDER, "embeddings_model": "e", "embeddings_relevance_threshold": 1.5}, "threshold:"),
        ({**PROVIDER, "embeddings_model": ""}, None),  # empty: unset, nothing to refuse
    ],
)
def test_bad_embeddings_settings_are_a_start_up_error_naming_the_setting(
    tmp_path: Path, values: dict[str, Any], message: str | None
) -> None:
    if message is None:
        assert load(tmp_path, values).embeddings_model is None
        return
    with pytest.raises(SettingsError, match=message):
        load(tmp_path, values)
