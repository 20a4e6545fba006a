"""A short soak of the bot process under concurrent streaming clients (`make soak` runs the long one)."""

from __future__ import annotations

from tests.support.soak import SoakConfig, problems, run_soak


def test_the_bot_serves_150_concurrent_streams_without_errors_stalls_or_memory_growth() -> None:
    report = run_soak(SoakConfig(clients=150, seconds=15, ramp_seconds=3, warmup_seconds=5))
    print(report.summary())
    assert problems(report) == []
    assert report.completed >= 150  # every client finished at least one whole answer
