"""The chat page in a real browser: Debian's chromium driven by Playwright (no browser download)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_sync
from tests.support.bot_server import BotServer
from tests.support.browser import chromium_installed, chromium_page
from tests.support.fake_llm import FakeLLM

StartBot = Callable[..., BotServer]

pytestmark = pytest.mark.skipif(not chromium_installed(), reason="Debian's chromium is not installed")


@pytest.fixture
def page() -> Iterator[playwright_sync.Page]:
    with chromium_page() as page:
        yield page


def test_the_page_greets_and_streams_an_llm_answer_with_its_sources(
    start_bot: StartBot, corpus: Path, page: playwright_sync.Page
) -> None:
    # A slow upstream, so the answer is visibly written piece by piece.
    with FakeLLM(
        answer="You can send 100 requests per minute with each token, says limits.rst.", chunk_delay=0.05
    ) as fake:
        bot = start_bot(
            {"name": "Docsy", "greeting": "Hi, I'm Docsy. Ask me about the Example API."},
            corpus_dir=corpus,
            **fake.bot_settings(),
        )
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(bot.url)
        playwright_sync.expect(page.locator("h1")).to_have_text("Docsy")
        playwright_sync.expect(page.locator("#greeting")).to_have_text(
            "Hi, I'm Docsy. Ask me about the Example API."
        )
        page.fill("#question", "How many requests per minute are allowed?")
        page.click("#send")
        reply = page.locator(".message.bot").last
        # Mid-stream: part of the answer is shown before the whole of it.
        playwright_sync.expect(reply.locator(".text")).to_contain_text("You can send")
        partial = reply.locator(".text").inner_text()
        assert partial != fake.answer
        playwright_sync.expect(reply).to_have_attribute("data-complete", "true")
        assert reply.locator(".text").inner_text() == fake.answer
        playwright_sync.expect(reply.locator(".sources")).to_contain_text("limits.rst")
        # Everything came from the bot itself: no CDN.
        assert all(url.startswith(bot.url) for url in requests)
        # The conversation is kept in the browser and sent whole on the next turn.
        page.fill("#question", "And per hour?")
        page.keyboard.press("Enter")
        playwright_sync.expect(page.locator(".message.bot").last).to_have_attribute("data-complete", "true")
        sent = fake.requests[-1]["messages"]
        assert [m["content"] for m in sent[1:]] == [
            "How many requests per minute are allowed?",
            fake.answer,
            "And per hour?",
        ]


def test_the_page_asks_for_an_api_key_and_uses_it(
    start_bot: StartBot, tmp_path: Path, page: playwright_sync.Page
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "web").write_text("page-key")
    bot = start_bot(
        {"faq": [{"question": "What are your support hours?", "answer": "Nine to five."}]}, api_keys_dir=keys
    )
    page.goto(bot.url)
    playwright_sync.expect(page.locator("#key-form")).to_be_visible()
    page.fill("#api-key", "page-key")
    page.click("#key-form button")
    playwright_sync.expect(page.locator("#key-form")).to_be_hidden()
    page.fill("#question", "support hours?")
    page.click("#send")
    playwright_sync.expect(page.locator(".message.bot .text").last).to_have_text("Nine to five.")
