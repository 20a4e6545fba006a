"""Smoke runs of the bot and retrieval benchmarks: each command runs and reports every figure.

Timing is not checked (the machine is shared and noisy): only that the benchmarks still run and
their JSON holds the figures docs/benchmarks.md is built from, and that the chart renders.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_benchmark(module: str, *args: str, timeout: float) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


@pytest.fixture(scope="module")
def bot_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench") / "bot-overhead.json"
    printed = run_benchmark("benchmarks.bot_overhead", "--smoke", "--out", str(out), timeout=240)
    assert "Non-streamed completions" in printed
    return json.loads(out.read_text()), out


def test_the_bot_benchmark_measures_every_target_at_every_concurrency_level(
    bot_result: tuple[dict[str, Any], Path],
) -> None:
    result, _ = bot_result
    assert set(result["requests"]) == {"direct", "bot", "bot+retrieval", "floor"}
    for by_level in result["requests"].values():
        assert set(by_level) == {"1", "16", "64", "256"}
        for summary in by_level.values():
            assert summary["rps"] > 0
            assert 0 < summary["p50_ms"] <= summary["p99_ms"]
    assert set(result["added"]["bot"]) == {"1", "16", "64", "256"}
    for by_level in result["ttft"].values():
        assert all(summary["ttft_p50_ms"] > 0 for summary in by_level.values())
    for by_count in result["held_streams"].values():
        assert all(
            figures["held"] + figures["stalled"] == figures["streams"] for figures in by_count.values()
        )
    assert [check["name"] for check in result["targets_check"]][:3] == [
        "added p50 at c=1 (ms)",
        "added p99 at c=1 (ms)",
        "added time to first token at c=1 (ms)",
    ]
    assert result["machine"]["nproc"] >= 1
    assert result["versions"]["openai"] != "not installed"


def test_the_chart_renders_the_bot_benchmark_as_a_png(
    bot_result: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    _, results = bot_result
    chart = tmp_path / "chart.png"
    run_benchmark("benchmarks.chart", "--results", str(results), "--out", str(chart), timeout=60)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.stat().st_size > 10_000


def test_the_retrieval_benchmark_reports_build_rate_latency_and_memory_per_corpus(tmp_path: Path) -> None:
    out = tmp_path / "retrieval.json"
    printed = run_benchmark("benchmarks.retrieval", "--smoke", "--out", str(out), timeout=180)
    assert "top-5 p50 ms" in printed
    result = json.loads(out.read_text())
    assert set(result["corpora"]) == {"docs", "synthetic:200", "synthetic:1000"}
    assert result["corpora"]["synthetic:1000"]["chunks"] == 1000
    for figures in result["corpora"].values():
        assert figures["chunks_per_second"] > 0
        assert 0 < figures["query_p50_ms"] <= figures["query_p99_ms"]
        assert figures["rss_delta_bytes"] > 0
    assert {check["met"] for check in result["targets_check"]} <= {True, False}


def test_the_quality_benchmark_finds_most_docs_passages_by_their_own_words(tmp_path: Path) -> None:
    out = tmp_path / "quality.json"
    printed = run_benchmark("benchmarks.retrieval_quality", "--out", str(out), timeout=120)
    assert "source in top 5" in printed
    result = json.loads(out.read_text())
    assert result["chunks"] == result["title"]["questions"] > 100
    # Found by its own words most of the time: a broken analyzer or query builder would drop this far.
    assert result["words"]["top5"] > 0.8
    assert result["title"]["first"] <= result["title"]["top5"]


def test_the_answer_quality_benchmark_scores_every_mode_against_the_baseline(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "hack" / "fetch-embedding-model.py")], check=True)
    out = tmp_path / "answer-quality.json"
    printed = run_benchmark("benchmarks.answer_quality", "--smoke", "--out", str(out), timeout=600)
    assert "nDCG@10" in printed
    figures = json.loads(out.read_text())["sets"]["repo-docs"]
    assert figures["questions"] >= 20
    systems = figures["systems"]
    assert {"keyword", "semantic", "hybrid"} <= set(systems)
    for scored in systems.values():
        assert 0 <= scored["hit@1"] <= scored["hit@3"] <= 1
        assert 0 < scored["ndcg@10"] <= 1
        assert 0 < scored["query_p50_ms"] <= scored["query_p99_ms"]
    # Today's modes fall back on questions no page answers; the baseline never did.
    assert (
        systems["hybrid"]["unanswerable_fallback"]
        > systems.get("before", {"unanswerable_fallback": 0})["unanswerable_fallback"]
    )
    assert systems["hybrid"]["embedding_seconds"] is None or systems["hybrid"]["embedding_seconds"] > 0


def test_the_semantic_cost_benchmark_reports_memory_throughput_and_latency(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "hack" / "fetch-embedding-model.py")], check=True)
    out = tmp_path / "semantic-cost.json"
    printed = run_benchmark("benchmarks.semantic_cost", "--smoke", "--out", str(out), timeout=300)
    assert "added by semantic search (MiB)" in printed
    result = json.loads(out.read_text())
    memory = result["memory"]
    assert memory["hybrid"]["embedded"] > memory["keyword"]["indexed"] > memory["keyword"]["start"]
    assert memory["before"]["indexed"] > 0
    assert result["throughput"]["chunks_per_second"] > 0
    assert result["throughput"]["chunks_per_second_threaded"] > 0
    assert 1 <= result["throughput"]["threads"] <= 2
    assert "threads (as the golden check)" in printed
    assert result["throughput"]["model_gmacs_per_second"] > 0
    latency = result["latency"]
    assert latency["chunks"] == 1000
    assert 0 < latency["keyword"]["p50_ms"] <= latency["keyword"]["p99_ms"]
    assert 0 < latency["hybrid"]["p50_ms"] <= latency["hybrid"]["p99_ms"]
