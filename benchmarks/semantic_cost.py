"""What semantic search costs the bot: memory, embedding throughput, time until hybrid, query latency.

Each part runs in a fresh process (memory is the process's RSS growth):
- memory: the bot's process after its imports and the keyword index of docs/, before (the package
  of answer_quality.BASELINE, from git history) and today, then today with the embedding model
  loaded and every chunk's vector: the difference is what semantic search adds;
- throughput: chunks of docs/ embedded per second on this machine's cores, against the model's
  arithmetic (multiply-adds per token, embeddings.py) and this machine's float32 matrix rate (a
  384-wide NumPy product, the same shape as the model's layers);
- time until hybrid answers: docs/ indexed, then embedded (measured); for a 10k-chunk corpus, the
  10k chunks at the measured rate;
- query latency at 10k chunks: synthetic chunks (benchmarks/retrieval.py) in the keyword index, one
  unit vector each (the product's cost does not depend on the values), real question embeddings:
  keyword and hybrid search p50/p99, the question's embedding included.

    python -m benchmarks.semantic_cost [--queries 300] [--out benchmarks/results/semantic-cost.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.answer_quality import baseline_tree
from benchmarks.loadgen import DOCS_DIR, percentiles_ms
from benchmarks.processes import ROOT
from benchmarks.retrieval import queries, synthetic_chunks
from chatbot_server.chunking import chunk_text, read_chunks
from chatbot_server.embeddings import (
    DEFAULT_MODEL,
    MODELS,
    Embedder,
    EmbeddingModel,
    default_model_dir,
    embedding_threads,
)
from chatbot_server.retrieval import CorpusIndex
from chatbot_server.search import Searcher

# Multiply-adds per token of a layer of the models (all-MiniLM-L6-v2 has six, bge-small and e5-small
# twelve): attention projections 4·384², the feed-forward 2·384·1536, plus attention scores and
# mixing (2·n·384 per token for n tokens).
WIDTH, FEED_FORWARD = 384, 1536
SAMPLE = 128  # chunks embedded for the throughput figure


def macs_per_token(tokens: int, layers: int) -> float:
    return layers * (4 * WIDTH * WIDTH + 2 * WIDTH * FEED_FORWARD + 2 * tokens * WIDTH)


def load(model: EmbeddingModel) -> Embedder:
    return Embedder(default_model_dir(model), model)


def bot_memory(mode: str, python_path: Path, model: EmbeddingModel = DEFAULT_MODEL) -> dict[str, float]:
    """RSS figures of a fresh process running the bot's start-up (benchmarks/bot_memory_worker.py)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(python_path), str(ROOT / "contract")])}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    command = [sys.executable, str(ROOT / "benchmarks" / "bot_memory_worker.py"), mode]
    if mode == "hybrid":
        command.append(model.name)
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if completed.returncode != 0:
        sys.exit(completed.stderr[-3000:])
    figures: dict[str, float] = json.loads(completed.stdout)
    return figures


def worker_throughput(whole_corpus: bool, model: EmbeddingModel) -> dict[str, Any]:
    chunks = list(read_chunks(DOCS_DIR))
    embedder = load(model)
    texts = [model.passage_prefix + chunk_text(chunk) for chunk in chunks]
    tokens = [sum(e.attention_mask) for e in embedder.tokenizer.encode_batch(texts)]
    sample = chunks[: SAMPLE if whole_corpus else 16]
    embedder.embed_chunks(sample[:8])  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    embedder.embed_chunks(sample)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    sample_tokens = tokens[:SAMPLE]
    macs = sum(t * macs_per_token(t, model.layers) for t in sample_tokens)
    # The machine's float32 rate on the model's shape: (tokens x 384) by (384 x 1536).
    left = np.random.default_rng(1).random((4096, WIDTH), dtype=np.float32)
    right = np.random.default_rng(2).random((WIDTH, FEED_FORWARD), dtype=np.float32)
    left @ right
    started_gemm = time.perf_counter()
    for _ in range(10):
        left @ right
    gemm_macs_per_second = 10 * 4096 * WIDTH * FEED_FORWARD / (time.perf_counter() - started_gemm)
    # As the golden check embeds in a container without a CPU limit (one thread per core, at most
    # embeddings.MAX_THREADS): the same sample, the same vectors.
    threads = embedding_threads(len(os.sched_getaffinity(0)))
    started = time.perf_counter()
    embedder.embed_chunks(sample, threads=threads)
    threaded_seconds = time.perf_counter() - started
    figures = {
        "chunks": len(chunks),
        "mean_tokens": float(np.mean(tokens)),
        "sample": len(sample),
        "chunks_per_second": len(sample) / seconds,
        "threads": threads,
        "chunks_per_second_threaded": len(sample) / threaded_seconds,
        "chunks_per_cpu_second": len(sample) / cpu_seconds,
        "model_gmacs_per_second": macs / seconds / 1e9,
        "gemm_float32_gmacs_per_second": gemm_macs_per_second / 1e9,
        "gmacs_per_chunk": macs / len(sample) / 1e9,
    }
    if not whole_corpus:
        return figures
    # The whole corpus, timed: what a pod of this repository's docs waits before hybrid answers.
    index = CorpusIndex()
    started_all = time.perf_counter()
    index.add(chunks)
    indexed = time.perf_counter() - started_all
    embedder.embed_chunks(index.chunks)  # as the bot server does: one thread
    return {
        **figures,
        "docs_keyword_ready_seconds": indexed,
        "docs_hybrid_ready_seconds": time.perf_counter() - started_all,
    }


def worker_latency(count: int, query_count: int, model: EmbeddingModel) -> dict[str, Any]:
    chunks = synthetic_chunks(count)
    index = CorpusIndex()
    index.add(chunks)
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((count, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    searchers = {"keyword": Searcher(index, "keyword"), "hybrid": Searcher(index, "hybrid")}
    searchers["hybrid"].attach_vectors(load(model), vectors)
    asked = queries(query_count, count)
    figures: dict[str, Any] = {"chunks": count, "queries": query_count}
    for name, searcher in searchers.items():
        for question in asked[:10]:
            searcher.search(question, 4)
        latencies, cpu = [], []
        for question in asked:
            started, started_cpu = time.perf_counter(), time.process_time()
            searcher.search(question, 4)
            latencies.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        # CPU time: what a query costs with the machine's other load taken out.
        figures[name] = {**percentiles_ms(latencies), "cpu_p50_ms": percentiles_ms(cpu)["p50_ms"]}
    return figures


def memory_figures(candidates: list[EmbeddingModel]) -> dict[str, dict[str, float]]:
    """The bot's RSS before (the baseline's package), today in keyword mode, and today in hybrid
    (`hybrid@NAME` with a candidate model)."""
    with tempfile.TemporaryDirectory() as workdir:
        baseline = baseline_tree(Path(workdir))
        figures = {
            "before": bot_memory("keyword", baseline),
            "keyword": bot_memory("keyword", ROOT / "bot_image"),
            "hybrid": bot_memory("hybrid", ROOT / "bot_image"),
        }
        for model in candidates:
            figures[f"hybrid@{model.name}"] = bot_memory("hybrid", ROOT / "bot_image", model)
        return figures


def in_subprocess(*args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.semantic_cost", "--worker", *args]
    # As the bot sets it (chatbot_server/__init__.py), before the worker's own imports load NumPy.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if completed.returncode != 0:
        sys.exit(completed.stderr[-3000:])
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def model_figures(model: EmbeddingModel, smoke: bool, chunks: int, query_count: int) -> dict[str, Any]:
    throughput = in_subprocess("throughput", "sample" if smoke else "whole", model.name)
    return {
        "throughput": throughput,
        "latency": in_subprocess(
            "latency", model.name, "--chunks", str(chunks), "--queries", str(query_count)
        ),
        "hybrid_ready_seconds_estimated": chunks / throughput["chunks_per_second"],
        "golden_vectors_seconds_estimated": chunks / throughput["chunks_per_second_threaded"],
    }


def rows(figures: dict[str, Any], memory: dict[str, dict[str, float]], hybrid: str, chunks: int) -> list[Any]:
    throughput, latency = figures["throughput"], figures["latency"]
    return [
        ("bot RSS, today, hybrid: model and vectors (MiB)", memory[hybrid]["embedded"]),
        ("added by semantic search (MiB)", memory[hybrid]["embedded"] - memory["before"]["indexed"]),
        ("chunks embedded per second, one thread", throughput["chunks_per_second"]),
        (
            f"chunks embedded per second, {throughput['threads']} threads (as the golden check)",
            throughput["chunks_per_second_threaded"],
        ),
        ("mean tokens per chunk", throughput["mean_tokens"]),
        ("model GMAC/s", throughput["model_gmacs_per_second"]),
        ("float32 GEMM GMAC/s (same shape)", throughput["gemm_float32_gmacs_per_second"]),
        ("docs/: keyword ready (s)", throughput.get("docs_keyword_ready_seconds", "-")),
        ("docs/: hybrid ready (s)", throughput.get("docs_hybrid_ready_seconds", "-")),
        (f"{chunks} chunks: bot's hybrid ready (s, one thread)", figures["hybrid_ready_seconds_estimated"]),
        (
            f"{chunks} chunks: golden check's vectors ready (s, {throughput['threads']} threads)",
            figures["golden_vectors_seconds_estimated"],
        ),
        (
            f"{chunks} chunks: keyword p50 / p99 (ms)",
            f"{latency['keyword']['p50_ms']:.2f} / {latency['keyword']['p99_ms']:.2f}",
        ),
        (
            f"{chunks} chunks: hybrid p50 / p99 (ms)",
            f"{latency['hybrid']['p50_ms']:.2f} / {latency['hybrid']['p99_ms']:.2f}",
        ),
        (f"{chunks} chunks: hybrid CPU time p50 (ms)", latency["hybrid"]["cpu_p50_ms"]),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.semantic_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--models", default="", help="other embedding models measured beside the bot's")
    parser.add_argument("--smoke", action="store_true", help="1,000 chunks, 30 queries, a 16-chunk sample")
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR / "semantic-cost.json")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.chunks, args.queries = 1000, 30
    if args.worker:
        kind, *rest = args.worker
        if kind == "throughput":
            figures = worker_throughput(rest[0] == "whole", MODELS[rest[1]])
        else:
            figures = worker_latency(args.chunks, args.queries, MODELS[rest[0]])
        json.dump(figures, sys.stdout)
        return
    unknown = [name for name in filter(None, args.models.split(",")) if name not in MODELS]
    if unknown:
        sys.exit(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    candidates = [MODELS[name] for name in filter(None, args.models.split(",")) if name != DEFAULT_MODEL.name]
    bundled = model_figures(DEFAULT_MODEL, args.smoke, args.chunks, args.queries)
    result: dict[str, Any] = {
        "benchmark": "semantic-cost",
        "machine": report.machine(),
        "versions": report.versions(["chatbot-operator", "onnxruntime", "tokenizers", "numpy", "tantivy"]),
        "model": DEFAULT_MODEL.name,
        "memory": memory_figures(candidates),
        **bundled,
        "candidates": {
            model.name: model_figures(model, args.smoke, args.chunks, args.queries) for model in candidates
        },
    }
    report.write(result, args.out)
    memory = result["memory"]
    print(
        report.table(
            ("figure", "value"),
            [
                ("bot RSS with docs/ indexed, before (MiB)", memory["before"]["indexed"]),
                ("bot RSS with docs/ indexed, today, keyword (MiB)", memory["keyword"]["indexed"]),
            ],
        )
    )
    named = [(DEFAULT_MODEL.name, "hybrid", bundled)]
    named += [(name, f"hybrid@{name}", figures) for name, figures in result["candidates"].items()]
    for name, hybrid, figures in named:
        print(f"\n{name}\n" + report.table(("figure", "value"), rows(figures, memory, hybrid, args.chunks)))
    print(f"\nresults written to {args.out}")


if __name__ == "__main__":
    main()
