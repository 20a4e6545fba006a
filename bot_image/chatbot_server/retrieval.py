"""Corpus search: SQLite FTS5 with BM25 ranking, in memory, built once at start-up.

SQLite ships with Python and FTS5's BM25 is a proven ranking; an in-memory database needs no
writable disk (the root filesystem is read-only). The index is built in a worker thread and then only
read from the event loop thread; queries over a documentation-sized corpus take well under a
millisecond, so they run inline.

A query leaves out the words found in more than half of the chunks ("operator" in an operator's
docs): FTS5's BM25 floors their weight at 1e-6, so they barely change the ranking, but scoring them
means visiting most rows, which made a query over 10k chunks tens of times slower.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chatbot_server.chunking import Chunk, read_chunks
from chatbot_server.text import content_words


@dataclass(frozen=True, slots=True)
class Passage:
    path: str
    title: str
    text: str
    score: float  # higher is better


_TOKENIZER = "tokenize = 'porter unicode61 remove_diacritics 2'"
# Distinct query words whose document frequency is remembered (the index does not change once built).
_FREQUENCY_CACHE = 8192


class CorpusIndex:
    """A BM25 index over corpus chunks."""

    def __init__(self) -> None:
        # check_same_thread=False: built in a worker thread, then read only from the event loop.
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.executescript(
            f"CREATE VIRTUAL TABLE chunks USING fts5(path UNINDEXED, title, text, {_TOKENIZER});"
            "CREATE VIRTUAL TABLE terms USING fts5vocab(chunks, 'row');"
            # A scratch table with the same tokenizer turns a query word into the indexed term
            # (FTS5's Porter stem), whose document frequency `terms` then gives.
            f"CREATE VIRTUAL TABLE probe USING fts5(word, {_TOKENIZER});"
            "CREATE VIRTUAL TABLE probe_terms USING fts5vocab(probe, 'row');"
        )
        self.size = 0
        self.documents = 0
        self.build_seconds = 0.0
        self._frequency = functools.lru_cache(maxsize=_FREQUENCY_CACHE)(self._count_chunks_with)

    def add(self, chunks: Iterable[Chunk]) -> None:
        started = time.perf_counter()
        paths: set[str] = set()

        def rows() -> Iterable[tuple[str, str, str]]:
            for chunk in chunks:
                paths.add(chunk.path)
                self.size += 1
                yield chunk.path, chunk.title, chunk.text

        with self._db:
            self._db.executemany("INSERT INTO chunks (path, title, text) VALUES (?, ?, ?)", rows())
        self._frequency.cache_clear()
        self.documents += len(paths)
        self.build_seconds += time.perf_counter() - started

    def _count_chunks_with(self, word: str) -> int:
        """How many chunks hold the word (as FTS5 indexes it: stemmed, folded)."""
        with self._db:
            self._db.execute("INSERT INTO probe (word) VALUES (?)", (word,))
            stems = [term for (term,) in self._db.execute("SELECT term FROM probe_terms")]
            self._db.execute("DELETE FROM probe")
        counts = [
            row[0] if row else 0
            for row in (
                self._db.execute("SELECT doc FROM terms WHERE term = ?", (t,)).fetchone() for t in stems
            )
        ]
        return min(counts, default=0)

    def search(self, query: str, limit: int) -> list[Passage]:
        """The best `limit` passages for a question, best first; empty when nothing relevant matches."""
        if limit <= 0 or self.size == 0:
            return []
        words = list(dict.fromkeys(content_words(query)))[:32]
        if not words:
            return []
        terms = [word for word in words if self._frequency(word) * 2 <= self.size]
        if not terms:  # only common words: the rarest of them still finds something
            terms = [min(words, key=self._frequency)]
        # Each term quoted, so user text can never be FTS5 syntax; OR so any relevant word counts.
        # The title column weighs double: a heading that names the subject is a strong signal.
        match = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        rows = self._db.execute(
            "SELECT path, title, text, bm25(chunks, 0.0, 2.0, 1.0) AS rank FROM chunks "
            "WHERE chunks MATCH ? ORDER BY rank LIMIT ?",
            (match, limit),
        ).fetchall()
        return [Passage(path, title, text, -rank) for path, title, text, rank in rows]

    def close(self) -> None:
        self._db.close()


def build_index(corpus_dir: Path) -> CorpusIndex:
    """Index every document under corpus_dir (blocking: call it in a worker thread)."""
    index = CorpusIndex()
    index.add(read_chunks(corpus_dir))
    return index
