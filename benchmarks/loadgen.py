"""Load generators: wrk for request latency and throughput, an asyncio client for streams.

wrk (benchmarks/install-tools.sh) runs a closed loop of `concurrency` connections for a fixed time
and keeps an exact latency histogram; a Lua `done` hook writes its figures as JSON. The asyncio
client (aiohttp) does what wrk cannot: time to first token and long-held streams, and it stands in
for wrk in the CI smoke run. The same generator is used for every target of one measurement.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from benchmarks.processes import ROOT, pinned

DOCS_DIR = ROOT / "docs"
QUESTION = "How do I install the operator and point a ChatBot at my documentation?"


def request_body(*, stream: bool) -> bytes:
    """One user question, as OpenAI clients send it."""
    body: dict[str, Any] = {"model": "bench", "messages": [{"role": "user", "content": QUESTION}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    values = np.array(seconds) * 1000
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
        "max_ms": float(values.max()),
    }


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]

function done(summary, latency, requests)
  local errors = summary.errors
  local out = io.open([==[{out}]==], "w")
  out:write(string.format(
    '{{"requests": %d, "duration_s": %.6f, "p50_ms": %.4f, "p99_ms": %.4f, "max_ms": %.4f, ' ..
    '"errors": %d}}',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout))
  out:close()
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, concurrency: int, seconds: float, body: bytes, *, cpu: int | None) -> dict[str, Any]:
    """A closed loop of `concurrency` connections for `seconds`: throughput, p50, p99, errors."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as scratch:
        out = Path(scratch) / "result.json"
        script = Path(scratch) / "post.lua"
        script.write_text(_WRK_SCRIPT.format(body=body.decode(), out=out))
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
        command += ["-s", str(script), url]
        subprocess.run(pinned(command, cpu), check=True, capture_output=True, timeout=seconds + 60)
        result: dict[str, Any] = json.loads(out.read_text())
    result["rps"] = result["requests"] / result["duration_s"]
    return result


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)
    errors: int = 0


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, stream: bool, tally: _Tally) -> None:
    started = time.perf_counter()
    try:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
            if response.status != 200:
                await response.read()
                tally.errors += 1
                return
            if not stream:
                await response.read()
            else:
                waiting = True
                async for line in response.content:
                    if waiting and _has_content(line):
                        tally.first_tokens.append(time.perf_counter() - started)
                        waiting = False
    except (aiohttp.ClientError, TimeoutError):
        tally.errors += 1
        return
    tally.latencies.append(time.perf_counter() - started)


def _has_content(line: bytes) -> bool:
    """Whether an SSE line carries a piece of the answer (not the empty role event, not [DONE])."""
    if not line.startswith(b"data: {"):
        return False
    try:
        choices = json.loads(line[6:]).get("choices") or []
    except ValueError:
        return False
    return any((choice.get("delta") or {}).get("content") for choice in choices)


async def run_python(url: str, concurrency: int, seconds: float, *, stream: bool) -> dict[str, Any]:
    """The asyncio client's closed loop: the same figures as run_wrk, plus time to first token."""
    tally = _Tally()
    body = request_body(stream=stream)
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await _one(session, url, body, stream, tally)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        duration = time.perf_counter() - started
    result: dict[str, Any] = {
        "requests": len(tally.latencies),
        "duration_s": duration,
        "errors": tally.errors,
        "rps": len(tally.latencies) / duration,
        **percentiles_ms(tally.latencies),
    }
    if stream:
        ttft = percentiles_ms(tally.first_tokens)
        result.update({"ttft_p50_ms": ttft["p50_ms"], "ttft_p99_ms": ttft["p99_ms"]})
    return result


async def hold_streams(url: str, streams: int, *, interval_ms: float, stall_ms: float) -> dict[str, Any]:
    """Open `streams` streamed completions at once and watch the gaps between their events.

    A stream stalls when any gap between two events exceeds `stall_ms` (the upstream sends one every
    `interval_ms`), when it fails, or when it ends without `[DONE]`.
    """
    body = request_body(stream=True)
    gaps: list[float] = []
    stalled = 0
    completed = 0
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    start_all = asyncio.Event()

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal stalled, completed
        await start_all.wait()
        worst = 0.0
        done = False
        try:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                if response.status != 200:
                    stalled += 1
                    return
                last = None
                async for line in response.content:
                    if not line.startswith(b"data:"):
                        continue
                    now = time.perf_counter()
                    if last is not None:
                        worst = max(worst, now - last)
                    last = now
                    done = line.startswith(b"data: [DONE]")
        except (aiohttp.ClientError, TimeoutError):
            stalled += 1
            return
        gaps.append(worst)
        if not done or worst * 1000 > stall_ms:
            stalled += 1
        else:
            completed += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(one(session)) for _ in range(streams)]
        await asyncio.sleep(0)
        started = time.perf_counter()
        start_all.set()
        await asyncio.gather(*tasks)
        duration = time.perf_counter() - started
    worst_gaps = percentiles_ms(gaps)
    return {
        "streams": streams,
        "held": completed,
        "stalled": stalled,
        "interval_ms": interval_ms,
        "stall_ms": stall_ms,
        "gap_p50_ms": worst_gaps["p50_ms"],
        "gap_p99_ms": worst_gaps["p99_ms"],
        "gap_max_ms": worst_gaps["max_ms"],
        "duration_s": duration,
    }
