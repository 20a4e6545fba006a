"""Search quality of the bot's corpus index on this repository's docs: is a passage found by its own words?

Two kinds of question per chunk of docs/ (chunked as the bot chunks them): the chunk's title, and 3
to 5 consecutive words taken from its text (stop words skipped when choosing where to start, as a
user would not start a question with "the"). For each question: is the source chunk the first
answer, and is it among the top 5? Many chunks share a title with another chunk ("Targets"), so
"title: first" is low by construction; the words questions are the sharper measure.

    python -m benchmarks.retrieval_quality                # prints the table, writes results JSON
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.loadgen import DOCS_DIR
from chatbot_server.chunking import Chunk, read_chunks
from chatbot_server.retrieval import CorpusIndex
from chatbot_server.text import STOP_WORDS

TOP_K = 5
_WORD = re.compile(r"\w+")


def words_question(chunk: Chunk, rng: random.Random) -> str | None:
    """3 to 5 consecutive words of the chunk's text, starting at a word that is not a stop word."""
    words = _WORD.findall(chunk.text)
    starts = [i for i, word in enumerate(words[:-3]) if word.lower() not in STOP_WORDS]
    if not starts:
        return None
    start = rng.choice(starts)
    return " ".join(words[start : start + rng.randint(3, 5)])


def measure(chunks: list[Chunk], seed: int = 5) -> dict[str, Any]:
    index = CorpusIndex()
    index.add(chunks)
    rng = random.Random(seed)
    kinds: dict[str, list[tuple[str, int]]] = {"title": [], "words": []}
    for number, chunk in enumerate(chunks):
        kinds["title"].append((chunk.title, number))
        question = words_question(chunk, rng)
        if question:
            kinds["words"].append((question, number))
    # A chunk is identified by its position: several chunks may share a path and a title.
    position = {(chunk.path, chunk.title, chunk.text): number for number, chunk in enumerate(chunks)}
    figures: dict[str, Any] = {"chunks": len(chunks)}
    for kind, questions in kinds.items():
        first = top = 0
        for question, number in questions:
            found = [position[(p.path, p.title, p.text)] for p in index.search(question, TOP_K)]
            first += bool(found) and found[0] == number
            top += number in found
        figures[kind] = {
            "questions": len(questions),
            "first": first / len(questions),
            "top5": top / len(questions),
        }
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.retrieval_quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpus", type=Path, default=DOCS_DIR, help="documents to index (default: docs/)")
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR / "retrieval-quality.json")
    args = parser.parse_args(argv)
    chunks = list(read_chunks(args.corpus))
    if not chunks:
        sys.exit(f"no documents under {args.corpus}")
    figures = measure(chunks)
    result = {
        "benchmark": "retrieval-quality",
        "versions": report.versions(["chatbot-operator", "tantivy"]),
        "corpus": str(args.corpus),
        **figures,
    }
    report.write(result, args.out)
    rows = [
        (kind, figures[kind]["questions"], f"{figures[kind]['first']:.1%}", f"{figures[kind]['top5']:.1%}")
        for kind in ("title", "words")
    ]
    print(f"Search quality over {figures['chunks']} chunks of {args.corpus}")
    print(report.table(("question", "questions", "source first", "source in top 5"), rows))
    print(f"\nresults written to {args.out}")


if __name__ == "__main__":
    main()
