"""The embedding model, fetched once into the cache by the same script the image build uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatbot_server.embeddings import Embedder, default_model_dir

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def model_dir() -> Path:
    target = default_model_dir()
    subprocess.run([sys.executable, str(ROOT / "hack" / "fetch-embedding-model.py"), str(target)], check=True)
    return target


@pytest.fixture(scope="session")
def embedder(model_dir: Path) -> Embedder:
    return Embedder(model_dir)
