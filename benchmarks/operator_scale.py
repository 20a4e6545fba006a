"""Operator throughput on the real control plane (kwok nodes): apply N ChatBots and time until all
are Ready, against applying the very same ConfigMaps, Services and Deployments directly with
kubectl until all are ready; API writes per ChatBot; writes when the operator restarts over the
unchanged fleet; the operator's memory. Side by side in the same cluster, several runs, medians.

    make bench-operator        # python -m benchmarks.operator_scale --chatbots 100,1000 --runs 3
    python -m benchmarks.operator_scale --smoke --cluster-dir DIR   # CI: 5 ChatBots, one run

The operator runs as `python -m chatbot_operator` on this machine with the chart's environment and
its ServiceAccount's token (tests/e2e/operator_process.py), exactly as the end-to-end tier runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from kubernetes import client, config
from tests.e2e.cluster import HACK_DIR, REPO_ROOT, RESTRICTED_LABELS, Cluster, build_tools
from tests.e2e.operator_process import LocalOperator, Release

from benchmarks.operator_fleet import (
    CHATBOTS,
    DEPLOYMENTS,
    ReadyWatch,
    build_chatbot,
    build_direct_children,
    chatbot_is_ready,
    deployment_is_ready,
)
from benchmarks.operator_measure import (
    READ_VERBS,
    AuditLog,
    CpuMeter,
    read_control_plane_pids,
    read_memory,
    read_metrics,
    wait_quiet,
)
from benchmarks.operator_profile import Profile, summarize
from chatbot_operator.api import CRD_NAME
from chatbot_operator.config import DEFAULT_BOT_IMAGE

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
TARGET_RATIO = 1.2
TARGET_RESTART_WRITES = 0
TARGET_PEAK_MIB = 150.0
SMOKE_CHATBOTS = 5


@dataclass
class Bench:
    cluster: Cluster
    release: Release
    audit: AuditLog | None
    api: client.CustomObjectsApi
    workdir: Path
    quiet: float
    timeout: float
    profile_dir: Path | None
    # A smoke run has no next run to clean up for.
    wait_for_cleanup: bool = True
    # The run being measured, filled phase by phase (what a partial results file holds).
    current: dict[str, Any] = field(default_factory=dict)

    def cpu_meter(self, operator: LocalOperator | None = None) -> CpuMeter:
        """CPU seconds of the API server and etcd (a local cluster) and of the operator."""
        pids: dict[str, int] = {}
        if self.cluster.cluster_dir is not None:
            known = read_control_plane_pids(self.cluster.cluster_dir)
            pids = {name: known[name] for name in ("kube-apiserver", "etcd") if name in known}
        if operator is not None and operator.process is not None:
            pids["operator"] = operator.process.pid
        return CpuMeter(pids).start()

    @property
    def operator_user(self) -> str:
        return f"system:serviceaccount:{self.release.namespace}:{self.release.fullname}"

    @property
    def bot_image(self) -> str:
        return self.release.container_env().get("CHATBOT_OPERATOR_BOT_IMAGE", DEFAULT_BOT_IMAGE)

    def count_reads(self, namespace: str) -> Callable[[], dict[str, int]]:
        """GETs and LISTs by the operator from now on (empty where the audit log has no reads)."""
        audit, offset, user = self.audit, self.audit.offset() if self.audit else (0, 0), self.operator_user

        def by_kind() -> dict[str, int]:
            return dict(audit.writes_since(offset, user, namespace, READ_VERBS)) if audit else {}

        return by_kind

    def count_writes(self, operator: LocalOperator, namespace: str) -> tuple[str, Any]:
        """A source name and a function of (nothing) -> writes since now by the operator."""
        if self.audit is not None:
            audit, offset, user = self.audit, self.audit.offset(), self.operator_user

            def by_kind() -> dict[str, int]:
                return dict(audit.writes_since(offset, user, namespace))

            return "apiserver audit log", by_kind
        start = read_metrics(operator.metrics_port).get("chatbot_operator_api_writes_total", 0.0)

        def from_metric() -> dict[str, int]:
            now = read_metrics(operator.metrics_port).get("chatbot_operator_api_writes_total", 0.0)
            return {"all (operator's own client)": int(now - start)}

        return "chatbot_operator_api_writes_total (Kopf's own writes not included)", from_metric


def create_namespace(cluster: Cluster, prefix: str) -> str:
    name = f"{prefix}-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", name)
    # As in the end-to-end tier: the bots' pods must pass the restricted Pod Security level.
    cluster.kubectl("label", "namespace", name, *RESTRICTED_LABELS)
    return name


def delete_namespace(bench: Bench, name: str) -> None:
    """Between runs, waits until the namespace is gone: the next run gets the cluster to itself."""
    wait = "--wait=true" if bench.wait_for_cleanup else "--wait=false"
    bench.cluster.kubectl("delete", "namespace", name, wait, "--timeout=900s", timeout=960)


def apply_all(cluster: Cluster, manifests: list[dict[str, Any]]) -> None:
    """One `kubectl apply --server-side` of all of them, as a user would apply a directory."""
    # JSON, not YAML: PyYAML leaves a hex digest such as 4769973593458e15 unquoted, and kubectl's
    # YAML 1.2 reads it as a number (the applied-hash annotation then fails to apply).
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests})
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=benchmark", "-f", "-", input=document, timeout=1800
    )


def bot_names(count: int) -> list[str]:
    return [f"bot-{i:04d}" for i in range(count)]


def run_direct(bench: Bench, count: int, save: Callable[[], None] = lambda: None) -> dict[str, Any]:
    namespace = create_namespace(bench.cluster, f"bench-direct-{count}")
    image = bench.bot_image  # one kubectl call, not one per bot
    children = [
        child
        for name in bot_names(count)
        for child in build_direct_children(build_chatbot(name, namespace), image)
    ]
    watch = ReadyWatch(bench.api, DEPLOYMENTS, namespace, deployment_is_ready, count).start()
    cpu = bench.cpu_meter()
    try:
        started = time.monotonic()
        apply_all(bench.cluster, children)
        applied = time.monotonic()
        ready = watch.wait(bench.timeout)
    finally:
        watch.stop()
    cpu_seconds = cpu.read()
    result: dict[str, Any] = bench.current.setdefault("direct", {})
    result |= {
        "applied_s": round(applied - started, 2),
        "ready_s": round(ready - started, 2),
        "cpu_s_until_ready": cpu_seconds,
        # The machine is shared: the 1, 5 and 15-minute load average when the figures were taken.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    save()  # before the namespace's deletion, which takes minutes at 1,000
    delete_namespace(bench, namespace)
    return result


def run_operator(
    bench: Bench, count: int, run: int, profile: bool, save: Callable[[], None] = lambda: None
) -> dict[str, Any]:
    """The operator's phase; `result` is filled as it goes and `save()` called after each step, so a
    run cut short (a 1,000-ChatBot run takes most of an hour) still leaves its figures on disk."""
    result: dict[str, Any] = bench.current.setdefault("operator", {})
    namespace = create_namespace(bench.cluster, f"bench-operator-{count}")
    operator = LocalOperator(release=bench.release, workdir=bench.workdir / f"operator-{count}-{run}")
    operator.workdir.mkdir(parents=True)
    operator.start()
    assert operator.process is not None
    source, writes = bench.count_writes(operator, namespace)
    reads = bench.count_reads(namespace)
    watch = ReadyWatch(bench.api, CHATBOTS, namespace, chatbot_is_ready, count).start()
    profiler = None
    if profile and bench.profile_dir is not None:
        profiler = Profile(operator.process.pid, bench.profile_dir / f"operator-{count}.collapsed").start()
    cpu = bench.cpu_meter(operator)
    try:
        started = time.monotonic()
        apply_all(bench.cluster, [build_chatbot(name, namespace) for name in bot_names(count)])
        applied = time.monotonic()
        ready = watch.wait(bench.timeout)
        cpu_seconds = cpu.read()
        wait_quiet(lambda: sum(writes().values()), bench.quiet, bench.timeout)
        settled = time.monotonic()
    finally:
        watch.stop()
        if profiler is not None:
            profiler.stop()
    operator.assert_running()
    by_kind = writes()
    memory = read_memory(operator.process.pid)
    result |= {
        "applied_s": round(applied - started, 2),
        "ready_s": round(ready - started, 2),
        "settled_s": round(settled - started, 2),
        "cpu_s_until_ready": cpu_seconds,
        "writes": sum(by_kind.values()),
        "writes_per_chatbot": round(sum(by_kind.values()) / count, 2),
        "writes_by_kind": dict(sorted(by_kind.items())),
        "writes_source": source,
        "reads_by_kind": dict(sorted(reads().items())),
        "rss_mib": memory.rss_mib,
        "peak_rss_mib": memory.peak_rss_mib,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if profiler is not None:
        result["profile"] = {"file": str(profiler.output), **summarize(profiler.output)}
    save()
    operator.stop()
    result["restart"] = restart_over_fleet(bench, operator, namespace, count)
    save()
    operator.stop()
    delete_namespace(bench, namespace)
    return result


def restart_over_fleet(bench: Bench, operator: LocalOperator, namespace: str, count: int) -> dict[str, Any]:
    """A new operator process over the unchanged fleet: it must resume every ChatBot and write
    nothing."""
    before = list_statuses(bench, namespace)
    started = time.monotonic()
    operator.start()
    assert operator.process is not None
    _, writes = bench.count_writes(operator, namespace)
    reads = bench.count_reads(namespace)
    cpu = bench.cpu_meter(operator)
    deadline = time.monotonic() + bench.timeout
    # Every ChatBot is reconciled once on resume; only then can "no writes" mean anything.
    reconciled = 0.0
    while (
        reconciled := read_metrics(operator.metrics_port).get("chatbot_operator_reconciles_total", 0.0)
    ) < count:
        if time.monotonic() > deadline:
            break  # reported below with what was measured: a slow resume is a finding, not a crash
        operator.assert_running()
        time.sleep(0.5)
    resumed = time.monotonic()
    cpu_seconds = cpu.read()
    if reconciled >= count:
        wait_quiet(lambda: sum(writes().values()), bench.quiet, bench.timeout)
    by_kind = writes()
    memory = read_memory(operator.process.pid)
    after = list_statuses(bench, namespace)
    # Any write here is a bug: what changed says which writer left the status behind.
    changed = {name: diff_status(before.get(name, {}), status) for name, status in after.items()}
    return {
        "changed_statuses": {name: diff for name, diff in sorted(changed.items()) if diff},
        "resumed": int(reconciled),
        "resumed_s": round(resumed - started, 2),
        "cpu_s_until_resumed": cpu_seconds,
        "writes": sum(by_kind.values()),
        "writes_by_kind": dict(sorted(by_kind.items())),
        "reads_by_kind": dict(sorted(reads().items())),
        "rss_mib": memory.rss_mib,
        "peak_rss_mib": memory.peak_rss_mib,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def list_statuses(bench: Bench, namespace: str) -> dict[str, dict[str, Any]]:
    group, group_version, plural = CHATBOTS
    listed: Any = bench.api.list_namespaced_custom_object(group, group_version, namespace, plural)
    return {item["metadata"]["name"]: item.get("status") or {} for item in listed["items"]}


def diff_status(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The status fields that differ, old and new (status holds no secret, by design)."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for count in sorted({r["chatbots"] for r in runs}):
        of_count = [r for r in runs if r["chatbots"] == count]
        direct = [r["direct"]["ready_s"] for r in of_count]
        operator = [r["operator"]["ready_s"] for r in of_count]
        ratios = [r["operator"]["ready_s"] / r["direct"]["ready_s"] for r in of_count]
        summary[str(count)] = {
            "runs": len(of_count),
            "direct_ready_s": _spread(direct),
            "operator_ready_s": _spread(operator),
            "ratio_per_run": [round(x, 2) for x in ratios],
            "ratio_median": round(statistics.median(ratios), 2),
            "writes_per_chatbot_median": statistics.median(
                r["operator"]["writes_per_chatbot"] for r in of_count
            ),
            "restart_writes_max": max(r["operator"]["restart"]["writes"] for r in of_count),
            "restart_resumed_min": min(r["operator"]["restart"]["resumed"] for r in of_count),
            "restart_resumed_s_median": statistics.median(
                r["operator"]["restart"]["resumed_s"] for r in of_count
            ),
            "peak_rss_mib_max": max(
                max(r["operator"]["peak_rss_mib"], r["operator"]["restart"]["peak_rss_mib"]) for r in of_count
            ),
            "steady_rss_mib_median": statistics.median(r["operator"]["restart"]["rss_mib"] for r in of_count),
        }
    return summary


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": min(values), "median": round(statistics.median(values), 2), "max": max(values)}


def format_table(summary: dict[str, Any]) -> str:
    lines = [
        "| ChatBots | direct, Ready (median s) | operator, Ready (median s) | ratio (median of runs) "
        "| writes/ChatBot | writes on restart | peak RSS (MiB) | steady RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count, s in summary.items():
        lines.append(
            f"| {count} | {s['direct_ready_s']['median']} | {s['operator_ready_s']['median']} "
            f"| {s['ratio_median']} (runs: {', '.join(map(str, s['ratio_per_run']))}) "
            f"| {s['writes_per_chatbot_median']} | {s['restart_writes_max']} "
            f"| {s['peak_rss_mib_max']} | {s['steady_rss_mib_median']} |"
        )
    return "\n".join(lines)


def check_targets(summary: dict[str, Any]) -> dict[str, str]:
    verdicts = {}
    for count, s in summary.items():
        ratio_ok = s["ratio_median"] <= TARGET_RATIO
        restart_ok = s["restart_writes_max"] <= TARGET_RESTART_WRITES and s["restart_resumed_min"] >= int(
            count
        )
        memory_ok = s["peak_rss_mib_max"] <= TARGET_PEAK_MIB
        verdicts[count] = (
            f"ratio {s['ratio_median']} {'<=' if ratio_ok else '>'} {TARGET_RATIO}; "
            f"restart writes {s['restart_writes_max']}, {s['restart_resumed_min']}/{count} resumed "
            f"({'met' if restart_ok else 'missed'}); "
            f"peak RSS {s['peak_rss_mib_max']} MiB {'<=' if memory_ok else '>'} {TARGET_PEAK_MIB}"
        )
    return verdicts


def describe_machine(cluster: Cluster) -> dict[str, Any]:
    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    server = json.loads(cluster.kubectl("version", "-o", "json").stdout).get("serverVersion", {})
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kubernetes": server.get("gitVersion"),
        "kopf": version("kopf"),
        "kubernetes_client": version("kubernetes"),
        "versions_env": dict(
            line.split("=", 1)
            for line in (HACK_DIR / "versions.env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        ),
    }


@contextmanager
def local_cluster(args: argparse.Namespace) -> Iterator[tuple[Cluster, AuditLog | None]]:
    """The cluster to measure on: a new local control plane, or one given on the command line."""
    bin_dir = build_tools()
    if args.kubeconfig:
        yield Cluster(kubeconfig=Path(args.kubeconfig), bin_dir=bin_dir), None
        return
    owned = args.cluster_dir is None
    cluster_dir = Path(args.cluster_dir or tempfile.mkdtemp(prefix="bench-operator-cluster."))
    env = {**os.environ, "CLUSTER_DIR": str(cluster_dir)}
    if owned:
        print(f"starting a control plane in {cluster_dir}", file=sys.stderr)
        subprocess.run([str(HACK_DIR / "cluster.sh"), "up"], env=env, check=True, timeout=900)
    try:
        run_dir = Path((cluster_dir / "run-dir").read_text().strip())
        audit = AuditLog(run_dir / "audit" / "audit.log")
        yield (
            Cluster(kubeconfig=cluster_dir / "kubeconfig", bin_dir=bin_dir, cluster_dir=cluster_dir),
            (audit if audit.path.exists() else None),
        )
    finally:
        if owned:
            subprocess.run([str(HACK_DIR / "cluster.sh"), "down"], env=env, check=False, timeout=300)


@contextmanager
def installed_chart(cluster: Cluster) -> Iterator[Release]:
    """The chart in a namespace of its own (cluster-wide mode, the chart's defaults)."""
    namespace = create_namespace(cluster, "bench-chatbot-operator")
    crd_existed = cluster.try_get("crd", CRD_NAME) is not None
    release = Release(cluster=cluster, name=f"bench-{secrets.token_hex(3)}", namespace=namespace)
    release.install(*(("--set", "crds.install=false") if crd_existed else ()))
    try:
        yield release
    finally:
        cluster.helm("uninstall", release.name, "-n", namespace, "--wait", check=False, timeout=300)
        if not crd_existed:
            cluster.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=false", check=False)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.operator_scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--chatbots", default="100,1000", help="comma-separated fleet sizes")
    parser.add_argument("--runs", type=int, default=3, help="runs per fleet size (direct and operator each)")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_CHATBOTS} ChatBots, one run (CI)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--cluster-dir", help="an existing hack/cluster.sh cluster (its audit log counts writes)"
    )
    where.add_argument("--kubeconfig", help="any existing cluster (writes from the operator's own counter)")
    parser.add_argument("--quiet-seconds", type=float, default=10.0, help="no writes for this long = settled")
    parser.add_argument("--timeout", type=float, default=1800.0, help="bound of every wait, in seconds")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the first operator run of the largest size"
    )
    parser.add_argument("--output", help="results JSON (default benchmarks/results/operator-<time>.json)")
    args = parser.parse_args(list(argv))
    if args.smoke:
        args.chatbots, args.runs, args.quiet_seconds = str(SMOKE_CHATBOTS), 1, min(args.quiet_seconds, 3.0)
    args.counts = [int(n) for n in args.chatbots.split(",") if n.strip()]
    return args


def main(argv: Sequence[str] = sys.argv[1:]) -> dict[str, Any]:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = Path(args.output) if args.output else RESULTS_DIR / f"operator-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    results: dict[str, Any] = {
        "benchmark": "operator_scale",
        "command": "python -m benchmarks.operator_scale " + " ".join(argv),
        "operator": "python -m chatbot_operator here, with the chart's environment and ServiceAccount token",
        "targets": {
            "ratio": TARGET_RATIO,
            "restart_writes": TARGET_RESTART_WRITES,
            "peak_rss_mib": TARGET_PEAK_MIB,
        },
    }

    # Kept after the run: the operator logs of every phase, to read when a figure looks wrong.
    workdir = Path(tempfile.mkdtemp(prefix="bench-operator."))
    print(f"operator logs: {workdir}", file=sys.stderr)
    with (
        local_cluster(args) as (cluster, audit),
        installed_chart(cluster) as release,
    ):
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
        api = client.CustomObjectsApi(api_client)
        bench = Bench(
            cluster, release, audit, api, workdir, args.quiet_seconds, args.timeout,
            output.with_suffix("") if args.profile else None, wait_for_cleanup=not args.smoke,
        )  # fmt: skip
        results["machine"] = describe_machine(cluster)

        def save_partial() -> None:
            """The runs so far and the one under way, marked partial: the final file replaces it."""
            saved = datetime.now(UTC).isoformat(timespec="seconds")
            partial = {**results, "partial": True, "saved": saved, "runs": [*runs, bench.current]}
            output.write_text(json.dumps(partial, indent=2) + "\n")

        # kubectl's discovery is cached after the first call: neither side should pay for it.
        cluster.kubectl("api-resources")
        for count in args.counts:
            for run in range(args.runs):
                profile = args.profile and run == 0 and count == max(args.counts)
                # Alternating which goes first, so neither always runs on a warmer cluster.
                phases = ("direct", "operator") if run % 2 == 0 else ("operator", "direct")
                result: dict[str, Any] = {"chatbots": count, "run": run + 1}
                bench.current = result
                for phase in phases:
                    print(
                        f"[{datetime.now(UTC):%H:%M:%S}] {count} ChatBots, run {run + 1}: {phase}",
                        file=sys.stderr,
                    )
                    if phase == "direct":
                        run_direct(bench, count, save_partial)
                    else:
                        run_operator(bench, count, run, profile, save_partial)
                    save_partial()
                print(json.dumps(result), file=sys.stderr)
                runs.append(result)
    summary = summarize_runs(runs)
    verdicts = check_targets(summary)
    results |= {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "summary": summary,
        "verdicts": verdicts,
        "runs": runs,
    }
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(format_table(summary))
    for count, verdict in verdicts.items():
        print(f"{count} ChatBots: {verdict}")
    print(f"results: {output}")
    return results


if __name__ == "__main__":
    main()
