"""Semantic and hybrid search with the real model: paraphrases reach their page, nonsense falls back."""

from __future__ import annotations

import numpy as np
import pytest

from chatbot_server.chunking import Chunk
from chatbot_server.embeddings import Embedder
from chatbot_server.retrieval import CorpusIndex
from chatbot_server.search import SEMANTIC_THRESHOLD, Searcher

CHUNKS = [
    Chunk(
        "timers.md",
        "Handlers > Timers",
        "A timer calls its handler periodically, at a fixed interval, once for every resource it watches.",
    ),
    Chunk(
        "admission.md",
        "Handlers > Admission webhooks",
        "Validating webhooks reject a resource with invalid fields before the API server persists it.",
    ),
    Chunk("install.md", "Install", "Install the operator with pip and run it with the kopf command."),
    Chunk("logging.md", "Logging", "Log records go to standard output; the verbosity is set per handler."),
]


def searcher(embedder: Embedder | None, mode: str = "hybrid") -> Searcher:
    index = CorpusIndex()
    index.add(CHUNKS)
    found = Searcher(index, mode)  # type: ignore[arg-type]
    if embedder is not None:
        found.attach_vectors(embedder, embedder.embed_chunks(index.chunks))
    return found


def test_embeddings_are_unit_vectors_closer_for_paraphrases(embedder: Embedder) -> None:
    vectors = embedder.embed(["How do I rename a branch?", "Move or rename a branch", "Bake bread at home"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


@pytest.mark.parametrize(
    ("question", "path"),
    [
        ("a function that runs every 30 seconds for each object", "timers.md"),
        ("refuse an object with bad values before it is stored", "admission.md"),
    ],
)
def test_paraphrased_questions_reach_the_page_keyword_search_misses(
    embedder: Embedder, question: str, path: str
) -> None:
    keyword = searcher(None).search(question, 3)
    assert path not in [p.path for p in keyword.passages[:1]]
    semantic = searcher(embedder, "semantic").search(question, 3)
    assert semantic.mode == "semantic"
    assert semantic.passages[0].path == path
    # Fused by rank, a page found only by meaning still comes before any page past the keyword top 1.
    hybrid = searcher(embedder, "hybrid").search(question, 3)
    assert hybrid.mode == "hybrid"
    assert path in [p.path for p in hybrid.passages[:2]]


def test_relevance_is_the_best_cosine_similarity_against_the_calibrated_threshold(embedder: Embedder) -> None:
    answered = searcher(embedder).search("How do I run code periodically for every resource?", 3)
    assert answered.passages[0].path == "timers.md"
    assert answered.relevance >= SEMANTIC_THRESHOLD
    assert answered.relevant
    unanswered = searcher(embedder).search("What will the weather be like in Paris tomorrow?", 3)
    assert unanswered.relevance < SEMANTIC_THRESHOLD
    assert not unanswered.relevant


def test_without_vectors_a_hybrid_searcher_answers_by_keywords() -> None:
    found = searcher(None).search("How do I install the operator?", 3)
    assert found.mode == "keyword"
    assert found.passages[0].path == "install.md"
    assert found.relevant
    assert not searcher(None).search("weather in Paris", 3).relevant


def test_the_corpus_embedded_on_several_threads_gets_the_same_vectors_in_the_same_order(
    embedder: Embedder,
) -> None:
    # One chunk per model call on each thread: the same vectors, bit for bit, as on one thread (the
    # golden check's vectors are handed to the bot, whatever the threads of each container).
    chunks = [Chunk(c.path, c.title, f"{c.text} ({number})") for number, c in enumerate(CHUNKS * 5)]
    one = embedder.embed_chunks(chunks)
    assert np.array_equal(embedder.embed_chunks(chunks, threads=3), one)
    assert one.shape == (20, 384)
    assert len({row.tobytes() for row in one}) == 20  # every chunk its own vector, none left at zero
