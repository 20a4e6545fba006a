"""Embeddings from the ChatBot's own LLM provider (`spec.retrieval.embeddings`), with the openai SDK.

The provider is spec.llm's: its base URL, API version and key. Azure OpenAI routes an embeddings
call to the deployment named by `model` (the SDK builds /openai/deployments/<model>/embeddings), so
the client here is made without the chat deployment. Timeouts and retries (429 and 5xx with backoff,
Retry-After honoured) are the SDK's, with spec.llm's timeoutSeconds and maxRetries.

The key is looked up on every call (`current_key`: the key the bot's chat client holds now, which
llm_key replaces when the mounted Secret changes), so a rotated key reaches the next embedding call.

The corpus goes in batches of BATCH_SIZE inputs: well under OpenAI's 2,048 inputs and 300,000 tokens
per request (a chunk is at most ~1,200 characters, chunking.py), within the default client batch
limit of Hugging Face's text-embeddings-inference (32), and small enough that a retried batch costs
little. Vectors are L2-normalised here, whatever the provider returns, so a dot product is a cosine.

Failures are `EmbeddingsError`s with a kind (the metrics' label) and a message that names the model
and never the key. The caller (state.py) keeps keyword search while the corpus cannot be embedded,
and tries again after a backoff when the failure is transient (an outage that outlasted the SDK's
retries); a question whose embedding fails is searched by keywords (embed_question returns None),
counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import openai
from openai import AzureOpenAI, OpenAI

from chatbot_server.chunking import CHUNK_TEXT, Chunk, chunk_text
from chatbot_server.metrics import Metrics
from chatbot_server.settings import Settings

if TYPE_CHECKING:
    from chatbot_server.embeddings import Vectors

log = logging.getLogger(__name__)

BATCH_SIZE = 32
# A user waits for a question's embedding: past this timeout and one retry at most, keyword search
# answers it (a chat answer must not hang on a slow embeddings endpoint for spec.llm.timeoutSeconds,
# 60 s by default, times 1 + maxRetries). A provider answers in tenths of a second.
QUESTION_TIMEOUT_SECONDS = 5.0
QUESTION_RETRIES = 1
# With no relevanceThreshold, every question's best passages count as relevant (a cosine is never
# below -1): the language model, told not to guess beyond them (answering.py), is the judge.
NO_THRESHOLD = -1.0


# The provider may answer later: the corpus is embedded again after a backoff (state.py). The
# other kinds (a refused key, no such model, a wrong size, a 4xx) need a new key or a new spec.
TRANSIENT_KINDS = frozenset({"timeout", "connection", "rate_limited", "status_5xx"})


class EmbeddingsError(Exception):
    """The provider's embeddings could not be had; `kind` labels the metrics."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


def create_embeddings_client(settings: Settings) -> OpenAI:
    """A synchronous client (embeddings run in worker threads) for spec.llm's provider."""
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    timeout, retries = settings.llm_timeout_seconds, settings.llm_max_retries
    if settings.llm_provider == "azure-openai":
        assert settings.llm_base_url is not None  # checked by Settings
        return AzureOpenAI(
            azure_endpoint=settings.llm_base_url,
            api_version=settings.llm_api_version,
            api_key=key,
            timeout=timeout,
            max_retries=retries,
        )
    return OpenAI(
        api_key=key or "unused", base_url=settings.llm_base_url, timeout=timeout, max_retries=retries
    )


class RemoteEmbedder:
    """A search.QuestionEmbedder on the provider's `/embeddings` endpoint."""

    def __init__(
        self,
        client: OpenAI,
        model: str,
        *,
        dimensions: int | None,
        relevance_threshold: float | None,
        current_key: Callable[[], str],
        metrics: Metrics,
    ) -> None:
        self.model = model
        self.dimensions = dimensions  # asked of the provider; None: the model's own size
        self._threshold = NO_THRESHOLD if relevance_threshold is None else relevance_threshold
        self._current_key = current_key
        self._client = client
        self._question_client = client.with_options(
            timeout=min(QUESTION_TIMEOUT_SECONDS, _seconds(client.timeout)),
            max_retries=min(QUESTION_RETRIES, client.max_retries),
        )
        self._key = client.api_key
        self._metrics = metrics
        self._stopped = threading.Event()
        self.size: int | None = None  # the corpus vectors' length, once embedded
        # What decides a chunk's vector besides its text (vector_cache.py keys on it).
        self.identity = f"remote:{client.base_url}:{model}:dimensions={dimensions}:{CHUNK_TEXT!r}"

    @classmethod
    def for_settings(
        cls, settings: Settings, current_key: Callable[[], str], metrics: Metrics
    ) -> RemoteEmbedder:
        assert settings.embeddings_model is not None
        return cls(
            create_embeddings_client(settings),
            settings.embeddings_model,
            dimensions=settings.embeddings_dimensions,
            relevance_threshold=settings.embeddings_relevance_threshold,
            current_key=current_key,
            metrics=metrics,
        )

    @property
    def relevance_threshold(self) -> float:
        return self._threshold

    @property
    def identifier_threshold(self) -> float | None:
        return None  # calibrated for the bundled model only (search.py)

    def embed_chunks(self, chunks: Sequence[Chunk]) -> Vectors:
        """A unit vector per chunk (its heading path and text), in order. Raises EmbeddingsError."""
        parts = []
        for start in range(0, len(chunks), BATCH_SIZE):
            if self._stopped.is_set():
                raise EmbeddingsError("stopped", "the bot is shutting down")
            batch = chunks[start : start + BATCH_SIZE]
            texts = [chunk_text(chunk) for chunk in batch]
            part = self.embed(texts, stage="corpus")
            self.size = part.shape[1]  # every later batch, and every question, must match it
            parts.append(part)
        vectors: Vectors = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        return vectors

    def embed_question(self, question: str) -> Vectors | None:
        """The question's unit vector, or None (counted, logged) when the provider fails: this
        question is then searched by keywords."""
        if not question.strip():  # the API refuses empty input
            return None
        try:
            vector: Vectors = self.embed([question], stage="question")[0]
        except EmbeddingsError as error:
            self._metrics.embedding_errors.labels("question", error.kind).inc()
            log.warning("embedding a question failed, searched by keywords instead: %s", error)
            return None
        return vector

    def embed(self, texts: Sequence[str], stage: Literal["corpus", "question"]) -> Vectors:
        """One unit vector per text (rows), float32, from one request. Raises EmbeddingsError."""
        started = time.perf_counter()
        try:
            response = self._client_for(stage).embeddings.create(
                model=self.model, input=list(texts), dimensions=self.dimensions or openai.omit
            )
        except openai.OpenAIError as error:
            raise EmbeddingsError(*self._describe(error)) from None
        log.debug("embedded %d texts in %.3fs", len(texts), time.perf_counter() - started)
        usage = getattr(response, "usage", None)  # some OpenAI-compatible servers leave it out
        if usage is not None:
            self._metrics.embedding_tokens.labels(stage).inc(usage.prompt_tokens)
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(texts):
            raise EmbeddingsError(
                "bad_response",
                f"the embeddings model {self.model!r} returned {len(rows)} vectors for {len(texts)} inputs",
            )
        sizes = {len(row.embedding) for row in rows}
        expected = self.dimensions or self.size
        if len(sizes) != 1 or (expected is not None and sizes != {expected}):
            asked = f"{expected}" if expected else "one size"
            raise EmbeddingsError(
                "dimensions",
                f"the embeddings model {self.model!r} returned vectors of {sorted(sizes)} dimensions, "
                f"not {asked}" + (" (spec.retrieval.embeddings.dimensions)" if self.dimensions else ""),
            )
        vectors = np.array([row.embedding for row in rows], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: Vectors = vectors / np.maximum(norms, 1e-12)
        return normalised

    def stop(self) -> None:
        """No further batch is sent (the bot is stopping); the client's connections are closed."""
        self._stopped.set()
        self._client.close()

    def _client_for(self, stage: Literal["corpus", "question"]) -> OpenAI:
        key = self._current_key()
        if key != self._key:  # rotated: the next calls carry the new key (same connection pool)
            self._client = self._client.with_options(api_key=key)
            self._question_client = self._question_client.with_options(api_key=key)
            self._key = key
        return self._question_client if stage == "question" else self._client

    def _describe(self, error: openai.OpenAIError) -> tuple[str, str]:
        """The kind and the message of a failed call; the key never appears in the message."""
        model = repr(self.model)
        if isinstance(error, openai.APITimeoutError):
            return "timeout", f"the embeddings endpoint did not answer in time (model {model})"
        if isinstance(error, openai.APIConnectionError):
            return "connection", f"the embeddings endpoint could not be reached (model {model})"
        if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            return (
                "auth",
                f"the provider refused the API key (HTTP {error.status_code}) for embeddings model {model}",
            )
        if isinstance(error, openai.NotFoundError):
            return (
                "not_found",
                f"the provider has no embeddings model {model} (HTTP 404): "
                "check spec.retrieval.embeddings.model",
            )
        if isinstance(error, openai.RateLimitError):
            return "rate_limited", f"the provider kept rate limiting embeddings (HTTP 429, model {model})"
        if isinstance(error, openai.APIStatusError):
            kind = "status_5xx" if error.status_code >= 500 else "status_4xx"
            return (
                kind,
                f"the embeddings endpoint returned HTTP {error.status_code} for model {model}: "
                + self._scrub(error.message),
            )
        return (
            "bad_response",
            f"the embeddings response could not be read (model {model}): {self._scrub(str(error))}",
        )

    def _scrub(self, text: str) -> str:
        key = self._key
        text = text[:300]
        return text.replace(key, "[key]") if key and len(key) > 3 else text


def _seconds(timeout: object) -> float:
    """The client's timeout in seconds (the SDK keeps a float, or an httpx2 Timeout)."""
    if isinstance(timeout, int | float):
        return float(timeout)
    read = getattr(timeout, "read", None)
    return float(read) if isinstance(read, int | float) else QUESTION_TIMEOUT_SECONDS
