"""Prometheus metrics of the operator, served by prometheus-client on the metrics port."""

from prometheus_client import Counter, Histogram, start_http_server

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


def serve_metrics(port: int, host: str) -> None:
    """Expose /metrics on `host` (in a pod, all interfaces: the chart's Service decides who reads it)."""
    start_http_server(port, addr=host)
