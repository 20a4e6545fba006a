"""The bot, served by uvicorn in a thread on a free loopback port, for integration tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from chatbot_server.app import create_app
from chatbot_server.settings import Settings, load_settings


class BotServer:
    """Starts the bot with a settings file (as the operator mounts it) plus overrides."""

    def __init__(self, tmp_path: Path, file_settings: dict[str, Any] | None = None, **overrides: Any) -> None:
        config = tmp_path / "settings.json"
        config.write_text(json.dumps(file_settings or {}))
        overrides.setdefault("corpus_dir", tmp_path / "no-corpus")
        overrides.setdefault("api_keys_dir", None)
        self.settings: Settings = load_settings(config, **overrides)
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BotServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.settings), loop="uvloop", http="httptools", log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"the bot at {self.url} did not become ready in {timeout}s")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)

    def __enter__(self) -> BotServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
