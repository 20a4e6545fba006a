"""tiktoken works with no network: the shipped vocabularies seed its cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry

from chatbot_server.tokens import load_encoding, seed_cache


def test_encodings_load_offline_from_the_shipped_vocabularies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_network(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken tried to download {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    encoding = load_encoding("gpt-4o-mini")
    assert encoding.name == "o200k_base"
    assert encoding.decode(encoding.encode("Hello, Docsy!")) == "Hello, Docsy!"
    assert load_encoding("gpt-3.5-turbo").name == "cl100k_base"
    assert len(list(tmp_path.iterdir())) == 2


def test_a_seeded_cache_is_left_as_it_is(tmp_path: Path) -> None:
    seed_cache(tmp_path)
    stamps = {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir()}
    tmp_path.chmod(0o555)  # as on a read-only root filesystem
    try:
        seed_cache(tmp_path)
    finally:
        tmp_path.chmod(0o755)
    assert {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir()} == stamps
