"""The processes a benchmark runs: the mock upstream, bots, the LiteLLM proxy; ports and readiness.

Each runs as its own process (so the load generator, the bot and the upstream never share an event
loop), optionally pinned to one CPU with taskset so that on a 2-core machine the server under test
and the client side each keep a core.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    """The command, run on one CPU when asked and possible (taskset, more than one CPU)."""
    if cpu is None or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        return list(command)
    return ["taskset", "-c", str(cpu % (os.cpu_count() or 1)), *command]


def _spawn(
    command: Sequence[str], log: Path | None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    output = log.open("wb") if log is not None else subprocess.DEVNULL
    return subprocess.Popen(
        list(command),
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def start_mock(
    port: int, *, chunks: int, interval_ms: float, cpu: int | None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "benchmarks.mock_upstream", "--port", str(port)]
    command += ["--chunks", str(chunks), "--interval-ms", str(interval_ms)]
    return _spawn(pinned(command, cpu), log)


def start_floor(
    port: int, *, upstream: str, cpu: int | None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """The bare ASGI proxy on aiohttp (benchmarks/floor_proxy.py): the least a Python proxy adds."""
    command = [sys.executable, "-m", "benchmarks.floor_proxy", "--port", str(port), "--upstream", upstream]
    return _spawn(pinned(command, cpu), log)


def start_bot(
    port: int,
    *,
    upstream: str,
    corpus_dir: Path | None,
    workdir: Path,
    cpu: int | None,
    log: Path | None = None,
    source: Path | None = None,
) -> subprocess.Popen[bytes]:
    """The bot as in its image (`python -m chatbot_server`), retrieval on when a corpus is given.

    With `source` (a bot_image folder, e.g. from an older commit), that copy of the bot runs instead.
    """
    empty = workdir / "empty-corpus"
    empty.mkdir(parents=True, exist_ok=True)
    settings = {
        "name": "bench",
        "llm_provider": "openai",
        "llm_base_url": upstream,
        "llm_max_retries": 0,
        "retrieval_top_k": 4 if corpus_dir is not None else 0,
        "corpus_dir": str(corpus_dir or empty),
        "api_keys_dir": None,
    }
    config = workdir / f"bot-{port}.json"
    config.write_text(json.dumps(settings))
    command = [sys.executable, "-m", "chatbot_server", "--config", str(config)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {"CHATBOT_LLM_API_KEY": "unused"}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return _spawn(pinned(command, cpu), log, env)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time used by a process so far (0 where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_litellm(
    executable: Path, port: int, *, upstream: str, workdir: Path, cpu: int | None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """The LiteLLM proxy with one model routed to the mock upstream, one worker, no database."""
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: bench\n"
        "    litellm_params:\n"
        "      model: openai/mock-model\n"
        f"      api_base: {upstream}\n"
        "      api_key: unused\n"
        "litellm_settings:\n"
        "  num_retries: 0\n"
        "  set_verbose: false\n"
        "  telemetry: false\n"
    )
    command = [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--num_workers", "1"]
    # No network here: the bundled model cost map instead of a download at start-up.
    env = {"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "NO_DOCS": "True"}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return _spawn(pinned(command, cpu), log, env)


def wait_ready(url: str, *, timeout: float, any_status: bool = False) -> None:
    """Wait until the URL answers 200 (or anything at all, with any_status)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
        except httpx.HTTPError as error:
            last = str(error) or type(error).__name__
        else:
            if any_status or response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s: {last}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
