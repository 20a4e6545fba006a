"""`python -m chatbot_server`: run the bot.

In a pod, everything comes from the environment and the mounted settings file. On a laptop:

    python -m chatbot_server --corpus ./docs            # offline bot over a local folder
    python -m chatbot_server --config settings.json --port 8081
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import uvicorn

import chatbot_contract as contract
from chatbot_server.app import create_app
from chatbot_server.settings import SettingsError, load_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m chatbot_server",
        description="Run the chatbot: a web chat page, a JSON API and an OpenAI-compatible API.",
        epilog=f"Every setting can also be given as an environment variable {contract.ENV_PREFIX}<FIELD> "
        "or in the settings file; see docs/bot-server.md.",
    )
    parser.add_argument("--corpus", type=Path, help="folder of documents to answer from (corpus_dir)")
    parser.add_argument(
        "--config",
        type=Path,
        help=f"settings JSON file (default: ${contract.CONFIG_FILE_ENV} or {contract.CONFIG_FILE})",
    )
    parser.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help=f"port to listen on (default {contract.PORT})")
    parser.add_argument("--name", help="the bot's name")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "corpus_dir": args.corpus,
            "host": args.host,
            "port": args.port,
            "name": args.name,
        }.items()
        if value is not None
    }
    try:
        settings = load_settings(args.config, **overrides)
    except SettingsError as error:
        print(f"chatbot_server: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, _exit_drained)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=args.log_level,
        access_log=args.access_log,
        server_header=False,
        timeout_graceful_shutdown=contract.DRAIN_SECONDS,
    )


def _exit_drained(signum: int, _: object) -> None:
    # uvicorn drains the open streams, then raises the signal it caught again; the shutdown was
    # clean by then, and the exit status says so (SIGTERM's default would make it 143).
    raise SystemExit(0)


if __name__ == "__main__":
    main()
