"""One retrieval system answering one question set, in its own process (benchmarks/answer_quality.py).

`chatbot_server` is imported from PYTHONPATH: today's package, or the baseline's extracted from git
history, whose API (`build_index`, `CorpusIndex.search`) is all this needs of it for `before`.
Prints JSON on stdout: per question the ranked distinct files, the top passages' (path, heading),
whether the bot would fall back, the relevance it decided on, and each query's latency.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import chatbot_server
from chatbot_server.retrieval import build_index

if TYPE_CHECKING or "--today" in sys.argv:  # the baseline's package has none of these
    import numpy as np

    from benchmarks.quality_corpus import CACHE_DIR
    from chatbot_server import search
    from chatbot_server.chunking import Chunk, chunk_text
    from chatbot_server.embeddings import (
        DEFAULT_MODEL,
        MODELS,
        Embedder,
        Vectors,
        default_model_dir,
        load_embedder,
    )
    from chatbot_server.search import MODES, Mode, Searcher, identifiers

PASSAGES = 40
DEPTH = 10


def rss_mib() -> float:
    import os

    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def answer_record(
    cited: list[tuple[str, str]], fallback: bool, relevance: float | None, identifier_match: bool = False
) -> dict[str, Any]:
    """What the scorer needs of one answer: distinct files in rank order, the top 3 (path, heading),
    and what the fallback was decided on (for the calibration tables)."""
    return {
        "files": list(dict.fromkeys(path for path, _ in cited))[:DEPTH],
        "passages": cited[:3],
        "fallback": fallback,
        "relevance": relevance,
        "identifier_match": identifier_match,
    }


def run_before(corpus: Path, questions: list[str]) -> dict[str, Any]:
    """The baseline: BM25 over its chunks; it quotes passages whenever anything matches."""
    index = build_index(corpus)
    answers, latencies = [], []
    for question in questions:
        started = time.perf_counter()
        passages = index.search(question, PASSAGES)
        latencies.append(time.perf_counter() - started)
        answers.append(answer_record([(p.path, p.title) for p in passages], not passages, None))
    return {
        "chunks": index.size,
        "documents": index.documents,
        "index_seconds": index.build_seconds,
        "latencies": latencies,
        "answers": answers,
    }


def cached_vectors(embedder: Embedder, chunks: list[Chunk]) -> tuple[Vectors, float | None]:
    """The chunks' vectors, computed once per chunking and model (semantic and hybrid share them).

    Returns the seconds they took, or None when they came from the cache.
    """
    model = embedder.model
    digest = hashlib.sha256((default_model_dir(model) / "model.onnx").read_bytes())
    # What else decides a vector: the length cut, pooling, and one chunk per model call (embed_chunks).
    digest.update(f"{model.max_tokens} tokens, {model.pooling} pooling, one chunk per call".encode())
    for chunk in chunks:
        digest.update((model.passage_prefix + chunk_text(chunk)).encode())
        digest.update(b"\0")
    path = CACHE_DIR / f"vectors-{digest.hexdigest()[:24]}.npy"
    if path.is_file():
        return np.load(path), None
    started = time.perf_counter()
    vectors = embedder.embed_chunks(chunks)
    seconds = time.perf_counter() - started
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors, seconds


def run_today(system: str, corpus: Path, questions: list[str]) -> dict[str, Any]:
    """A mode (`hybrid`), or a mode with another embedding model than the bot's (`hybrid@NAME`)."""
    mode_name, _, model_name = system.partition("@")
    if mode_name == "hybrid-chunks":  # the ranking before document scores (search.py)
        mode_name = "hybrid"
        search.FILE_DECAY, search.CANDIDATES = 0.0, 50
    assert mode_name in MODES, system
    mode: Mode = mode_name
    model = MODELS[model_name] if model_name else DEFAULT_MODEL
    index = build_index(corpus)
    searcher = Searcher(index, mode)
    embedding_seconds = None
    if mode != "keyword":
        embedder = load_embedder(default_model_dir(model), model)
        if embedder is None:
            sys.exit(
                f"no embedding model under {default_model_dir(model)}: "
                f"run hack/fetch-embedding-model.py --model {model.name}"
            )
        vectors, embedding_seconds = cached_vectors(embedder, index.chunks)
        searcher.attach_vectors(embedder, vectors)
    for question in questions[:5]:  # warm-up: first calls allocate the runtime's buffers
        searcher.search(question, PASSAGES)
    answers, latencies = [], []
    for question in questions:
        started = time.perf_counter()
        found = searcher.search(question, PASSAGES)
        latencies.append(time.perf_counter() - started)
        cited = [(p.path, p.title) for p in found.passages]
        best = f"{found.passages[0].title}\n{found.passages[0].text}".lower() if found.passages else ""
        match = any(name.lower() in best for name in identifiers(question))
        answers.append(answer_record(cited, not found.relevant, found.relevance, match))
    return {
        "chunks": index.size,
        "documents": index.documents,
        "index_seconds": index.build_seconds,
        "embedding_seconds": embedding_seconds,
        "latencies": latencies,
        "answers": answers,
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    system, corpus, questions = spec["system"], Path(spec["corpus"]), spec["questions"]
    before = rss_mib()
    result = run_before(corpus, questions) if system == "before" else run_today(system, corpus, questions)
    result["rss_mib"] = rss_mib() - before
    result["package"] = str(Path(chatbot_server.__file__).parent)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
