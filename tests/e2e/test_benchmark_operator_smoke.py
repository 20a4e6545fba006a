"""The operator benchmark (make bench-operator) runs end to end on the session's cluster, small:
5 ChatBots, one run. Its timing is not checked here (docs/benchmarks.md has the real runs), only
that it still measures everything it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.cluster import REPO_ROOT, Cluster

SMOKE_TIMEOUT = 240


def test_operator_benchmark_smoke_run_reports_every_figure(cluster: Cluster, tmp_path: Path) -> None:
    output = tmp_path / "operator.json"
    where = (
        ["--cluster-dir", str(cluster.cluster_dir)]
        if cluster.cluster_dir is not None
        else ["--kubeconfig", str(cluster.kubeconfig)]
    )
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.operator_scale", "--smoke", *where, "--output", str(output)],
        cwd=REPO_ROOT,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"the benchmark failed:\n{result.stdout}\n{result.stderr[-6000:]}"

    results = json.loads(output.read_text())
    (run,) = results["runs"]
    assert run["chatbots"] == 5
    assert run["direct"]["applied_s"] > 0
    assert run["direct"]["ready_s"] >= run["direct"]["applied_s"]
    operator = run["operator"]
    assert operator["ready_s"] >= operator["applied_s"] > 0
    # Every ChatBot at least gets its ConfigMap, Service and Deployment applied and a status.
    assert operator["writes"] >= 4 * 5, operator["writes_by_kind"]
    assert operator["restart"]["resumed"] == 5
    assert operator["restart"]["writes"] == 0, operator["restart"]["changed_statuses"]
    assert 0 < operator["rss_mib"] <= operator["peak_rss_mib"]
    assert operator["restart"]["rss_mib"] > 0
    summary = results["summary"]["5"]
    assert summary["ratio_median"] > 0
    assert "5 ChatBots" in result.stdout  # the printed verdicts
    assert "| 5 |" in result.stdout  # the printed table
