"""The bot's run-time state, created by the app's lifespan, and its start-up (indexing) step."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from openai import AsyncOpenAI

from chatbot_server import llm_key
from chatbot_server.answering import Bot
from chatbot_server.auth import ApiKeys
from chatbot_server.errors import BotError
from chatbot_server.llm import Upstream, create_http_client, create_llm_client, create_session
from chatbot_server.metrics import Metrics
from chatbot_server.model_chain import ModelChain
from chatbot_server.retrieval import build_index
from chatbot_server.search import QuestionEmbedder, Searcher
from chatbot_server.settings import Settings
from chatbot_server.telemetry import Telemetry
from chatbot_server.tokens import TokenCounter, load_encoding
from chatbot_server.usage import Usage

if TYPE_CHECKING:  # NumPy and the openai SDK's sync client are loaded only for embeddings
    from tenacity import RetryCallState

    from chatbot_server.chunking import Chunk
    from chatbot_server.embeddings import Vectors
    from chatbot_server.remote_embeddings import RemoteEmbedder

log = logging.getLogger(__name__)

# After a transient failure of the provider's embeddings (what the SDK's own retries, seconds apart,
# did not outlast): the corpus is embedded again after 10 s, 20 s, 40 s ... then every 5 min, plus
# up to 5 s of jitter.
EMBEDDINGS_RETRY_FIRST_SECONDS = 10.0
EMBEDDINGS_RETRY_MAX_SECONDS = 300.0


@dataclass
class BotState:
    settings: Settings
    metrics: Metrics
    api_keys: ApiKeys
    usage: Usage
    clients: list[AsyncOpenAI] = field(default_factory=list)  # the primary model's, then fallbacks'
    session: aiohttp.ClientSession | None = None
    upstreams: list[Upstream] = field(default_factory=list)
    models: ModelChain | None = None  # None: offline
    bot: Bot | None = None  # set once the corpus is indexed: the bot is ready
    failure: str | None = None  # why the bot can never become ready
    embedding: asyncio.Task[None] | None = None  # the corpus's vectors, computed after readiness
    # Why search stays keyword-only although the mode asks for embeddings (shown by /readyz).
    search_problem: str | None = None
    embeddings_refused_key: bool = False  # the provider's embeddings failed with 401/403
    remote_embedder: RemoteEmbedder | None = None  # spec.retrieval.embeddings: the provider's
    hand_over_vectors: bool = False  # the golden check leaves the vectors for the bot (vector_cache.py)
    # The provider's embeddings are tried again after a transient failure; not by the golden check,
    # which must not hold the rollout for an outage (the bot container tries again itself).
    retry_embeddings: bool = True

    @classmethod
    def create(cls, settings: Settings, telemetry: Telemetry | None = None) -> BotState:
        metrics = Metrics()
        return cls(
            settings=settings,
            metrics=metrics,
            api_keys=ApiKeys(settings.api_keys_dir),
            usage=Usage(metrics, settings.name, telemetry),
        )

    def open_client(self) -> None:
        models = self.settings.llm_models
        if not models:
            return
        http = create_http_client()  # one pool for every model's retries
        self.session = create_session()
        self.clients = [create_llm_client(model, self.settings, http) for model in models]
        self.upstreams = [
            Upstream(client, self.session, model, self.settings, self.metrics)
            for client, model in zip(self.clients, models, strict=True)
        ]
        self.models = ModelChain(self.upstreams)

    def watch_llm_keys(self) -> list[asyncio.Task[None]]:
        """Follow the mounted key file of each model whose key comes from one (as in a pod)."""
        tasks = []
        for position, model in enumerate(self.settings.llm_models):
            if model.api_key_file is None or model.api_key is None:
                continue
            watching = llm_key.watch_key_file(
                model.api_key_file,
                model.api_key.get_secret_value(),
                functools.partial(self.use_llm_key, position=position),
                llm_key.RELOAD_SECONDS,
            )
            tasks.append(asyncio.create_task(watching, name=f"watch-llm-key-{position}"))
        return tasks

    def use_llm_key(self, key: str, position: int = 0) -> None:
        """New calls to this model (0: the primary) use this key; calls under way finish with the
        one they started with."""
        assert self.session is not None
        client = self.clients[position] = self.clients[position].with_options(api_key=key)  # same pool
        model = self.settings.llm_models[position]
        upstreams = list(self.upstreams)
        upstreams[position] = Upstream(client, self.session, model, self.settings, self.metrics)
        self.upstreams = upstreams
        self.models = ModelChain(upstreams)
        if position == 0 and self.embeddings_refused_key and self.bot is not None:
            # The provider refused the old key for the corpus: the new one gets its chance now,
            # rather than at the pod's next restart.
            log.info("the LLM API key changed: embedding the corpus again with the provider")
            self.embeddings_refused_key = False
            self.search_problem = None
            self.embedding = asyncio.create_task(self.embed_corpus(self.bot.searcher), name="embed-corpus")

    def ready_bot(self) -> Bot:
        """The bot, or a 503 saying why it cannot answer yet."""
        if self.bot is None:
            raise BotError(
                503,
                self.failure or "The bot is still indexing its documents; try again in a moment.",
                type="service_unavailable",
                code="not_ready",
                headers={"Retry-After": "2"},
            )
        return self.bot

    async def prepare(self) -> None:
        """Index the corpus and load the tokenizer in worker threads, then mark the bot ready."""
        settings = self.settings
        try:
            index, encoding = await asyncio.gather(
                asyncio.to_thread(build_index, settings.corpus_dir),
                asyncio.to_thread(load_encoding, settings.model),
            )
        except Exception as error:
            self.failure = f"start-up failed: {error}"
            log.exception("the bot cannot start: %s", error)
            raise
        self.metrics.corpus_chunks.set(index.size)
        self.metrics.corpus_documents.set(index.documents)
        log.info(
            "indexed %d chunks of %d documents from %s in %.2fs; counting tokens with %s",
            index.size,
            index.documents,
            settings.corpus_dir,
            index.build_seconds,
            encoding.name,
        )
        searcher = Searcher(index, settings.retrieval_mode)
        self.bot = Bot(settings, searcher, TokenCounter(encoding), self.metrics)
        self.metrics.ready.set(1)
        if settings.retrieval_mode != "keyword" and index.size:
            # Readiness does not wait for the vectors: keyword search answers until they are ready.
            self.embedding = asyncio.create_task(self.embed_corpus(searcher), name="embed-corpus")

    async def embed_corpus(self, searcher: Searcher) -> None:
        """Compute the chunks' vectors in a worker thread (or take those the golden check left),
        then switch the searcher to its mode."""
        started = time.perf_counter()
        try:
            if self.settings.embeddings_model is not None:
                embedded = await self.embed_corpus_remotely(searcher)
            else:
                embedded = await self.embed_corpus_locally(searcher)
        except Exception as error:  # a task's exception is otherwise lost: say it, on /readyz too
            self.search_problem = f"computing the corpus's vectors failed: {error}"
            log.exception("%s; the bot answers with keyword search", self.search_problem)
            return
        if embedded is None:
            return  # logged: keyword search only
        embedder, vectors = embedded
        searcher.attach_vectors(embedder, vectors)
        self.metrics.corpus_vectors.set(len(vectors))
        self.metrics.corpus_embedding.set(time.perf_counter() - started)
        log.info("%s search from now on", searcher.mode)

    async def embed_corpus_locally(self, searcher: Searcher) -> tuple[QuestionEmbedder, Vectors] | None:
        """The bundled model's vectors, or None when the model is not there (logged)."""
        # Imported here: ONNX Runtime and the tokenizers stay out of a keyword-only bot, and out of a
        # bot on its provider's embeddings.
        from chatbot_server.embeddings import embedding_threads, load_embedder

        embedder = await asyncio.to_thread(load_embedder, self.settings.embedding_model_dir)
        if embedder is None:
            self.search_problem = f"no embedding model in {self.settings.embedding_model_dir}"
            return None
        threads = embedding_threads(self.settings.embedding_threads)
        log.info("embedding the corpus on %d thread(s)", threads)
        return embedder, await self.cached_vectors(
            embedder.identity,
            searcher.index.chunks,
            functools.partial(embedder.embed_chunks, threads=threads),
        )

    async def embed_corpus_remotely(self, searcher: Searcher) -> tuple[QuestionEmbedder, Vectors] | None:
        """The provider's vectors, or None when its endpoint failed for good (logged, counted, on
        /readyz). A transient failure (an outage that outlasted the SDK's retries) is tried again
        after a growing, jittered pause, so the pod turns hybrid once the provider is back; meanwhile
        keyword search answers."""
        from tenacity import AsyncRetrying, retry_if_exception, wait_exponential, wait_random

        from chatbot_server.remote_embeddings import EmbeddingsError, RemoteEmbedder

        if self.remote_embedder is not None:
            self.remote_embedder.stop()  # the one that failed: its connections are not needed
        embedder = self.remote_embedder = RemoteEmbedder.for_settings(
            self.settings, self.current_llm_key, self.metrics
        )
        retrying = AsyncRetrying(
            retry=retry_if_exception(
                lambda error: self.retry_embeddings and isinstance(error, EmbeddingsError) and error.transient
            ),
            # Jittered, so that the pods of a ChatBot do not all come back to the provider at once.
            wait=wait_exponential(multiplier=EMBEDDINGS_RETRY_FIRST_SECONDS, max=EMBEDDINGS_RETRY_MAX_SECONDS)
            + wait_random(0, EMBEDDINGS_RETRY_FIRST_SECONDS / 2),
            before_sleep=self.report_embedding_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    vectors = await self.cached_vectors(
                        embedder.identity, searcher.index.chunks, embedder.embed_chunks
                    )
        except EmbeddingsError as error:
            self.metrics.embedding_errors.labels("corpus", error.kind).inc()
            self.search_problem = f"embedding the corpus failed: {error}"
            self.embeddings_refused_key = error.kind == "auth"
            log.error("%s; the bot answers with keyword search", self.search_problem)
            return None
        self.search_problem = None
        embedder.size = vectors.shape[1]  # questions' vectors must match, handed over or not
        return embedder, vectors

    def report_embedding_retry(self, retry_state: RetryCallState) -> None:
        """Count and show a transient failure to embed the corpus, and when it is tried again."""
        assert retry_state.outcome is not None  # set by tenacity before it calls before_sleep
        assert retry_state.next_action is not None
        error = retry_state.outcome.exception()
        kind = getattr(error, "kind", "unknown")
        self.metrics.embedding_errors.labels("corpus", kind).inc()
        pause = retry_state.next_action.sleep
        self.search_problem = f"embedding the corpus failed: {error}; trying again in {pause:.0f}s"
        log.warning("%s; keyword search answers until then", self.search_problem)

    async def cached_vectors(
        self, identity: str, chunks: Sequence[Chunk], compute: Callable[[Sequence[Chunk]], Vectors]
    ) -> Vectors:
        """The vectors the golden check left for these chunks and this model, else computed in a
        worker thread (and left for the bot container when this is the golden check)."""
        from chatbot_server import vector_cache

        started = time.perf_counter()
        cache = self.settings.vectors_dir
        key = vector_cache.cache_key(identity, chunks) if cache else ""
        vectors = await asyncio.to_thread(vector_cache.load, cache, key, len(chunks)) if cache else None
        if vectors is not None:
            log.info("took the %d chunk vectors the golden check computed", len(vectors))
            return vectors
        vectors = await asyncio.to_thread(compute, chunks)
        if cache and self.hand_over_vectors:
            await asyncio.to_thread(vector_cache.save, cache, key, vectors)
        seconds = time.perf_counter() - started
        log.info("embedded %d chunks in %.1fs (%.1f chunks/s)", len(vectors), seconds, len(vectors) / seconds)
        return vectors

    def current_llm_key(self) -> str:
        """The primary model's key as the bot holds it now (rotated by watch_llm_keys)."""
        return self.clients[0].api_key if self.clients else ""

    def search_status(self) -> dict[str, object]:
        """How questions are searched now, and why not as configured (for /readyz)."""
        assert self.bot is not None
        searcher = self.bot.searcher
        status: dict[str, object] = {"mode": searcher.active_mode, "configured": searcher.mode}
        if searcher.mode != "keyword":
            status["embeddings"] = self.settings.embeddings_model or "bundled"
            if searcher.active_mode == "keyword":
                status["reason"] = self.search_problem or "computing the corpus's vectors"
        return status

    async def close(self) -> None:
        if self.embedding is not None:
            self.embedding.cancel()  # the worker thread ends with its batch; its result is dropped
        if self.remote_embedder is not None:
            self.remote_embedder.stop()
        if self.clients:
            await self.clients[0].close()  # the HTTP client they share
        if self.session is not None:
            await self.session.close()
