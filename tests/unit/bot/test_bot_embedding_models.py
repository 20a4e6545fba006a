"""The embedding models the bot and its benchmark know, and the script that fetches them, agree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from chatbot_server.embeddings import DEFAULT_MODEL, MODELS

FETCH = Path(__file__).resolve().parents[3] / "hack" / "fetch-embedding-model.py"


def test_the_fetch_script_fetches_the_bots_model_by_default_and_every_candidate() -> None:
    spec = importlib.util.spec_from_file_location("fetch_embedding_model", FETCH)
    assert spec is not None
    assert spec.loader is not None
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    bundled, fetched = DEFAULT_MODEL.name, fetch.DEFAULT
    assert fetched == bundled
    assert set(MODELS) == set(fetch.MODELS)
    assert all(len(jar.sha256) == 64 for jar in fetch.MODELS.values())


def test_each_model_has_a_relevance_threshold_on_its_own_scale() -> None:
    for model in MODELS.values():
        assert 0 < model.relevance_threshold < 1
        floor = model.identifier_threshold
        assert floor is None or floor < model.relevance_threshold
