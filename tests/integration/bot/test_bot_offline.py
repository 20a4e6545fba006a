"""The bot with no LLM: FAQ, corpus passages and the fallback, through the JSON and OpenAI APIs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.support.bot_server import BotServer

from chatbot_server.app import create_app

from .conftest import FAQ

StartBot = Callable[..., BotServer]


def ask(bot: BotServer, question: str, **extra: object) -> httpx.Response:
    return httpx.post(
        f"{bot.url}/api/chat", json={"messages": [{"role": "user", "content": question}], **extra}
    )


def test_a_paraphrased_faq_question_gets_the_faq_answer(start_bot: StartBot, corpus: Path) -> None:
    bot = start_bot({"faq": FAQ}, corpus_dir=corpus)
    response = ask(bot, "when is your support available, which hours?")
    assert response.status_code == 200
    assert response.json()["answer"] == "Monday to Friday, 9am to 5pm."
    assert response.json()["mode"] == "faq"


def test_a_documentation_question_is_answered_from_the_corpus_with_its_source(
    start_bot: StartBot, corpus: Path
) -> None:
    bot = start_bot({"faq": FAQ}, corpus_dir=corpus)
    body = ask(bot, "How many requests per minute does the API allow?").json()
    assert body["mode"] == "corpus"
    assert "100 requests per minute" in body["answer"]
    assert body["sources"][0]["path"] == "limits.rst"
    assert body["sources"][0]["title"] == "Rate limits"


def test_html_documents_are_searched_as_text_without_their_scripts(start_bot: StartBot, corpus: Path) -> None:
    bot = start_bot(corpus_dir=corpus)
    body = ask(bot, "When are invoices sent?").json()
    assert "Invoices are sent monthly" in body["answer"]
    assert "tracking" not in body["answer"]
    assert body["sources"][0]["path"] == "billing.html"


def test_an_unknown_question_gets_the_configured_fallback_message(start_bot: StartBot, corpus: Path) -> None:
    bot = start_bot({"fallback_message": "Our team will e-mail you."}, corpus_dir=corpus)
    body = ask(bot, "Can you recommend a good pizzeria?").json()
    expected = {"answer": "Our team will e-mail you.", "mode": "fallback", "sources": [], "error": None}
    assert body == {**expected, "model": None}


def test_the_default_fallback_is_a_human_will_be_in_touch(start_bot: StartBot) -> None:
    bot = start_bot()
    assert ask(bot, "Anything at all?").json()["answer"] == "A human will be in touch shortly."


def test_a_streamed_offline_answer_ends_with_done(start_bot: StartBot, corpus: Path) -> None:
    bot = start_bot(corpus_dir=corpus)
    response = ask(bot, "how do I configure my token?", stream=True)
    assert response.headers["content-type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events[0] == {
        "type": "sources",
        "sources": [
            {
                "path": "guides/install.md",
                "title": "Installing Example > Configuration",
                "score": events[0]["sources"][0]["score"],
                "url": None,  # a corpus from a folder, not fetched from git
            }
        ],
    }
    assert "EXAMPLE_TOKEN" in events[1]["text"]
    assert events[-1] == {"type": "done", "mode": "corpus", "model": None}


def test_openai_endpoint_answers_offline_with_sources_in_the_text(start_bot: StartBot, corpus: Path) -> None:
    bot = start_bot({"name": "docsy"}, corpus_dir=corpus)
    response = httpx.post(
        f"{bot.url}/v1/chat/completions",
        json={"model": "docsy", "messages": [{"role": "user", "content": "What is the rate limit?"}]},
    )
    completion = response.json()
    assert completion["object"] == "chat.completion"
    assert completion["model"] == "docsy"
    text = completion["choices"][0]["message"]["content"]
    assert "100 requests per minute" in text
    assert "Sources:\n- limits.rst (Rate limits)" in text
    assert completion["usage"]["prompt_tokens"] > 0


def test_the_api_needs_a_key_when_keys_are_mounted(start_bot: StartBot, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "team-a").write_text("key-a\n")
    (keys / "..data").mkdir()  # a Secret volume's internals are not keys
    bot = start_bot(api_keys_dir=keys)
    missing = ask(bot, "hi")
    assert missing.status_code == 401
    assert "requires an API key" in missing.json()["error"]["message"]
    wrong = httpx.post(
        f"{bot.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer nope"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    right = httpx.post(
        f"{bot.url}/api/chat",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer key-a"},
    )
    assert right.status_code == 200
    # The page, the probes and the page's info stay public, and tell the page to ask for a key.
    assert httpx.get(f"{bot.url}/").status_code == 200
    assert httpx.get(f"{bot.url}/healthz").status_code == 200
    assert httpx.get(f"{bot.url}/api/info").json()["auth_required"] is True


def test_limits_give_clear_4xx_errors(start_bot: StartBot) -> None:
    bot = start_bot({"max_messages": 3, "max_message_chars": 50, "max_body_bytes": 2048})
    too_many = httpx.post(
        f"{bot.url}/api/chat",
        json={"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}] * 2},
    )
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == "too_many_messages"
    too_long = httpx.post(
        f"{bot.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "x" * 51}]},
    )
    assert too_long.status_code == 400
    assert too_long.json()["error"] == {
        "message": "Message 0 is 51 characters long; the limit is 50.",
        "type": "invalid_request_error",
        "param": "messages.0.content",
        "code": "message_too_long",
    }
    too_big = httpx.post(
        f"{bot.url}/v1/chat/completions",
        content=b"{" + b" " * 4096 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "request_too_large"

    def chunked() -> object:
        yield b'{"messages": [{"role": "user", "content": "'
        yield b"y" * 4096
        yield b'"}]}'

    too_big_chunked = httpx.post(
        f"{bot.url}/api/chat", content=chunked(), headers={"Content-Type": "application/json"}
    )
    assert too_big_chunked.status_code == 413


def test_a_malformed_openai_request_gets_an_openai_shaped_400(start_bot: StartBot) -> None:
    bot = start_bot()
    response = httpx.post(
        f"{bot.url}/v1/chat/completions", json={"model": "m", "messages": [{"role": "robot"}]}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"].startswith("messages.0")


def test_metrics_count_requests_answers_and_retrieval(start_bot: StartBot, corpus: Path) -> None:
    bot = start_bot({"faq": FAQ}, corpus_dir=corpus)
    ask(bot, "What are your support hours?")
    ask(bot, "What is the rate limit?")
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert 'chatbot_http_requests_total{method="POST",route="/api/chat",status="200"} 2.0' in metrics
    assert 'chatbot_answers_total{mode="faq"} 1.0' in metrics
    assert 'chatbot_retrieval_queries_total{result="hit"} 1.0' in metrics
    assert "chatbot_corpus_chunks 4.0" in metrics
    assert "chatbot_http_request_duration_seconds_bucket" in metrics


def test_the_transcript_log_records_answers_as_json_lines_without_keys(
    start_bot: StartBot, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "k").write_text("very-secret-key")
    bot = start_bot({"faq": FAQ, "transcript_log": True}, api_keys_dir=keys)
    httpx.post(
        f"{bot.url}/api/chat",
        json={"messages": [{"role": "user", "content": "support hours?"}]},
        headers={"Authorization": "Bearer very-secret-key"},
    )
    out = capfd.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert records[-1]["question"] == "support hours?"
    assert records[-1]["answer"] == "Monday to Friday, 9am to 5pm."
    assert "very-secret-key" not in out


async def test_before_indexing_readyz_is_503_and_chat_asks_to_retry(tmp_path: Path) -> None:
    # The lifespan is not run, so the bot is exactly as it is while the corpus is being indexed.
    app = create_app(BotServer(tmp_path).settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["reason"] == "indexing the corpus"
        chat = await client.post("/api/chat", json={"messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 503
        assert chat.headers["retry-after"] == "2"
        assert "still indexing" in chat.json()["error"]["message"]
