"""Prometheus metrics of the operator, served by prometheus-client on the metrics port."""

import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter("chatbot_operator_reconciles_total", "Reconciles of ChatBots, by outcome.", ["outcome"])
RECONCILE_SECONDS = Histogram(
    "chatbot_operator_reconcile_duration_seconds",
    "Time to reconcile one ChatBot, inputs and API calls included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
API_WRITES = Counter(
    "chatbot_operator_api_writes_total",
    "Write requests the operator sent to the API server, by verb.",
    ["verb"],
)

REFRESH_CHECKS = Counter(
    "chatbot_operator_refresh_checks_total",
    "Rounds of the refresh loop finished: every ChatBot was checked, and the due ones reconciled.",
)

GOLDEN_QUESTIONS = Gauge(
    "chatbot_operator_golden_questions_passed",
    "1 when the ChatBot's revision (settings hash) answered its golden questions acceptably, 0 when "
    "a pod of it failed one; one series per ChatBot, for its latest checked revision.",
    ["namespace", "chatbot", "revision"],
)
_golden_revisions: dict[tuple[str, str], str] = {}
_golden_lock = threading.Lock()


def record_golden_outcome(namespace: str, chatbot: str, revision: str | None, passed: bool | None) -> None:
    """The golden-question outcome of a ChatBot's revision; None `passed` (no golden questions, or
    not checked yet) drops its series. One series per ChatBot: the older revision's goes."""
    with _golden_lock:
        old = _golden_revisions.pop((namespace, chatbot), None)
        if old is not None and (old != revision or passed is None):
            GOLDEN_QUESTIONS.remove(namespace, chatbot, old)
        if passed is None or revision is None:
            return
        _golden_revisions[namespace, chatbot] = revision
        GOLDEN_QUESTIONS.labels(namespace, chatbot, revision).set(1 if passed else 0)


def serve_metrics(port: int, host: str) -> None:
    """Expose /metrics on `host` (in a pod, all interfaces: the chart's Service decides who reads it)."""
    start_http_server(port, addr=host)
