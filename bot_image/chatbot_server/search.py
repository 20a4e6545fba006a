"""What a question finds in the corpus, in the ChatBot's retrieval mode, and whether any of it is relevant.

Modes (`spec.retrieval.mode`): `keyword` is BM25 (retrieval.py); `semantic` ranks chunks by the
cosine similarity of their embedding to the question's (embeddings.py); `hybrid` fuses both
rankings by reciprocal rank (RRF, k = 60: a chunk's score is the sum of 1 / (60 + rank) over the
rankings it is in), which needs no tuning across corpora whose BM25 scales differ. Then each
document's leading chunk takes its document's score: its own, plus half the next chunk's, a quarter
of the one after... (FILE_DECAY), counting only the chunks both rankings found, so a page that
several passages point to outranks a page with one lucky passage (docs/benchmarks.md, "Answer
quality"); its other chunks keep their own scores.

The question's embedding is computed in a worker thread (`find`): the local model takes 2 to 4 ms
of CPU per question, and a provider's embeddings endpoint (remote_embeddings.py) is a network call;
neither may hold the event loop. The ranking itself is synchronous given that vector.

Until the chunk vectors are ready (they are computed after the keyword index, in the background),
a semantic or hybrid searcher answers with keyword search: readiness never waits for embeddings.

Relevance decides the fallback: with vectors, the best chunk's cosine similarity to the question
must reach the embedder's threshold (SEMANTIC_THRESHOLD for the bundled model), or, when the
question names an identifier (`maxUnavailable`, `api_keys_dir`, `--depth`) that the best passage
holds verbatim, the embedder's lower `identifier_threshold`: short keyword queries embed far from the
passage that defines their term. Keyword-only, the best passage must hold KEYWORD_COVERAGE of the
question's distinct terms. All were calibrated on benchmarks/answer_quality.py (docs/benchmarks.md,
"Answer quality"), not guessed.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from chatbot_server.retrieval import CorpusIndex, Passage
from chatbot_server.text import terms

if TYPE_CHECKING:  # a keyword-only bot never loads NumPy or ONNX Runtime (37 MiB of the process)
    from chatbot_server.embeddings import Vectors

Mode = Literal["keyword", "semantic", "hybrid"]
MODES: tuple[Mode, ...] = ("keyword", "semantic", "hybrid")

RRF_K = 60
# Candidates taken from each ranking before fusing: deeper than any answer needs, and deep enough
# that a document's further chunks count (tuned with FILE_DECAY on half of the benchmark's questions).
CANDIDATES = 100
FILE_DECAY = 0.5
SEMANTIC_THRESHOLD = 0.375
IDENTIFIER_THRESHOLD = 0.25
KEYWORD_COVERAGE = 0.5


class QuestionEmbedder(Protocol):
    """What search needs of an embedding model once the corpus's vectors are computed."""

    @property
    def relevance_threshold(self) -> float:
        """The cosine similarity a question's best chunk must reach to be answered from the corpus."""
        ...

    @property
    def identifier_threshold(self) -> float | None:
        """The lower bar when the best passage holds an identifier the question names verbatim;
        None: no such leniency (a model it was not calibrated for)."""
        ...

    def embed_question(self, question: str) -> Vectors | None:
        """The question's unit vector (blocking: called in a worker thread); None when it could
        not be had (a provider's failure): that question is searched by keywords."""
        ...


@dataclass(frozen=True, slots=True)
class Found:
    passages: list[Passage]  # best first
    relevance: float  # the best chunk's cosine similarity, or its share of the question's terms
    relevant: bool  # False: the bot should give its fallback message
    mode: Mode  # the mode that answered (keyword while vectors are not ready)


class Searcher:
    def __init__(self, index: CorpusIndex, mode: Mode = "hybrid") -> None:
        self.index = index
        self.mode = mode
        self.embedder: QuestionEmbedder | None = None
        self.vectors: Vectors | None = None
        self.embedding_seconds = 0.0

    def attach_vectors(self, embedder: QuestionEmbedder, vectors: Vectors) -> None:
        """Switch from keyword-only to the configured mode (called once the vectors are computed)."""
        self.embedder, self.vectors = embedder, vectors

    @property
    def active_mode(self) -> Mode:
        return self.mode if self.vectors is not None else "keyword"

    def embed_question(self, question: str) -> Vectors | None:
        """The question's vector when the active mode needs one (blocking), timed for the metrics."""
        if self.active_mode == "keyword" or self.embedder is None or self.index.size == 0:
            return None
        started = time.perf_counter()
        vector = self.embedder.embed_question(question)  # a session runs concurrent calls safely
        self.embedding_seconds = time.perf_counter() - started
        return vector

    async def find(self, question: str, limit: int) -> Found:
        """search(), with the question's embedding computed off the event loop."""
        vector = await asyncio.to_thread(self.embed_question, question) if limit > 0 else None
        return self.rank(question, limit, vector)

    def search(self, question: str, limit: int) -> Found:
        """The best `limit` passages and their relevance (blocking; benchmarks and tests)."""
        return self.rank(question, limit, self.embed_question(question) if limit > 0 else None)

    def rank(self, question: str, limit: int, vector: Vectors | None) -> Found:
        """The ranking, given the question's vector (None: keyword search)."""
        mode = self.active_mode if vector is not None else "keyword"
        if limit <= 0 or self.index.size == 0:
            return Found([], 0.0, False, mode)
        if mode == "keyword" or vector is None or self.vectors is None or self.embedder is None:
            return self._keyword(question, limit)
        similarities = self.vectors @ vector
        semantic = _top(similarities, CANDIDATES if mode == "hybrid" else limit)
        relevance = float(similarities[semantic[0]]) if len(semantic) else 0.0
        if mode == "semantic":
            ranked = [int(n) for n in semantic[:limit]]
        else:
            keyword = [number for number, _ in self.index.search_ids(question, CANDIDATES)]
            ranked = self._by_document(_fuse(keyword, semantic), set(keyword) & set(semantic))[:limit]
        # Each passage carries its own cosine similarity: comparable across questions and modes.
        passages = [self.index.passage(n, round(float(similarities[n]), 4)) for n in ranked]
        return Found(passages, relevance, self._answered(question, passages, relevance), mode)

    def _by_document(self, fused: dict[int, float], both: set[int]) -> list[int]:
        """Chunk numbers, best first, each document's leading chunk scored for its whole document.

        A further chunk counts only when both rankings found it (`both`): in a small corpus every
        chunk is among the semantic candidates, and a page's unrelated sections must not add up.
        """
        ranked = sorted(fused, key=lambda n: -fused[n])
        scores = dict(fused)
        leading: dict[str, int] = {}  # each document's best chunk
        seen: dict[str, int] = {}  # chunks of each document counted so far
        for number in ranked:
            path = self.index.chunks[number].path
            if path not in leading:
                leading[path], seen[path] = number, 0
            elif number in both:
                seen[path] += 1
                scores[leading[path]] += fused[number] * FILE_DECAY ** seen[path]
        return sorted(ranked, key=lambda n: -scores[n])

    def _answered(self, question: str, passages: list[Passage], relevance: float) -> bool:
        assert self.embedder is not None
        if relevance >= self.embedder.relevance_threshold:
            return True
        # An embedder without a calibrated lower bound (a provider's) gets no leniency.
        floor = self.embedder.identifier_threshold
        if floor is None or relevance < floor or not passages:
            return False
        best = f"{passages[0].title}\n{passages[0].text}".lower()
        return any(name.lower() in best for name in identifiers(question))

    def _keyword(self, question: str, limit: int) -> Found:
        passages = self.index.search(question, limit)
        asked = set(terms(question))
        if not passages or not asked:
            return Found(passages, 0.0, False, "keyword")
        best = passages[0]
        covered = len(asked & set(terms(f"{best.title}\n{best.text}"))) / len(asked)
        return Found(passages, covered, covered >= KEYWORD_COVERAGE, "keyword")


# Words that name something in code or configuration: camelCase and PascalCase with an inner
# capital, snake_case, dotted.names, --options, words with digits (k8s, v1beta1).
_IDENTIFIER = re.compile(
    r"(?<![\w-])(?:[a-z]+[A-Z]\w*|[A-Z]+[a-z]+[A-Z]\w*|\w*[a-z]_\w+|[A-Za-z_]\w*\.[A-Za-z_]\w+|--?[a-z][\w-]+|[A-Za-z]+\d\w*)\b"
)


def identifiers(question: str) -> list[str]:
    """The identifiers a question names (`maxUnavailable`, `api_keys_dir`, `--depth`)."""
    return _IDENTIFIER.findall(question)


def _fuse(*rankings: list[int]) -> dict[int, float]:
    """Reciprocal rank fusion: each chunk's sum of 1 / (RRF_K + rank) over the rankings."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, number in enumerate(ranking, 1):
            fused[number] = fused.get(number, 0.0) + 1 / (RRF_K + rank)
    return fused


def _top(scores: Vectors, count: int) -> list[int]:
    """Positions of the `count` highest scores, highest first."""
    count = min(count, len(scores))
    if count <= 0:
        return []
    import numpy as np  # loaded with the vectors already (embeddings.py): a lookup, not an import

    part = np.argpartition(-scores, count - 1)[:count]
    return [int(n) for n in part[np.argsort(-scores[part])]]
