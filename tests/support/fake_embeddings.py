"""The fake LLM's embeddings (`POST /v1/embeddings`): deterministic vectors that carry some meaning.

A text's vector is the sum of hashed features of its words, each word first mapped to a concept
(SYNONYMS: "cap" and "ceiling" mean "limit", "calls" means "requests"), plus hashed character
trigrams of those concepts, then L2-normalised. So a paraphrase made of synonyms lands near its
page while sharing none of its words with it, which keyword search cannot do: a test can tell which
search found a passage. Nothing is random: the same text always gives the same vector.

The response has OpenAI's shape, in the encoding asked for (`float`, or `base64`: little-endian
float32, what the openai SDK asks for by default), with `dimensions` honoured (default 64).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from typing import Any

DEFAULT_DIMENSIONS = 64

# Words that mean the same here; anything else is its own concept.
SYNONYMS = {
    "cap": "limit",
    "ceiling": "limit",
    "limits": "limit",
    "quota": "limit",
    "calls": "requests",
    "call": "requests",
    "request": "requests",
    "hits": "requests",
    "throttled": "429",
    "invoice": "billing",
    "invoices": "billing",
    "bills": "billing",
}
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "can",
        "do",
        "does",
        "how",
        "i",
        "is",
        "it",
        "my",
        "of",
        "on",
        "per",
        "the",
        "there",
        "to",
        "what",
        "with",
        "you",
    ]
)


def concepts(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [SYNONYMS.get(word, word) for word in words if word not in STOP_WORDS]


def embed(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    vector = [0.0] * dimensions
    for concept in concepts(text):
        features = [f"w:{concept}"] + [f"t:{concept[i : i + 3]}" for i in range(max(1, len(concept) - 2))]
        for feature in features:
            digest = hashlib.sha256(feature.encode()).digest()
            slot = int.from_bytes(digest[:4], "little") % dimensions
            weight = 2.0 if feature.startswith("w:") else 0.5
            vector[slot] += weight if digest[4] % 2 else -weight
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def embeddings_response(body: dict[str, Any], dimensions: int | None = None) -> dict[str, Any]:
    """OpenAI's response to this request; `dimensions` overrides the request's (a broken upstream)."""
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    size = dimensions or body.get("dimensions") or DEFAULT_DIMENSIONS
    data = []
    for position, text in enumerate(inputs):
        vector = embed(text, size)
        encoded: Any = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": position, "embedding": encoded})
    tokens = sum(len(text.split()) for text in inputs)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
