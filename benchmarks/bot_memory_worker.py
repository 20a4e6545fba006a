"""The bot's memory with its corpus of docs/ indexed, in this process: what `semantic_cost` compares.

`chatbot_server` comes from PYTHONPATH (today's package, or the baseline's from git history), so
this module imports nothing of it before measuring the process's starting size. Prints JSON:
RSS at start, after the bot's imports and the keyword index, and (mode `hybrid`) after the model
is loaded and every chunk embedded (the bot's model, or the one named after the mode).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    mode = sys.argv[1]
    figures = {"start": rss_mib()}
    import chatbot_server.app  # noqa: F401  (everything the bot imports at start)
    from chatbot_server.retrieval import build_index

    index = build_index(DOCS_DIR)
    figures["indexed"] = rss_mib()
    if mode == "hybrid":
        from chatbot_server.embeddings import (
            DEFAULT_MODEL,
            MODELS,
            Embedder,
            default_model_dir,
            embedding_threads,
        )
        from chatbot_server.search import Searcher

        model = MODELS[sys.argv[2]] if len(sys.argv) > 2 else DEFAULT_MODEL
        searcher = Searcher(index, "hybrid")
        embedder = Embedder(default_model_dir(model), model)
        # As the bot server embeds: on one thread (embeddings.MAX_THREADS says why).
        vectors = embedder.embed_chunks(index.chunks, threads=embedding_threads(None))
        searcher.attach_vectors(embedder, vectors)
        searcher.search("How do I protect the bot's API with keys?", 4)
        figures["embedded"] = rss_mib()
    json.dump(figures, sys.stdout)


if __name__ == "__main__":
    main()
