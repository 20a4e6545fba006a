"""The embedding model and its embedder, once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.embedding_model import fetch_model

from chatbot_server.embeddings import Embedder


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return fetch_model()


@pytest.fixture(scope="session")
def embedder(model_dir: Path) -> Embedder:
    return Embedder(model_dir)
