"""Corpus search: a Tantivy index in memory, BM25-ranked, built once at start-up.

Tantivy (Rust, via its official Python bindings) answers a top-5 query over 10k chunks in about a
quarter of a millisecond, where SQLite FTS5, used before, took 5 to 7 ms (docs/benchmarks.md,
"Retrieval"); it indexes in one native thread per core. The index lives in RAM: no writable disk
is needed (the root filesystem is read-only). It is built in a worker thread and then only read
from the event loop thread, inline.

Words are folded to ASCII and Snowball-stemmed ("configuring" meets "configuration", "café" meets
"cafe"). Stop words are left out when indexing as they are when asking: no query could use them.
User text is never parsed as query syntax: the query is built from the analyzer's own tokens.
A query also leaves out the words found in more than half of the chunks ("operator" in an
operator's docs): BM25 gives them almost no weight, yet they would let chunks that match nothing
else into the results.
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import tantivy

from chatbot_server.chunking import Chunk, read_chunks
from chatbot_server.text import analyzer, terms


@dataclass(frozen=True, slots=True)
class Passage:
    path: str
    title: str
    text: str
    score: float  # higher is better


_ANALYZER = "folded_english"
# Query words looked up at most: a pasted page must not turn into a thousand-term query.
_MAX_TERMS = 32
# Distinct terms whose document frequency is remembered (the index does not change between adds).
_FREQUENCY_CACHE = 8192
# Split between the writer's threads; big enough that a 50k-chunk corpus flushes only a few
# segments, small enough not to matter next to the index itself (it is freed after the build).
_WRITER_HEAP_BYTES = 64_000_000
# 0: one indexing thread per CPU core (at most 8), Tantivy's own choice. On 2 cores, 10k chunks were
# indexed 2.5 times as fast in wall time as with one thread (at about the same CPU time).
_WRITER_THREADS = 0


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # One BM25 field, the title written twice before the text: a title word counts double within
    # one BM25 score, as FTS5's column weights did. Separate title and text fields would each get
    # their own BM25, and the short titles' own statistics made a title match outweigh the text
    # many times over (a passage's own words found it first 51% of the time, against 77% with FTS5).
    # Term frequencies without positions: BM25 needs the first, nothing here asks for phrases.
    builder.add_text_field("body", tokenizer_name=_ANALYZER, index_option="freq")
    # The chunk's position in CorpusIndex.chunks, where its path, title and text are kept once for
    # keyword and semantic search alike.
    builder.add_unsigned_field("id", stored=True)
    return builder.build()


class CorpusIndex:
    """A BM25 index over corpus chunks."""

    def __init__(self) -> None:
        self._schema = _schema()
        self._analyzer = analyzer()
        self._index = tantivy.Index(self._schema)
        self._index.register_tokenizer(_ANALYZER, self._analyzer)
        self._searcher = self._index.searcher()
        self.size = 0
        self.documents = 0
        self.build_seconds = 0.0
        self._frequency = functools.lru_cache(maxsize=_FREQUENCY_CACHE)(self._count_chunks_with)
        self._paths: set[str] = set()
        self.chunks: list[Chunk] = []

    def add(self, chunks: Iterable[Chunk]) -> None:
        started = time.perf_counter()
        writer = self._index.writer(heap_size=_WRITER_HEAP_BYTES, num_threads=_WRITER_THREADS)
        for chunk in chunks:
            self._paths.add(chunk.path)
            writer.add_document(
                tantivy.Document(body=f"{chunk.title}\n{chunk.title}\n{chunk.text}", id=len(self.chunks))
            )
            self.chunks.append(chunk)
            self.size += 1
        writer.commit()
        writer.wait_merging_threads()
        return_freed_memory()
        self._index.reload()
        self._searcher = self._index.searcher()
        self._frequency.cache_clear()
        self.documents = len(self._paths)
        self.build_seconds += time.perf_counter() - started

    def _count_chunks_with(self, term: str) -> int:
        """How many chunks hold the (analyzed) term."""
        return int(self._searcher.doc_freq("body", term))

    def search(self, query: str, limit: int) -> list[Passage]:
        """The best `limit` passages for a question, best first; empty when nothing relevant matches."""
        return [self.passage(number, score) for number, score in self.search_ids(query, limit)]

    def passage(self, number: int, score: float) -> Passage:
        chunk = self.chunks[number]
        return Passage(chunk.path, chunk.title, chunk.text, score)

    def search_ids(self, query: str, limit: int) -> list[tuple[int, float]]:
        """(chunk number, BM25 score) of the best `limit` chunks, best first."""
        if limit <= 0 or self.size == 0:
            return []
        # The same analyzer as the index: stop words dropped, words folded and stemmed.
        asked = list(dict.fromkeys(terms(query)))[:_MAX_TERMS]
        if not asked:
            return []
        rare = [term for term in asked if self._frequency(term) * 2 <= self.size]
        # Only common words: the rarest of them still finds something.
        chosen = rare or [min(asked, key=self._frequency)]
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "body", t)) for t in chosen]
        hits = self._searcher.search(tantivy.Query.boolean_query(clauses), limit, count=False).hits
        return [
            (cast(int, self._searcher.doc(address).get_first("id")), float(score)) for score, address in hits
        ]


def return_freed_memory() -> None:
    """Give the indexing threads' freed buffers back to the OS.

    glibc keeps what a thread's malloc arena freed: without this, the process's resident memory
    after building 10k chunks was three times what the index holds (benchmarks/retrieval.py).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): nothing of the kind to return
        return
    libc.malloc_trim(0)


def build_index(corpus_dir: Path) -> CorpusIndex:
    """Index every document under corpus_dir (blocking: call it in a worker thread)."""
    index = CorpusIndex()
    index.add(read_chunks(corpus_dir))
    return index
