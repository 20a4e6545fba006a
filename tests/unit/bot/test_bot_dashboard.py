"""The Grafana dashboard in docs/ charts metrics the bot really serves, by labels they really have."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from chatbot_server.metrics import Metrics

DASHBOARD = Path("docs/grafana-dashboard.json")
# Labels Prometheus adds to every sample it scrapes through a ServiceMonitor, and histograms' `le`.
TARGET_LABELS = {"namespace", "service", "pod", "le"}


def served_series() -> dict[str, set[str]]:
    """Every series name the bot exposes (counters' _total, histograms' _bucket, ...) and its labels."""
    series: dict[str, set[str]] = {}
    for metric in vars(Metrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)
        for suffix in ("", "_total", "_bucket", "_sum", "_count"):
            series[metric._name + suffix] = labels
    return series


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    found += [
        variable["query"]["query"]
        for variable in dashboard["templating"]["list"]
        if "query" in variable and isinstance(variable["query"], dict)
    ]
    return found


def test_every_dashboard_query_names_a_served_metric_and_its_labels() -> None:
    served = served_series()
    exprs = expressions()
    assert len(exprs) >= 10
    for expr in exprs:
        names = re.findall(r"\b(chatbot_[a-z_]+)\b", expr)
        assert names, expr
        for name in names:
            assert name in served, f"{name} is not a metric the bot serves: {expr}"
            used = set(re.findall(r"([a-z_]+)\s*=~?\s*\"", expr))
            used |= {
                label.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for label in group.split(",")
            }
            unknown = used - served[name] - TARGET_LABELS
            assert not unknown, f"{expr}: {name} has no label {unknown}"


def test_the_dashboard_charts_usage_by_api_key_and_model() -> None:
    text = DASHBOARD.read_text()
    for metric in (
        "chatbot_usage_requests_total",
        "chatbot_usage_tokens_total",
        "chatbot_usage_errors_total",
    ):
        assert metric in text
    assert "api_key" in text
