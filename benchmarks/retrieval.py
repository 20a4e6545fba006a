"""Retrieval speed: index build rate, top-5 query latency and memory of the bot's corpus index.

Corpora: this repository's docs/ (chunked as the bot chunks them) and synthetic corpora of 1k, 10k
and 50k chunks. Synthetic chunks are 700-1,200 characters (the chunker's limit is 1,200) of words
drawn with Zipf's law from the docs' vocabulary, extended to a realistic size (Heaps' law), so
term statistics look like real text. Queries are 3-8 words drawn the same way (common words
included, as users type them).

Each corpus is measured in a fresh process (memory: the process's RSS growth across the index
build; the index, Tantivy in Rust, allocates outside Python, so tracemalloc would not see it),
several runs each: build rate in chunks per second, query p50 and p99 over --queries top-5 searches.

    python -m benchmarks.retrieval                      # docs, 1k, 10k, 50k; 3 runs
    python -m benchmarks.retrieval --smoke --out /tmp/retrieval.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.loadgen import DOCS_DIR, percentiles_ms
from chatbot_server.chunking import Chunk, read_chunks
from chatbot_server.retrieval import CorpusIndex

TOP_K = 5
_WORD = re.compile(r"[A-Za-z][a-z]{2,}")


def vocabulary(tokens: int) -> tuple[list[str], list[float]]:
    """A vocabulary for a corpus of `tokens` words, most frequent first, with Zipf weights (1/rank).

    The docs' own words come first, in their order of frequency; made-up words extend the list to
    the size Heaps' law gives real English text of that length (44 * tokens ** 0.49). Without
    them a 50k-chunk corpus drawn from the docs' ~1,200 words would have every word in nearly
    every chunk, which no real documentation has.
    """
    counts: Counter[str] = Counter()
    for path in sorted(DOCS_DIR.rglob("*.md")):
        counts.update(word.lower() for word in _WORD.findall(path.read_text(errors="replace")))
    words = [word for word, _ in counts.most_common()]
    size = max(len(words), int(44 * tokens**0.49))
    rng = random.Random(3)
    known = set(words)
    while len(words) < size:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in known:
            known.add(word)
            words.append(word)
    return words, [1 / rank for rank in range(1, len(words) + 1)]


_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ar", "en", "ol")]
WORDS_PER_CHUNK = 150  # 110 to 190: about 700 to 1,200 characters


def synthetic_chunks(count: int, seed: int = 7) -> list[Chunk]:
    rng = random.Random(seed)
    words, weights = vocabulary(count * WORDS_PER_CHUNK)
    # Summed once: given bare weights, every choices() call sums the whole vocabulary again, which
    # made drawing 50k chunks take minutes. The words drawn are the same.
    cumulative = list(itertools.accumulate(weights))
    chunks = []
    for number in range(count):
        text = " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(110, 190)))
        title = " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(2, 6))).capitalize()
        chunks.append(Chunk(f"synthetic/doc-{number // 8}.md", title, text))
    return chunks


def queries(count: int, chunks: int, seed: int = 11) -> list[str]:
    """Questions of 3 to 8 words drawn like the corpus's text (stop words included)."""
    rng = random.Random(seed)
    words, weights = vocabulary(chunks * WORDS_PER_CHUNK)
    cumulative = list(itertools.accumulate(weights))
    return [
        " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(3, 8))) + "?" for _ in range(count)
    ]


def rss_bytes() -> int:
    """The process's resident set size (Linux), in bytes."""
    import os

    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_corpus(corpus: str, query_count: int) -> dict[str, Any]:
    """One run on one corpus, in this process: `docs` or `synthetic:<chunks>`."""
    started = time.perf_counter()
    chunks = list(read_chunks(DOCS_DIR)) if corpus == "docs" else synthetic_chunks(int(corpus.split(":")[1]))
    prepare_seconds = time.perf_counter() - started
    searches = queries(query_count, len(chunks))
    before = rss_bytes()
    index = CorpusIndex()
    started, started_cpu = time.perf_counter(), time.process_time()
    index.add(chunks)
    build_seconds = time.perf_counter() - started
    build_cpu_seconds = time.process_time() - started_cpu
    memory = rss_bytes() - before
    for question in searches[:20]:  # warm-up: the index's caches (term dictionary, stored passages)
        index.search(question, TOP_K)
    latencies, cpu_times = [], []
    hits = 0
    for question in searches:
        started, started_cpu = time.perf_counter(), time.process_time()
        found = index.search(question, TOP_K)
        latencies.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - started_cpu)
        hits += bool(found)
    figures = percentiles_ms(latencies)
    cpu = percentiles_ms(cpu_times)
    return {
        "chunks": len(chunks),
        "characters": sum(len(chunk.text) for chunk in chunks),
        "build_seconds": build_seconds,
        "chunks_per_second": len(chunks) / build_seconds,
        "chunks_per_cpu_second": len(chunks) / build_cpu_seconds if build_cpu_seconds else 0.0,
        "chunking_seconds": prepare_seconds if corpus == "docs" else None,
        "rss_delta_bytes": memory,
        "queries": len(latencies),
        "queries_with_results": hits,
        "query_p50_ms": figures["p50_ms"],
        "query_p99_ms": figures["p99_ms"],
        "query_max_ms": figures["max_ms"],
        # CPU time (this process's): what the query costs with the machine's other load taken out.
        "query_cpu_p50_ms": cpu["p50_ms"],
        "query_cpu_p99_ms": cpu["p99_ms"],
    }


def run_in_subprocess(corpus: str, query_count: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.retrieval",
        "--worker",
        corpus,
        "--queries",
        str(query_count),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=900).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.retrieval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default="1000,10000,50000", help="synthetic corpus sizes (chunks)")
    parser.add_argument("--queries", type=int, default=1000, help="top-5 searches per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it runs, not timing")
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR / "retrieval.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure_corpus(args.worker, args.queries)))
        return
    if args.smoke:
        args.sizes, args.queries, args.runs = "200,1000", 50, 1
    corpora = ["docs", *(f"synthetic:{size}" for size in args.sizes.split(",") if size.strip())]
    raw: dict[str, list[dict[str, Any]]] = {corpus: [] for corpus in corpora}
    for run in range(args.runs):
        for corpus in corpora:
            figures = run_in_subprocess(corpus, args.queries)
            raw[corpus].append(figures)
            print(
                f"run {run + 1}/{args.runs} {corpus:<16} {figures['chunks_per_second']:.0f} chunks/s, "
                f"p50 {figures['query_p50_ms']:.3f} ms, p99 {figures['query_p99_ms']:.3f} ms",
                file=sys.stderr,
                flush=True,
            )
    keys = (
        "chunks_per_second",
        "chunks_per_cpu_second",
        "query_p50_ms",
        "query_p99_ms",
        "query_cpu_p50_ms",
        "query_cpu_p99_ms",
        "rss_delta_bytes",
        "build_seconds",
    )
    corpora_summary = {
        corpus: {
            "chunks": runs[0]["chunks"],
            **{key: report.median([run[key] for run in runs]) for key in keys},
            "runs": runs,
        }
        for corpus, runs in raw.items()
    }
    result: dict[str, Any] = {
        "benchmark": "retrieval",
        "smoke": args.smoke,
        "machine": report.machine(),
        "versions": report.versions(["chatbot-operator", "tantivy"]),
        "settings": {"queries": args.queries, "runs": args.runs, "top_k": TOP_K},
        "memory": "RSS growth of a fresh process across the index build (the index allocates outside Python)",
        "corpora": corpora_summary,
    }
    result["targets_check"] = check_targets(corpora_summary)
    report.write(result, args.out)
    print(render(result))
    print(f"\nresults written to {args.out}")


def check_targets(corpora: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """At most 1 ms p50 at 10k chunks (or the largest corpus below it); at least 20k chunks/s indexed."""
    synthetic = {int(name.split(":")[1]): figures for name, figures in corpora.items() if ":" in name}
    size = 10000 if 10000 in synthetic else max(synthetic)
    slowest_build = min(figures["chunks_per_second"] for figures in synthetic.values())
    return [
        {
            "name": f"query p50 at {size} chunks (ms)",
            "value": synthetic[size]["query_p50_ms"],
            "limit": 1.0,
            "kind": "max",
            "met": synthetic[size]["query_p50_ms"] <= 1.0,
        },
        {
            "name": "index build rate, slowest synthetic corpus (chunks/s)",
            "value": slowest_build,
            "limit": 20000.0,
            "kind": "min",
            "met": slowest_build >= 20000,
        },
    ]


def render(result: dict[str, Any]) -> str:
    rows = [
        (
            name,
            figures["chunks"],
            figures["chunks_per_second"],
            figures["chunks_per_cpu_second"],
            figures["query_p50_ms"],
            figures["query_p99_ms"],
            figures["query_cpu_p50_ms"],
            figures["rss_delta_bytes"] / 2**20,
        )
        for name, figures in result["corpora"].items()
    ]
    targets = [
        (
            check["name"],
            check["value"],
            f"{'<=' if check['kind'] == 'max' else '>='} {check['limit']}",
            check["met"],
        )
        for check in result["targets_check"]
    ]
    return "\n".join(
        [
            "Retrieval (medians over runs)",
            report.table(
                (
                    "corpus",
                    "chunks",
                    "chunks/s",
                    "chunks/CPU-s",
                    "top-5 p50 ms",
                    "top-5 p99 ms",
                    "top-5 CPU p50 ms",
                    "RSS growth MiB",
                ),
                rows,
            ),
            "\nTargets",
            report.table(("target", "measured", "limit", "met"), targets),
        ]
    )


if __name__ == "__main__":
    main()
