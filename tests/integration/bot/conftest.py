"""Fixtures for the bot's integration tests: a small corpus, the fake upstream, bot servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.bot_server import BotServer
from tests.support.fake_llm import FakeLLM

FAQ = [
    {"question": "What are your support hours?", "answer": "Monday to Friday, 9am to 5pm."},
    {
        "question": "How do I reset my password?",
        "answer": "Use the 'Forgot password' link on the sign-in page.",
    },
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "install.md").write_text(
        "# Installing Example\n\nRun `pip install example` to install the client.\n\n"
        "## Configuration\n\nSet the EXAMPLE_TOKEN environment variable to your API token. "
        "Tokens are created in the dashboard under Settings.\n"
    )
    (root / "limits.rst").write_text(
        "Rate limits\n===========\n\nThe API allows 100 requests per minute per token. "
        "Exceeding the limit returns HTTP 429.\n"
    )
    (root / "billing.html").write_text(
        "<html><head><title>Billing</title><script>var tracking = 1;</script></head>"
        "<body><h1>Billing</h1><p>Invoices are sent monthly by e-mail.</p></body></html>"
    )
    return root


@pytest.fixture
def start_bot(tmp_path: Path) -> Iterator[Callable[..., BotServer]]:
    """Start a bot with settings.json values (as keyword `file`) and overrides; stopped after the test."""
    servers: list[BotServer] = []

    def start(file: dict[str, Any] | None = None, **overrides: Any) -> BotServer:
        directory = tmp_path / f"bot{len(servers)}"
        directory.mkdir()
        server = BotServer(directory, file, **overrides)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake
