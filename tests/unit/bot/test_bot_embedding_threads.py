"""How many threads the bundled model embeds the corpus on: the golden check's CPU limit, capped;
one in the bot server."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot_server.embeddings import MAX_THREADS, embedding_threads
from chatbot_server.settings import Settings


@pytest.mark.parametrize(("limit", "threads"), [(1, 1), (2, 2), (64, MAX_THREADS)])
def test_the_cpu_limit_sets_the_threads_up_to_the_cap(limit: int, threads: int) -> None:
    # 64: a pod without a CPU limit on a big node gets the node's CPUs from the downward API, but each
    # concurrent call raises the peak memory.
    assert embedding_threads(limit) == threads


def test_without_the_setting_one_thread_whatever_the_cpus() -> None:
    # The bot server: threads keep memory after the corpus is embedded (glibc's per-thread arenas).
    assert embedding_threads(None) == 1


def test_a_zero_or_negative_thread_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="embedding_threads"):
        Settings(name="docs-assistant", corpus_dir=tmp_path, embedding_threads=0)
