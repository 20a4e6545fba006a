"""How many threads the bundled model embeds the corpus on: the container's CPU limit, capped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatbot_server.embeddings import MAX_THREADS, embedding_threads
from chatbot_server.settings import Settings


@pytest.mark.parametrize(("limit", "threads"), [(1, 1), (2, 2), (64, MAX_THREADS)])
def test_the_cpu_limit_sets_the_threads_up_to_the_cap(limit: int, threads: int) -> None:
    # 64: a pod without a CPU limit on a big node gets the node's CPUs from the downward API, but each
    # concurrent call holds its own activations, so the memory limit is kept in sight.
    assert embedding_threads(limit) == threads


def test_without_a_limit_the_cpus_this_process_may_use() -> None:
    assert embedding_threads(None) == min(len(os.sched_getaffinity(0)), MAX_THREADS)


def test_a_zero_or_negative_thread_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="embedding_threads"):
        Settings(name="docs-assistant", corpus_dir=tmp_path, embedding_threads=0)
