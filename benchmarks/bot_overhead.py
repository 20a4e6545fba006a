"""What the bot adds to a chat completion, against a direct call to the upstream and against LiteLLM.

Targets, each a separate process on loopback, measured one at a time, side by side in every run:
  direct          the mock upstream itself (benchmarks/mock_upstream.py): the limit
  bot             `python -m chatbot_server` in front of it, retrieval off
  bot+retrieval   the same with this repository's docs/ indexed (top-4 passages in every prompt)
  floor           a bare ASGI proxy on the bot's server and client stack (benchmarks/floor_proxy.py):
                  the least any Python proxy adds here, so the bot's own share can be told apart
  litellm         the LiteLLM proxy in front of the same mock (--litellm; never in CI)

Phases:
  requests   non-streamed completions, closed loop at each concurrency: p50, p99, throughput
  ttft       streamed completions (N chunks k ms apart): time to the first content token
  held       S streams at once with a realistic pace (40 chunks 50 ms apart): how many are held
             without a stall (a gap between two events longer than --stall-ms)

Ratios are per run (bot run i against direct run i), then the median over runs.

    python -m benchmarks.bot_overhead                       # wrk, concurrency 1,16,64,256, 3 runs
    python -m benchmarks.bot_overhead --litellm             # with LiteLLM (benchmarks/litellm-venv.sh)
    python -m benchmarks.bot_overhead --smoke --out /tmp/bot.json   # seconds, no wrk needed
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import loadgen, report
from benchmarks.processes import (
    ROOT,
    cpu_seconds,
    free_port,
    start_bot,
    start_floor,
    start_litellm,
    start_mock,
    stop,
    wait_ready,
)

# On two or more CPUs: the server under test gets CPU 0, the upstream and the load generator CPU 1.
SERVER_CPU = 0
CLIENT_CPU = 1
HELD_CHUNKS = 40
HELD_INTERVAL_MS = 50.0
P99_BOUNDS_MS = (5.0, 10.0, 25.0, 50.0, 100.0)
PACKAGES = (
    "uvicorn",
    "fastapi",
    "starlette",
    "openai",
    "pydantic",
    "aiohttp",
    "httpx2",
    "uvloop",
    "httptools",
)


@dataclass
class Target:
    name: str
    url: str  # the chat completions URL
    ready: str  # a URL that answers 200 once the target serves
    process: subprocess.Popen[bytes]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bot_overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--concurrency", default="1,16,64,256", help="comma-separated levels")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one measurement")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--generator", choices=["wrk", "python"], help="default: wrk if installed")
    parser.add_argument("--stream-chunks", type=int, default=20)
    parser.add_argument("--stream-interval-ms", type=float, default=5.0)
    parser.add_argument("--stream-concurrency", default="1,16,64")
    parser.add_argument("--held", default="64,256,1024", help="concurrent stream counts to hold")
    parser.add_argument("--stall-ms", type=float, default=500.0)
    parser.add_argument(
        "--litellm",
        nargs="?",
        const="auto",
        help="include LiteLLM: path of its `litellm` executable, or auto (benchmarks/litellm-venv.sh)",
    )
    parser.add_argument(
        "--compare-ref",
        metavar="REF",
        help="also run the bot as of this git commit (target bot@REF), side by side: before and after",
    )
    parser.add_argument(
        "--rederive", type=Path, metavar="JSON", help="recompute the derived figures of a results file"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it runs, not timing")
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR / "bot-overhead.json")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.runs, args.held = 0.3, 1, "4"
        args.stream_concurrency, args.stream_chunks, args.stream_interval_ms = "1,4", 5, 2.0
        args.generator = args.generator or "python"
    args.generator = args.generator or ("wrk" if loadgen.have_wrk() else "python")
    return args


def levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def litellm_executable(choice: str) -> Path:
    if choice != "auto":
        return Path(choice)
    script = ROOT / "benchmarks" / "litellm-venv.sh"
    return Path(subprocess.run([str(script)], check=True, capture_output=True, text=True).stdout.strip())


def litellm_version(executable: Path) -> str:
    python = executable.parent / "python"
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


def start_targets(
    args: argparse.Namespace, scratch: Path, chunks: int, interval_ms: float, with_retrieval: bool
) -> tuple[subprocess.Popen[bytes], list[Target]]:
    mock_port = free_port()
    logs = scratch / "logs"
    logs.mkdir(exist_ok=True)
    mock = start_mock(
        mock_port, chunks=chunks, interval_ms=interval_ms, cpu=CLIENT_CPU, log=logs / f"mock-{mock_port}.log"
    )
    upstream = f"http://127.0.0.1:{mock_port}/v1"
    targets = [Target("direct", f"{upstream}/chat/completions", f"http://127.0.0.1:{mock_port}/", mock)]
    bots: list[tuple[str, Path | None, Path | None]] = [("bot", None, None)]
    if with_retrieval:
        bots.append(("bot+retrieval", loadgen.DOCS_DIR, None))
    if args.compare_ref:
        bots.append((f"bot@{args.compare_ref}", None, checkout_bot(args.compare_ref, scratch)))
    for name, corpus, source in bots:
        port = free_port()
        process = start_bot(
            port,
            upstream=upstream,
            corpus_dir=corpus,
            workdir=scratch,
            cpu=SERVER_CPU,
            log=logs / f"{port}.log",
            source=source,
        )
        base = f"http://127.0.0.1:{port}"
        targets.append(Target(name, f"{base}/v1/chat/completions", f"{base}/readyz", process))
    port = free_port()
    floor = start_floor(port, upstream=upstream, cpu=SERVER_CPU, log=logs / f"floor-{port}.log")
    base = f"http://127.0.0.1:{port}"
    targets.append(Target("floor", f"{base}/v1/chat/completions", f"{base}/", floor))
    if args.litellm:
        port = free_port()
        process = start_litellm(
            args.litellm_path,
            port,
            upstream=upstream,
            workdir=scratch,
            cpu=SERVER_CPU,
            log=logs / "litellm.log",
        )
        base = f"http://127.0.0.1:{port}"
        targets.append(Target("litellm", f"{base}/v1/chat/completions", f"{base}/health/liveliness", process))
    for target in targets:
        try:
            wait_ready(target.ready, timeout=180, any_status=target.name == "direct")
        except TimeoutError:
            logs_text = "\n".join(p.read_text()[-2000:] for p in logs.iterdir())
            raise SystemExit(f"{target.name} did not start:\n{logs_text}") from None
    return mock, targets


def checkout_bot(ref: str, scratch: Path) -> Path:
    """The bot's source (bot_image/) as of a git commit, extracted into the scratch folder."""
    target = scratch / f"bot-{ref}"
    if not target.exists():
        target.mkdir()
        archive = subprocess.run(
            ["git", "archive", ref, "bot_image"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "bot_image"


def measure(args: argparse.Namespace, url: str, concurrency: int, stream: bool) -> dict[str, Any]:
    if args.generator == "wrk" and not stream:
        return loadgen.run_wrk(
            url, concurrency, args.seconds, loadgen.request_body(stream=False), cpu=CLIENT_CPU
        )
    return asyncio.run(loadgen.run_python(url, concurrency, args.seconds, stream=stream))


def summarise(runs: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        key: report.median([run[key] for run in runs]) for key in (*keys, "cpu_us_per_request")
    }
    summary["errors"] = sum(run["errors"] for run in runs)
    summary["runs"] = runs
    return summary


def added(
    results: dict[str, dict[str, Any]], target: str, keys: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Per concurrency: the median over runs of (target's figure - direct's figure in the same run)."""
    out: dict[str, dict[str, float]] = {}
    for level, summary in results[target].items():
        direct_runs = results["direct"][level]["runs"]
        out[level] = {
            key: report.median(
                [run[key] - base[key] for run, base in zip(summary["runs"], direct_runs, strict=True)]
            )
            for key in keys
        }
    return out


def throughput_at_p99(results: dict[str, Any], bound_ms: float) -> float:
    """The best throughput among the concurrency levels whose p99 stays within the bound (0: none)."""
    return max((s["rps"] for s in results.values() if s["p99_ms"] <= bound_ms and s["rps"] > 0), default=0.0)


def run_phase(
    args: argparse.Namespace,
    targets: list[Target],
    concurrency: list[int],
    stream: bool,
    keys: tuple[str, ...],
    progress: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {
        t.name: {str(c): [] for c in concurrency} for t in targets
    }
    for run in range(args.runs):
        for level in concurrency:
            for target in targets:
                cpu_before = cpu_seconds(target.process.pid)
                result = measure(args, target.url, level, stream)
                cpu_used = cpu_seconds(target.process.pid) - cpu_before
                result["cpu_us_per_request"] = (
                    cpu_used / result["requests"] * 1e6 if result["requests"] else 0
                )
                raw[target.name][str(level)].append(result)
                progress(
                    f"run {run + 1}/{args.runs} c={level:<4} {target.name:<14} "
                    + " ".join(f"{key}={result[key]:.3f}" for key in keys)
                )
    return {
        name: {level: summarise(runs, keys) for level, runs in by_level.items()}
        for name, by_level in raw.items()
    }


def hold(
    args: argparse.Namespace, targets: list[Target], interval_ms: float, progress: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    held: dict[str, dict[str, Any]] = {t.name: {} for t in targets}
    for count in levels(args.held):
        for target in targets:
            figures = asyncio.run(
                loadgen.hold_streams(target.url, count, interval_ms=interval_ms, stall_ms=args.stall_ms)
            )
            held[target.name][str(count)] = figures
            progress(f"held {count:<5} {target.name:<14} held={figures['held']} stalled={figures['stalled']}")
    return held


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.rederive:
        measured: dict[str, Any] = json.loads(args.rederive.read_text())
        derive(measured)
        report.write(measured, args.rederive)
        print(render(measured))
        return
    args.litellm_path = litellm_executable(args.litellm) if args.litellm else None
    concurrency = levels(args.concurrency)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result: dict[str, Any] = {
        "benchmark": "bot-overhead",
        "smoke": args.smoke,
        "machine": report.machine(),
        "versions": report.versions(PACKAGES),
        "generator": "wrk (closed loop, 1 thread)" if args.generator == "wrk" else "asyncio client (aiohttp)",
        "settings": {
            "concurrency": concurrency,
            "seconds": args.seconds,
            "runs": args.runs,
            "stream_chunks": args.stream_chunks,
            "stream_interval_ms": args.stream_interval_ms,
            "stream_concurrency": levels(args.stream_concurrency),
            "held": levels(args.held),
            "stall_ms": args.stall_ms,
            "held_pace": "stream settings"
            if args.smoke
            else f"{HELD_CHUNKS} chunks {HELD_INTERVAL_MS} ms apart",
        },
    }
    if args.litellm_path:
        result["versions"]["litellm"] = litellm_version(args.litellm_path)

    with tempfile.TemporaryDirectory(prefix="bench-bot-") as directory:
        scratch = Path(directory)
        _, targets = start_targets(args, scratch, args.stream_chunks, args.stream_interval_ms, True)
        try:
            # Warm-up: connection pools, first-call imports, the JIT-less interpreter's caches.
            for target in targets:
                asyncio.run(loadgen.run_python(target.url, 4, min(args.seconds, 1.0), stream=False))
            request_keys = ("p50_ms", "p99_ms", "rps")
            requests = run_phase(args, targets, concurrency, False, request_keys, progress)
            ttft_keys = ("ttft_p50_ms", "ttft_p99_ms")
            ttft = run_phase(args, targets, levels(args.stream_concurrency), True, ttft_keys, progress)
            if args.smoke:  # the same processes: a smoke run checks the phase runs, not the pace
                held = hold(args, targets[:2], args.stream_interval_ms, progress)
        finally:
            for target in targets:
                stop(target.process)
        if not args.smoke:
            # A fresh upstream with a realistic pace (40 chunks 50 ms apart), and a bot in front of it.
            _, held_targets = start_targets(args, scratch, HELD_CHUNKS, HELD_INTERVAL_MS, False)
            try:
                held = hold(args, held_targets, HELD_INTERVAL_MS, progress)
            finally:
                for target in held_targets:
                    stop(target.process)

    result["requests"] = requests
    result["ttft"] = ttft
    result["held_streams"] = held
    derive(result)
    report.write(result, args.out)
    print(render(result))
    print(f"\nresults written to {args.out}")


def derive(result: dict[str, Any]) -> None:
    """The figures computed from the measurements: added latency, throughput at a p99, targets."""
    requests, ttft = result["requests"], result["ttft"]
    names = list(requests)
    result["added"] = {
        name: added(requests, name, ("p50_ms", "p99_ms")) for name in names if name != "direct"
    }
    result["throughput_at_p99"] = {
        name: {str(bound): throughput_at_p99(requests[name], bound) for bound in P99_BOUNDS_MS}
        for name in names
    }
    keys = ("ttft_p50_ms", "ttft_p99_ms")
    result["added_ttft"] = {name: added(ttft, name, keys) for name in names if name != "direct"}
    if "litellm" in requests:
        result["vs_litellm"] = versus_litellm(requests)
    result["targets_check"] = check_targets(result)


def versus_litellm(requests: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """At each LiteLLM run's p99: LiteLLM's throughput, and the bot's best throughput within that p99."""
    out = {}
    for level, summary in requests["litellm"].items():
        if summary["rps"] <= 0:
            continue  # no request finished within a measurement: no p99 to compare at
        bound = summary["p99_ms"]
        bot = throughput_at_p99(requests["bot"], bound)
        out[level] = {
            "litellm_p99_ms": bound,
            "litellm_rps": summary["rps"],
            "bot_rps_within_that_p99": bot,
            "ratio": bot / summary["rps"] if summary["rps"] else 0.0,
        }
    return out


def check_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against the measured figures (at concurrency 1, the lowest level)."""
    checks = []
    added_bot = result["added"]["bot"]
    first = next(iter(added_bot))
    checks.append(_check(f"added p50 at c={first} (ms)", added_bot[first]["p50_ms"], 0.5, "max"))
    checks.append(_check(f"added p99 at c={first} (ms)", added_bot[first]["p99_ms"], 3.0, "max"))
    ttft = result["added_ttft"]["bot"]
    first = next(iter(ttft))
    checks.append(
        _check(f"added time to first token at c={first} (ms)", ttft[first]["ttft_p50_ms"], 1.0, "max")
    )
    if "vs_litellm" in result:
        ratios = [entry["ratio"] for entry in result["vs_litellm"].values()]
        checks.append(_check("throughput vs LiteLLM at equal p99 (x, worst level)", min(ratios), 5.0, "min"))
    return checks


def _check(name: str, value: float, limit: float, kind: str) -> dict[str, Any]:
    met = value <= limit if kind == "max" else value >= limit
    return {"name": name, "value": value, "limit": limit, "kind": kind, "met": met}


def _limit(check: dict[str, Any]) -> str:
    return f"{'<=' if check['kind'] == 'max' else '>='} {check['limit']}"


def render(result: dict[str, Any]) -> str:
    requests, added_all = result["requests"], result["added"]
    rows: list[tuple[object, ...]] = []
    for name, by_level in requests.items():
        for level, summary in by_level.items():
            extra = added_all.get(name, {}).get(level, {})
            rows.append(
                (
                    name,
                    level,
                    summary["p50_ms"],
                    summary["p99_ms"],
                    summary["rps"],
                    extra.get("p50_ms", "-"),
                    extra.get("p99_ms", "-"),
                    summary["cpu_us_per_request"],
                    summary["errors"],
                )
            )
    parts = [
        "Non-streamed completions (medians over runs)",
        report.table(
            (
                "target",
                "concurrency",
                "p50 ms",
                "p99 ms",
                "req/s",
                "added p50 ms",
                "added p99 ms",
                "server CPU µs/req",
                "errors",
            ),
            rows,
        ),
    ]
    rows = []
    for name, by_level in result["ttft"].items():
        for level, summary in by_level.items():
            extra = result["added_ttft"].get(name, {}).get(level, {})
            rows.append(
                (name, level, summary["ttft_p50_ms"], summary["ttft_p99_ms"], extra.get("ttft_p50_ms", "-"))
            )
    parts += [
        "\nStreamed completions: time to first token",
        report.table(("target", "concurrency", "TTFT p50 ms", "TTFT p99 ms", "added TTFT p50 ms"), rows),
    ]
    rows = [
        (name, count, f["held"], f["stalled"], f["gap_p99_ms"], f["gap_max_ms"])
        for name, by_count in result["held_streams"].items()
        for count, f in by_count.items()
    ]
    parts += [
        f"\nHeld streams (a stall is a gap over {result['settings']['stall_ms']:.0f} ms between two events)",
        report.table(("target", "streams", "held", "stalled", "worst gap p99 ms", "worst gap max ms"), rows),
    ]
    bounds = result["throughput_at_p99"]
    parts += [
        "\nBest throughput (req/s) with p99 within a bound",
        report.table(
            ("target", *(f"p99 <= {b} ms" for b in P99_BOUNDS_MS)),
            [(name, *values.values()) for name, values in bounds.items()],
        ),
    ]
    if "vs_litellm" in result:
        parts += [
            "\nAgainst LiteLLM at equal p99",
            report.table(
                ("concurrency", "LiteLLM p99 ms", "LiteLLM req/s", "bot req/s within it", "ratio"),
                [(level, *entry.values()) for level, entry in result["vs_litellm"].items()],
            ),
        ]
    parts += [
        "\nTargets",
        report.table(
            ("target", "measured", "limit", "met"),
            [(c["name"], c["value"], _limit(c), c["met"]) for c in result["targets_check"]],
        ),
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    main()
