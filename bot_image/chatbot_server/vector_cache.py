"""The corpus's chunk vectors, handed from the golden-questions init container to the bot container.

In a pod with golden questions, the init container builds the same bot the server will and must
ask its questions with the search the server will answer with, hybrid included: it waits for the
chunk vectors. Rather than the bot container computing them a second time (a quarter of a minute
for this repository's docs, minutes for 10k chunks), the check leaves them in the pod's /tmp
volume and the bot starts hybrid at once.

A cache entry is one `.npy` file (NumPy's own format: no pickle, memory-mapped on load) named by a
key over what decides the vectors: the embedding model's identity and every chunk's path, heading
path and text. A corpus or model that differs in anything finds no entry; the bot then computes
its own, as without golden questions. Entries larger than MAX_BYTES are not written: /tmp is an
emptyDir with a 64 MiB limit, and the kubelet evicts a pod that exceeds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chatbot_server.chunking import Chunk

if TYPE_CHECKING:  # a bot on its provider's embeddings never loads ONNX Runtime (embeddings.py)
    from chatbot_server.embeddings import Vectors

log = logging.getLogger(__name__)

# Half of the /tmp volume: 21k chunks of 384 float32 dimensions.
MAX_BYTES = 32 * 1024 * 1024


def cache_key(model_identity: str, chunks: Sequence[Chunk]) -> str:
    digest = hashlib.sha256(model_identity.encode())
    for chunk in chunks:
        for part in (chunk.path, chunk.title, chunk.text):
            encoded = part.encode("utf-8", "surrogatepass")
            # Length-prefixed: ("ab", "c") and ("a", "bc") must not hash alike.
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)
    return digest.hexdigest()


def save(directory: Path, key: str, vectors: Vectors) -> bool:
    """Write the vectors under `key`; False (logged) when they are too large or cannot be written."""
    if vectors.nbytes > MAX_BYTES:
        log.info("not handing over %d vectors (%d bytes, over %d)", len(vectors), vectors.nbytes, MAX_BYTES)
        return False
    target = directory / f"{key}.npy"
    partial = directory / f".{key}.{os.getpid()}.partial"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as file:
            np.save(file, vectors, allow_pickle=False)
        partial.replace(target)  # a reader sees the whole file or none
    except OSError as error:
        log.warning("could not hand over the corpus's vectors in %s: %s", directory, error)
        with contextlib.suppress(OSError):
            partial.unlink()
        return False
    log.info("handed over %d chunk vectors in %s", len(vectors), target)
    return True


def load(directory: Path, key: str, count: int) -> Vectors | None:
    """The vectors saved under `key` for `count` chunks, or None when there are none that fit."""
    path = directory / f"{key}.npy"
    if not path.is_file():
        return None
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        log.warning("ignoring unreadable chunk vectors %s: %s", path, error)
        return None
    if vectors.dtype != np.float32 or vectors.ndim != 2 or len(vectors) != count:
        log.warning(
            "ignoring chunk vectors %s of shape %s (%s) for %d chunks",
            path,
            vectors.shape,
            vectors.dtype,
            count,
        )
        return None
    loaded: Vectors = vectors
    return loaded
