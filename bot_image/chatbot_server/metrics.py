"""Prometheus metrics, one registry per app (so tests can run several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Request latencies of a bot range from sub-millisecond (probes, offline answers) to a minute (long
# LLM answers).
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "chatbot_http_requests", "HTTP requests served", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "chatbot_http_request_duration_seconds",
            "Time from request to the end of the response (streams included)",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "chatbot_answers", "Answers given, by source (faq, corpus, llm, fallback)", ["mode"], registry=r
        )
        self.tokens = Counter(
            "chatbot_tokens",
            "Tokens sent to (in) and received from (out) the language model",
            ["direction"],
            registry=r,
        )
        self.upstream_latency = Histogram(
            "chatbot_upstream_first_byte_seconds",
            "Time until the language model's first response bytes",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_open = Gauge(
            "chatbot_upstream_open_requests",
            "Calls to the language model in progress (a stream counts until it is closed)",
            registry=r,
        )
        self.upstream_errors = Counter(
            "chatbot_upstream_errors", "Failed calls to the language model, by kind", ["kind"], registry=r
        )
        self.retrieval = Counter(
            "chatbot_retrieval_queries", "Corpus searches, by result (hit, miss)", ["result"], registry=r
        )
        # Semantic search (search.py): which mode answered (keyword until the vectors are ready),
        # what embedding a question costs, and when the corpus's vectors were ready.
        self.retrieval_mode = Counter(
            "chatbot_retrieval_mode_queries",
            "Corpus searches, by the mode that answered (keyword, semantic, hybrid)",
            ["mode"],
            registry=r,
        )
        self.query_embedding = Histogram(
            "chatbot_query_embedding_seconds",
            "Time to embed a question",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.corpus_vectors = Gauge("chatbot_corpus_vectors", "Chunks with an embedding vector", registry=r)
        self.corpus_embedding = Gauge(
            "chatbot_corpus_embedding_seconds", "Time taken to embed the corpus's chunks", registry=r
        )
        # The provider's embeddings (spec.retrieval.embeddings): a failed corpus leaves keyword search
        # in place; a failed question is searched by keywords.
        self.embedding_errors = Counter(
            "chatbot_embedding_errors",
            "Failed calls to the provider's embeddings endpoint, by stage (corpus, question) and kind",
            ["stage", "kind"],
            registry=r,
        )
        self.embedding_tokens = Counter(
            "chatbot_embedding_tokens",
            "Tokens sent to the provider's embeddings endpoint (as it reports them), by stage",
            ["stage"],
            registry=r,
        )
        self.faq = Counter(
            "chatbot_faq_lookups", "FAQ lookups, by result (hit, miss)", ["result"], registry=r
        )
        self.trimmed_turns = Counter(
            "chatbot_trimmed_turns", "Conversation turns dropped to fit max_context_tokens", registry=r
        )
        self.feedback = Counter(
            "chatbot_feedback",
            "Ratings of answers (POST /api/feedback), by bot, answer mode and rating (up, down)",
            ["bot", "mode", "rating"],
            registry=r,
        )
        self.corpus_chunks = Gauge("chatbot_corpus_chunks", "Chunks in the corpus index", registry=r)
        self.corpus_documents = Gauge("chatbot_corpus_documents", "Documents in the corpus index", registry=r)
        self.ready = Gauge("chatbot_ready", "1 once the corpus is indexed and the bot answers", registry=r)
        # Usage for chargeback (chatbot_server.usage): by bot, chat API, API key name and model.
        usage = ["bot", "api", "api_key", "model"]
        self.usage_requests = Counter(
            "chatbot_usage_requests",
            "Chat requests answered, by the model that answered (none: no model did)",
            usage,
            registry=r,
        )
        self.usage_tokens = Counter(
            "chatbot_usage_tokens",
            "Language model tokens, by type (input: the prompt, output: the completion)",
            [*usage, "type"],
            registry=r,
        )
        self.usage_errors = Counter(
            "chatbot_usage_errors",
            "Failed calls to a model, by error type (a call a fallback model then answered counts too)",
            [*usage, "error_type"],
            registry=r,
        )
        # The chat APIs' series, looked up once: labels() validates and locks on every call, which
        # costs several times the increment itself, on every answer.
        self.tokens_in = self.tokens.labels("in")
        self.tokens_out = self.tokens.labels("out")
        self.answers_by_mode = {
            mode: self.answers.labels(mode) for mode in ("faq", "corpus", "llm", "fallback")
        }
        for direction in ("in", "out"):
            self.tokens.labels(direction)
        for result in ("hit", "miss"):
            self.retrieval.labels(result)
            self.faq.labels(result)
