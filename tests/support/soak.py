"""Soak the bot: many concurrent streaming clients against the real server process, on loopback.

The bot runs as in its image (`python -m chatbot_server`, uvicorn with uvloop and httptools), in
front of the fake OpenAI-compatible upstream in a process of its own; the clients are aiohttp tasks
in this process, each streaming one answer after another, alternately from the OpenAI API and the
JSON API. Recorded: every status code, completed and broken streams, stalls (a stream with no chunk
for longer than `stall_seconds`), and the bot's RSS and CPU, sampled every second.

    python -m tests.support.soak --clients 1000 --seconds 600     # `make soak`

The integration test runs the same code with a small size; `problems()` is the verdict of both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


@dataclass(frozen=True)
class SoakConfig:
    clients: int = 150
    seconds: float = 15.0
    # Clients start spread over the ramp; RSS before the end of warm-up is not judged.
    ramp_seconds: float = 3.0
    warmup_seconds: float = 5.0
    # The upstream streams `words` chunks, `chunk_delay` apart: about 2 s per answer, like a short
    # LLM answer, so at any moment most clients are in the middle of a stream.
    words: int = 40
    chunk_delay: float = 0.05
    # Each client pauses up to this long between two answers (a user reading).
    pause_seconds: float = 0.5
    stall_seconds: float = 10.0
    # Memory is flat when the median RSS of the last third of the run (after warm-up) is at most
    # this much above the median of the first third.
    rss_growth_tolerance: float = 0.10


@dataclass
class SoakReport:
    config: SoakConfig
    statuses: Counter[int] = field(default_factory=Counter)
    client_errors: Counter[str] = field(default_factory=Counter)
    completed: int = 0
    broken: int = 0  # a 200 stream that ended without its final event, or with an error event
    stalls: int = 0
    max_gap: float = 0.0
    durations: list[float] = field(default_factory=list)
    peak_streams: int = 0  # requests in flight at once, at the peak
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, bytes)
    cpu_seconds: float = 0.0
    elapsed: float = 0.0
    bot_5xx: int = 0
    upstream_errors: int = 0
    metrics_error: str | None = None  # why the bot's metrics could not be read at the end
    client_cpu_seconds: float = 0.0
    load_average: tuple[float, float] = (0.0, 0.0)  # the machine's, at the start and at the end
    exit_code: int | None = None

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.client_errors.values())

    def rss_thirds(self) -> tuple[float, float]:
        """Median RSS (MiB) of the first and last thirds of the samples taken after warm-up."""
        judged = [value for at, value in self.rss if at >= self.config.warmup_seconds]
        if len(judged) < 3:
            raise ValueError(f"only {len(judged)} RSS samples after warm-up: run longer")
        third = len(judged) // 3
        return statistics.median(judged[:third]) / MIB, statistics.median(judged[-third:]) / MIB

    def summary(self) -> str:
        first, last = self.rss_thirds()
        durations = sorted(self.durations) or [0.0]
        p50 = durations[len(durations) // 2]
        p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))]
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        errors = ", ".join(f"{name}: {count}" for name, count in self.client_errors.most_common()) or "none"
        c = self.config
        return "\n".join(
            [
                f"clients                 {c.clients} for {self.elapsed:.0f} s "
                f"(answers of {c.words} chunks, {c.chunk_delay * 1000:.0f} ms apart)",
                f"peak concurrent streams {self.peak_streams}",
                f"requests                {self.requests} ({self.requests / self.elapsed:.0f}/s)",
                f"status codes            {statuses}",
                f"client-side errors      {errors}",
                f"completed streams       {self.completed}",
                f"broken streams          {self.broken}",
                f"stalls (> {c.stall_seconds:.0f} s silent)  {self.stalls}, longest gap {self.max_gap:.2f} s",
                f"stream duration         p50 {p50:.2f} s, p99 {p99:.2f} s",
                f"bot 5xx (its metrics)   {self.bot_5xx}; upstream errors {self.upstream_errors}",
                f"bot RSS                 first third {first:.1f} MiB, last third {last:.1f} MiB "
                f"({(last / first - 1) * 100:+.1f} %), peak {max(v for _, v in self.rss) / MIB:.1f} MiB",
                f"bot CPU                 {self.cpu_seconds:.0f} s "
                f"({self.cpu_seconds / self.elapsed * 100:.0f} % of one core)",
                f"clients' CPU            {self.client_cpu_seconds:.0f} s "
                f"({self.client_cpu_seconds / self.elapsed * 100:.0f} % of one core)",
                f"machine load average    {self.load_average[0]:.1f} at the start, "
                f"{self.load_average[1]:.1f} "
                f"at the end ({os.cpu_count()} CPUs)",
                f"bot exit code (SIGTERM) {self.exit_code}",
            ]
        )


def problems(report: SoakReport) -> list[str]:
    """What went wrong, as sentences; empty when the soak passed."""
    found = []
    server_errors = {status: count for status, count in report.statuses.items() if status >= 500}
    if server_errors:
        found.append(f"clients got server errors: {server_errors}")
    if report.metrics_error:
        found.append(f"the bot's metrics could not be read: {report.metrics_error}")
    if report.bot_5xx:
        found.append(f"the bot counted {report.bot_5xx} 5xx responses")
    if report.client_errors:
        found.append(f"requests failed on the client side: {dict(report.client_errors)}")
    if report.broken:
        found.append(f"{report.broken} streams ended without their final event")
    if report.stalls:
        found.append(f"{report.stalls} streams stalled (longest gap {report.max_gap:.1f} s)")
    if report.peak_streams < report.config.clients * 0.8:
        found.append(f"only {report.peak_streams} of {report.config.clients} clients streamed at once")
    first, last = report.rss_thirds()
    if last > first * (1 + report.config.rss_growth_tolerance):
        found.append(f"the bot's memory grew from {first:.1f} MiB to {last:.1f} MiB")
    if report.exit_code != 0:
        found.append(f"the bot exited with {report.exit_code} after SIGTERM")
    return found


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to the hard limit (children inherit it).

    Each client holds a socket here, and the bot holds two per stream (client and upstream): with
    the common soft limit of 1,024, a thousand streams fail with EMFILE on both sides.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def fake_upstream(words: int, chunk_delay: float) -> Iterator[str]:
    """The fake upstream in its own process; yields its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.fake_llm",
            "--words",
            str(words),
            "--chunk-delay",
            str(chunk_delay),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def bot_process(
    settings: dict[str, object], directory: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m chatbot_server` with these settings; yields the process and its URL."""
    config = directory / "settings.json"
    config.write_text(json.dumps(settings))
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHATBOT_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatbot_server",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    """Until the bot answers /readyz with 200 (the caller bounds the wait)."""
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{url}/readyz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)


def read_rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def read_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


class Streams:
    """The clients' shared tally; a stream is open from its request to its last byte."""

    def __init__(self, report: SoakReport) -> None:
        self.report = report
        self.open = 0

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        self.open += 1
        self.report.peak_streams = max(self.report.peak_streams, self.open)
        try:
            yield
        finally:
            self.open -= 1


QUESTION = "How do I install the client?"


async def lines_with_gaps(response: aiohttp.ClientResponse, report: SoakReport) -> AsyncIterator[bytes]:
    """The response's lines, recording the longest silence between two of them."""
    last = time.monotonic()
    longest = 0.0
    async for line in response.content:
        now = time.monotonic()
        longest = max(longest, now - last)
        last = now
        if line.strip():
            yield line
    report.max_gap = max(report.max_gap, longest)
    if longest > report.config.stall_seconds:
        report.stalls += 1


async def stream_once(session: aiohttp.ClientSession, url: str, api: str, streams: Streams) -> None:
    report = streams.report
    if api == "openai":
        target = f"{url}/v1/chat/completions"
        body: dict[str, object] = {
            "model": "bot",
            "stream": True,
            "messages": [{"role": "user", "content": QUESTION}],
        }
    else:
        target = f"{url}/api/chat"
        body = {"stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    started = time.monotonic()
    try:
        with streams.opened():
            async with session.post(target, json=body) as response:
                report.statuses[response.status] += 1
                if response.status != 200:
                    await response.read()
                    return
                last = b""
                errors = 0
                async for line in lines_with_gaps(response, report):
                    last = line
                    errors += b'"error"' in line
        finished = last.strip() == b"data: [DONE]" if api == "openai" else b'"type": "done"' in last
        if finished and not errors:
            report.completed += 1
            report.durations.append(time.monotonic() - started)
        else:
            report.broken += 1
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        report.client_errors[type(error).__name__] += 1


async def client(
    session: aiohttp.ClientSession, url: str, api: str, start_at: float, stop_at: float, streams: Streams
) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    pause = streams.report.config.pause_seconds
    while time.monotonic() < stop_at:
        await stream_once(session, url, api, streams)
        await asyncio.sleep(random.uniform(0, pause))


async def upstream_open(session: aiohttp.ClientSession, url: str) -> str:
    """The bot's count of open upstream requests, from its metrics ("?" when they do not answer)."""
    try:
        async with session.get(f"{url}/metrics", timeout=aiohttp.ClientTimeout(total=5)) as response:
            for line in (await response.text()).splitlines():
                if line.startswith("chatbot_upstream_open_requests "):
                    return str(int(float(line.split()[1])))
    except (aiohttp.ClientError, TimeoutError):
        pass
    return "?"


async def sample(
    pid: int, streams: Streams, session: aiohttp.ClientSession, url: str, started: float, stop: asyncio.Event
) -> None:
    """The bot's RSS every second, and a progress line on stderr every 10 s."""
    report = streams.report
    while not stop.is_set():
        with contextlib.suppress(OSError):
            report.rss.append((time.monotonic() - started, read_rss(pid)))
        if len(report.rss) % 10 == 0 and report.rss:
            at, rss = report.rss[-1]
            opened = await upstream_open(session, url)
            print(
                f"{at:5.0f} s: {streams.open} in flight, {report.completed} completed, "
                f"{report.broken} broken, "
                f"{sum(report.client_errors.values())} client errors, longest gap {report.max_gap:.1f} s, "
                f"RSS {rss / MIB:.0f} MiB, {opened} upstream requests open",
                file=sys.stderr,
                flush=True,
            )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def count_5xx(metrics: str) -> tuple[int, int]:
    """5xx responses and upstream errors counted by the bot, from its Prometheus text.

    /readyz answers 503 by design until the corpus is indexed: not an error.
    """
    server_errors = upstream_errors = 0
    for line in metrics.splitlines():
        if line.startswith("chatbot_http_requests_total{") and 'status="5' in line and "/readyz" not in line:
            server_errors += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("chatbot_upstream_errors_total{"):
            upstream_errors += int(float(line.rsplit(" ", 1)[1]))
    return server_errors, upstream_errors


async def drive(config: SoakConfig, pid: int, url: str) -> SoakReport:
    report = SoakReport(config)
    streams = Streams(report)
    connector = aiohttp.TCPConnector(limit=0)  # one connection per client, kept alive
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=config.stall_seconds * 4)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with asyncio.timeout(300):  # a busy machine imports and indexes slowly
            await wait_ready(session, url)
        started = time.monotonic()
        cpu_before = read_cpu_seconds(pid)
        client_cpu_before = time.process_time()
        load_before = os.getloadavg()[0]
        stop_at = started + config.seconds
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample(pid, streams, session, url, started, stop_sampling))
        clients = [
            client(
                session,
                url,
                "openai" if number % 2 == 0 else "chat",
                started + config.ramp_seconds * number / config.clients,
                stop_at,
                streams,
            )
            for number in range(config.clients)
        ]
        await asyncio.gather(*clients)
        stop_sampling.set()
        await sampler
        report.elapsed = time.monotonic() - started
        report.cpu_seconds = read_cpu_seconds(pid) - cpu_before
        report.client_cpu_seconds = time.process_time() - client_cpu_before
        report.load_average = (load_before, os.getloadavg()[0])
        try:
            async with session.get(f"{url}/metrics", timeout=aiohttp.ClientTimeout(total=120)) as response:
                report.bot_5xx, report.upstream_errors = count_5xx(await response.text())
        except (aiohttp.ClientError, TimeoutError) as error:
            report.metrics_error = f"{type(error).__name__}: {error}"
    return report


def run_soak(config: SoakConfig) -> SoakReport:
    raise_open_files_limit()
    with tempfile.TemporaryDirectory(prefix="soak-") as temporary:
        directory = Path(temporary)
        corpus = directory / "corpus"
        corpus.mkdir()
        (corpus / "install.md").write_text(
            "# Installing\n\nRun `pip install example` to install the client.\n"
        )
        with fake_upstream(config.words, config.chunk_delay) as upstream:
            settings = {
                "llm_provider": "openai-compatible",
                "llm_base_url": upstream,
                "llm_max_retries": 0,
                "llm_timeout_seconds": 30,
                "corpus_dir": str(corpus),
                "api_keys_dir": None,
            }
            with bot_process(settings, directory) as (process, url):
                report = asyncio.run(drive(config, process.pid, url))
                process.send_signal(signal.SIGTERM)
                try:
                    report.exit_code = process.wait(30)
                except subprocess.TimeoutExpired:
                    report.exit_code = None
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.soak", description=__doc__.split("\n\n")[0]
    )
    defaults = SoakConfig()
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument(
        "--ramp-seconds", type=float, default=None, help="default: a tenth of the run, at most 30"
    )
    parser.add_argument("--warmup-seconds", type=float, default=None, help="default: twice the ramp")
    parser.add_argument("--words", type=int, default=defaults.words, help="chunks per answer")
    parser.add_argument(
        "--chunk-delay", type=float, default=defaults.chunk_delay, help="seconds between chunks"
    )
    parser.add_argument("--pause-seconds", type=float, default=defaults.pause_seconds)
    parser.add_argument("--stall-seconds", type=float, default=defaults.stall_seconds)
    args = parser.parse_args()
    ramp = args.ramp_seconds if args.ramp_seconds is not None else min(30.0, args.seconds / 10)
    warmup = args.warmup_seconds if args.warmup_seconds is not None else 2 * ramp
    config = SoakConfig(
        clients=args.clients,
        seconds=args.seconds,
        ramp_seconds=ramp,
        warmup_seconds=warmup,
        words=args.words,
        chunk_delay=args.chunk_delay,
        pause_seconds=args.pause_seconds,
        stall_seconds=args.stall_seconds,
    )
    report = run_soak(config)
    print(report.summary())
    found = problems(report)
    for problem in found:
        print(f"FAILED: {problem}")
    print("soak passed" if not found else "soak FAILED")
    raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    main()
