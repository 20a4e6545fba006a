"""Corpus search: SQLite FTS5 with BM25 ranking, in memory, built once at start-up.

SQLite ships with Python and FTS5's BM25 is a proven ranking; an in-memory database needs no
writable disk (the root filesystem is read-only). The index is built in a worker thread and then only
read from the event loop thread; queries over a documentation-sized corpus take well under a
millisecond, so they run inline.
"""

from __future__ import annotations

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


class CorpusIndex:
    """A BM25 index over corpus chunks."""

    def __init__(self) -> None:
        # check_same_thread=False: built in a worker thread, then read only from the event loop.
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE chunks USING fts5("
            "path UNINDEXED, title, text, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        self.size = 0
        self.documents = 0
        self.build_seconds = 0.0

    def add(self, chunks: Iterable[Chunk]) -> None:
        started = time.perf_counter()
        paths: set[str] = set()
        with self._db:
            for chunk in chunks:
                self._db.execute(
                    "INSERT INTO chunks (path, title, text) VALUES (?, ?, ?)",
                    (chunk.path, chunk.title, chunk.text),
                )
                paths.add(chunk.path)
                self.size += 1
        self.documents += len(paths)
        self.build_seconds += time.perf_counter() - started

    def search(self, query: str, limit: int) -> list[Passage]:
        """The best `limit` passages for a question, best first; empty when nothing relevant matches."""
        if limit <= 0 or self.size == 0:
            return []
        terms = list(dict.fromkeys(content_words(query)))[:32]
        if not terms:
            return []
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
