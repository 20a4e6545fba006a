"""Hybrid ranking and the fallback rule, with hand-made vectors instead of a model."""

from __future__ import annotations

import numpy as np
import pytest

from chatbot_server.chunking import Chunk
from chatbot_server.retrieval import CorpusIndex
from chatbot_server.search import Searcher, identifiers


class FixedEmbedder:
    """Every question embeds to the same unit vector; its threshold and floor are the test's."""

    def __init__(self, threshold: float = 0.5, identifier_threshold: float | None = 0.2) -> None:
        self.relevance_threshold = threshold
        self.identifier_threshold = identifier_threshold

    def embed_question(self, question: str) -> np.ndarray:
        return np.array([1.0, 0.0], dtype=np.float32)


def unit(similarity: float) -> list[float]:
    """A unit vector whose cosine similarity to the question's is `similarity`."""
    return [similarity, float(np.sqrt(1 - similarity**2))]


def searcher(chunks: list[Chunk], similarities: list[float], embedder: object) -> Searcher:
    index = CorpusIndex()
    index.add(chunks)
    found = Searcher(index, "hybrid")
    found.attach_vectors(embedder, np.array([unit(s) for s in similarities], dtype=np.float32))  # type: ignore[arg-type]
    return found


def test_a_page_several_passages_point_to_outranks_a_page_with_one_lucky_passage() -> None:
    chunks = [
        Chunk("lucky.md", "Lucky", "Rotate the signing keys."),
        Chunk("guide.md", "Guide > Keys", "Signing keys are rotated by the operator."),
        Chunk("guide.md", "Guide > Rotation", "Rotation of signing keys happens monthly."),
        Chunk("guide.md", "Guide > Old keys", "Old signing keys stay valid for a day after rotation."),
        Chunk("other.md", "Other", "Nothing about this subject at all."),
    ]
    # The lucky passage is first by meaning; the guide's three passages come right after it.
    found = searcher(chunks, [0.9, 0.85, 0.84, 0.83, 0.1], FixedEmbedder()).search("rotate signing keys", 5)
    assert [p.path for p in found.passages][:2] == ["guide.md", "lucky.md"]
    # Only the guide's leading passage is lifted: its other passages keep their own places.
    assert [p.path for p in found.passages].count("guide.md") == 3


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("maxUnavailable rolling update", ["maxUnavailable"]),
        (
            "CorpusSynced is False with reason CredentialsSecretNotFound",
            ["CorpusSynced", "CredentialsSecretNotFound"],
        ),
        ("where is api_keys_dir set", ["api_keys_dir"]),
        ("git clone --depth 1", ["--depth"]),
        ("status.showUntrackedFiles", ["status.showUntrackedFiles"]),
        ("k8s v1beta1", ["k8s", "v1beta1"]),
        ("How do I rename a branch, e.g. main?", []),
        ("fast-forward merge in 3.5 seconds", []),
    ],
)
def test_identifiers_are_the_words_that_name_something_in_code(question: str, expected: list[str]) -> None:
    assert identifiers(question) == expected


IDENTIFIER_CHUNKS = [
    Chunk("reference.md", "Reference > Children", "The Deployment uses maxUnavailable: 0 and maxSurge: 1."),
    Chunk("other.md", "Other", "Unrelated words about pizza."),
]


def test_a_question_naming_an_identifier_its_best_passage_holds_is_answered_below_the_threshold() -> None:
    found = searcher(IDENTIFIER_CHUNKS, [0.3, 0.1], FixedEmbedder()).search(
        "maxUnavailable rolling update", 2
    )
    assert found.relevance < 0.5
    assert found.relevant
    # Not without the identifier, nor below the floor, nor with an embedder that has no floor.
    assert (
        not searcher(IDENTIFIER_CHUNKS, [0.3, 0.1], FixedEmbedder()).search("rolling deployment", 2).relevant
    )
    below = searcher(IDENTIFIER_CHUNKS, [0.15, 0.1], FixedEmbedder()).search("maxUnavailable", 2)
    assert not below.relevant
    no_floor = FixedEmbedder(identifier_threshold=None)
    assert not searcher(IDENTIFIER_CHUNKS, [0.3, 0.1], no_floor).search("maxUnavailable", 2).relevant


def test_an_identifier_the_best_passage_does_not_hold_gets_the_fallback() -> None:
    found = searcher(IDENTIFIER_CHUNKS, [0.3, 0.1], FixedEmbedder()).search(
        "How do I train a model with PyTorch?", 2
    )
    assert identifiers("How do I train a model with PyTorch?") == ["PyTorch"]
    assert not found.relevant


def test_a_pages_sections_that_only_meaning_finds_do_not_add_up() -> None:
    # In a small corpus every chunk is a semantic candidate: the install page's unrelated first
    # section must not lift it above the page that answers.
    chunks = [
        Chunk("install.md", "Install", "Run pip install example to install the client."),
        Chunk("install.md", "Install > Configuration", "Set the API token in the environment."),
        Chunk("limits.md", "Rate limits", "The API allows 100 requests per minute."),
    ]
    found = searcher(chunks, [0.1, 0.3, 0.7], FixedEmbedder()).search("a cap on API calls", 3)
    assert found.passages[0].path == "limits.md"
