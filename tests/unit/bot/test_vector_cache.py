"""The chunk vectors the golden check hands to the bot container: found only for the same model and
corpus, never a partial or foreign file."""

from pathlib import Path

import numpy as np
import pytest

from chatbot_server import vector_cache
from chatbot_server.chunking import Chunk

CHUNKS = [
    Chunk("guides/install.md", "Install", "Run pip install."),
    Chunk("limits.rst", "Limits", "100 a minute."),
]
MODEL = "onnx:/opt/chatbot/embedding-model:model.onnx:1"


def vectors(count: int = len(CHUNKS), dimensions: int = 384) -> np.ndarray:
    found = np.random.default_rng(7).random((count, dimensions), dtype=np.float32)
    return found / np.linalg.norm(found, axis=1, keepdims=True)


def test_saved_vectors_come_back_as_they_were(tmp_path: Path) -> None:
    key = vector_cache.cache_key(MODEL, CHUNKS)
    saved = vectors()
    assert vector_cache.save(tmp_path / "vectors", key, saved)
    loaded = vector_cache.load(tmp_path / "vectors", key, len(CHUNKS))
    assert loaded is not None
    np.testing.assert_array_equal(loaded, saved)
    assert [p.name for p in (tmp_path / "vectors").iterdir()] == [f"{key}.npy"]  # no partial left


@pytest.mark.parametrize(
    ("model", "chunks"),
    [
        ("onnx:/opt/another-model:model.onnx:2", CHUNKS),
        (MODEL, [CHUNKS[0], Chunk("limits.rst", "Limits", "200 a minute.")]),  # an edited text
        (MODEL, [CHUNKS[0], Chunk("limits.md", "Limits", "100 a minute.")]),  # a renamed file
        (MODEL, [CHUNKS[0], Chunk("limits.rst", "Limits 100", " a minute.")]),  # same bytes, cut elsewhere
        (MODEL, CHUNKS[:1]),
    ],
)
def test_another_model_or_corpus_finds_nothing(tmp_path: Path, model: str, chunks: list[Chunk]) -> None:
    assert vector_cache.save(tmp_path, vector_cache.cache_key(MODEL, CHUNKS), vectors())
    assert vector_cache.load(tmp_path, vector_cache.cache_key(model, chunks), len(chunks)) is None


def test_vectors_too_large_for_the_pods_tmp_volume_are_not_written(tmp_path: Path) -> None:
    rows = vector_cache.MAX_BYTES // (384 * 4) + 1
    assert not vector_cache.save(tmp_path, "key", np.zeros((rows, 384), dtype=np.float32))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [b"not a numpy file", None],  # garbage; a pickled object array (never unpickled)
)
def test_an_unreadable_or_foreign_file_is_ignored(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "key.npy"
    if content is None:
        np.save(path, np.array([{"a": 1}, {"b": 2}], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(content)
    assert vector_cache.load(tmp_path, "key", 2) is None


def test_vectors_of_another_shape_or_type_are_ignored(tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", vectors(3))
    np.save(tmp_path / "doubles.npy", vectors().astype(np.float64))
    assert vector_cache.load(tmp_path, "rows", 2) is None
    assert vector_cache.load(tmp_path, "doubles", 2) is None


def test_an_unwritable_directory_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert not vector_cache.save(tmp_path / "file" / "vectors", "key", vectors())
