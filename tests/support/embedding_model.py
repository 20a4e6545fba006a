"""The bot's embedding model for tests: fetched once into the cache by the image build's own script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chatbot_server.embeddings import default_model_dir

ROOT = Path(__file__).resolve().parents[2]


def fetch_model() -> Path:
    target = default_model_dir()
    subprocess.run([sys.executable, str(ROOT / "hack" / "fetch-embedding-model.py"), str(target)], check=True)
    return target
