"""Profile the bot's `/v1/chat/completions` under load with pyinstrument.

The mock upstream runs in its own process; the bot runs in this process under the profiler, and
wrk (or, without it, the benchmark's asyncio client) loads it from another process for a few
seconds. The profile is written as text (and HTML next to it) for docs/benchmarks.md.

    python -m benchmarks.profile_bot --seconds 10 --concurrency 16 --out /tmp/bot-profile.txt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import threading
from pathlib import Path

import uvicorn
import uvloop
from pyinstrument import Profiler

from benchmarks import loadgen
from benchmarks.processes import free_port, start_mock, wait_ready
from chatbot_server.app import create_app
from chatbot_server.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_bot", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stream", action="store_true", help="profile streamed completions")
    parser.add_argument("--retrieval", action="store_true", help="index this repository's docs")
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval (s)")
    parser.add_argument("--out", type=Path, default=Path("bot-profile.txt"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as scratch:
        mock_port, bot_port = free_port(), free_port()
        mock = start_mock(mock_port, chunks=20, interval_ms=0.0, cpu=None)
        try:
            wait_ready(f"http://127.0.0.1:{mock_port}/", timeout=20, any_status=True)
            corpus = loadgen.DOCS_DIR if args.retrieval else Path(scratch)
            settings = Settings.model_validate(
                {
                    "name": "bench",
                    "llm_provider": "openai",
                    "llm_base_url": f"http://127.0.0.1:{mock_port}/v1",
                    "llm_api_key": "unused",
                    "llm_max_retries": 0,
                    "retrieval_top_k": 4 if args.retrieval else 0,
                    "corpus_dir": corpus,
                    "api_keys_dir": None,
                    "host": "127.0.0.1",
                    "port": bot_port,
                }
            )
            config = uvicorn.Config(
                create_app(settings),
                host="127.0.0.1",
                port=bot_port,
                loop="uvloop",
                http="httptools",
                log_level="warning",
                access_log=False,
                server_header=False,
            )
            server = uvicorn.Server(config)
            url = f"http://127.0.0.1:{bot_port}/v1/chat/completions"
            # The profiler samples the thread that starts it: this one, where the bot's loop runs. It
            # starts before the server does, so the profile's first second or so is start-up.
            profiler = Profiler(interval=args.interval, async_mode="disabled")
            summary: dict[str, object] = {}

            def drive() -> None:
                try:
                    wait_ready(f"http://127.0.0.1:{bot_port}/readyz", timeout=60)
                    result = _load(url, args.concurrency, args.seconds, args.stream)
                    summary.update(result)
                finally:
                    server.should_exit = True

            driver = threading.Thread(target=drive, name="load")
            driver.start()
            profiler.start()
            uvloop.run(server.serve())
            driver.join()
            profiler.stop()
        finally:
            mock.terminate()
            mock.wait(10)
    args.out.write_text(profiler.output_text(unicode=True, color=False, show_all=True))
    args.out.with_suffix(".html").write_text(profiler.output_html())
    print(json.dumps(summary, indent=2))
    print(f"profile written to {args.out} and {args.out.with_suffix('.html')}")


def _load(url: str, concurrency: int, seconds: float, stream: bool) -> dict[str, object]:
    if not stream and shutil.which("wrk"):
        return loadgen.run_wrk(url, concurrency, seconds, loadgen.request_body(stream=False), cpu=None)
    return asyncio.run(loadgen.run_python(url, concurrency, seconds, stream=stream))


if __name__ == "__main__":
    main()
