"""The bot in front of an OpenAI-compatible upstream (the fake on loopback): answers and failures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.support.bot_server import BotServer
from tests.support.fake_llm import FakeLLM

from .conftest import FAQ

StartBot = Callable[..., BotServer]


def chat(
    bot: BotServer, question: str, stream: bool = False, history: list[dict[str, str]] | None = None
) -> httpx.Response:
    messages = [*(history or []), {"role": "user", "content": question}]
    return httpx.post(f"{bot.url}/api/chat", json={"messages": messages, "stream": stream}, timeout=20)


def events(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


def completion(bot: BotServer, question: str, **extra: Any) -> httpx.Response:
    body = {"model": "anything", "messages": [{"role": "user", "content": question}], **extra}
    return httpx.post(f"{bot.url}/v1/chat/completions", json=body, timeout=20)


def test_the_llm_gets_the_system_prompt_faq_and_passages_and_the_user_gets_its_answer(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path
) -> None:
    bot = start_bot(
        {
            "system_prompt": "You are Docsy.",
            "faq": FAQ,
            "model": "ft:gpt-4o-mini:acme::abc123",
            "temperature": 0.2,
            "max_tokens": 300,
            "top_p": 0.9,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.3,
        },
        corpus_dir=corpus,
        **fake_llm.bot_settings(),
    )
    body = chat(bot, "What is the rate limit per minute?").json()
    assert body["answer"] == fake_llm.answer
    assert body["mode"] == "llm"
    assert body["sources"][0]["path"] == "limits.rst"
    sent = fake_llm.requests[-1]
    assert sent["model"] == "ft:gpt-4o-mini:acme::abc123"  # fine-tune ids pass through unchanged
    assert (sent["temperature"], sent["max_tokens"], sent["top_p"]) == (0.2, 300, 0.9)
    assert (sent["presence_penalty"], sent["frequency_penalty"]) == (0.1, 0.3)
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are Docsy.")
    assert "Monday to Friday, 9am to 5pm." in system["content"]  # FAQ as authoritative answers
    assert "[limits.rst - Rate limits]" in system["content"]  # passages with their source paths
    assert sent["messages"][-1] == {"role": "user", "content": "What is the rate limit per minute?"}


def test_the_answer_streams_as_ndjson_deltas(start_bot: StartBot, fake_llm: FakeLLM) -> None:
    bot = start_bot(**fake_llm.bot_settings())
    received = events(chat(bot, "Say hello", stream=True))
    deltas = [event["text"] for event in received if event["type"] == "delta"]
    assert len(deltas) > 3
    assert "".join(deltas) == fake_llm.answer
    assert received[-1] == {"type": "done", "mode": "llm", "model": "gpt-4o-mini"}


def test_the_history_is_trimmed_to_the_context_budget_oldest_first(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot({"max_context_tokens": 200, "system_prompt": "Be brief."}, **fake_llm.bot_settings())
    history = []
    for turn in range(10):
        history += [
            {"role": "user", "content": f"question {turn} " + "word " * 20},
            {"role": "assistant", "content": f"answer {turn} " + "word " * 20},
        ]
    chat(bot, "the latest question", history=history)
    sent = fake_llm.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1] == {"role": "user", "content": "the latest question"}
    assert 2 < len(sent) < 22
    assert sent[-2]["content"].startswith("answer 9")  # the most recent turns are the ones kept
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert f"chatbot_trimmed_turns_total {20 - (len(sent) - 2)}.0" in metrics


def test_upstream_429s_are_retried_by_the_client_and_the_user_gets_the_answer(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings(llm_max_retries=2))
    fake_llm.play("429", "500")
    body = chat(bot, "hello?").json()
    assert body["answer"] == fake_llm.answer
    assert len(fake_llm.requests) == 3
    # Streamed: the retries are the SDK's, and its stream is relayed the same way.
    fake_llm.play("429", "500")
    received = events(chat(bot, "hello?", stream=True))
    assert "".join(event["text"] for event in received if event["type"] == "delta") == fake_llm.answer
    assert received[-1] == {"type": "done", "mode": "llm", "model": "gpt-4o-mini"}
    fake_llm.play("500")
    response = completion(bot, "hello?", stream=True)
    assert response.text.endswith("data: [DONE]\n\n")
    assert len(fake_llm.requests) == 3 + 3 + 2


def test_a_rate_limited_upstream_is_a_429_on_v1_and_the_fallback_on_the_page_api(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings())
    fake_llm.play("429", "429")
    response = completion(bot, "hello?")
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    body = chat(bot, "hello?").json()
    assert body["answer"] == "A human will be in touch shortly."
    assert body["mode"] == "fallback"
    assert "rate limiting" in body["error"]
    assert 'chatbot_upstream_errors_total{kind="rate_limited"} 2.0' in httpx.get(f"{bot.url}/metrics").text


def test_an_upstream_500_is_a_clear_502(start_bot: StartBot, fake_llm: FakeLLM) -> None:
    bot = start_bot(**fake_llm.bot_settings())
    fake_llm.play("500", "500")
    response = completion(bot, "hello?", stream=True)
    assert response.status_code == 502
    assert response.json()["error"]["message"].startswith("The language model returned HTTP 500")
    assert "Traceback" not in response.text
    assert chat(bot, "hello?", stream=True).text.count('"type": "error"') == 1


def test_an_upstream_redirect_is_followed_as_the_sdk_follows_it(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings())
    for stream in (False, True):
        fake_llm.play("redirect")
        response = completion(bot, "hello?", stream=stream)
        assert response.status_code == 200, response.text
        assert (
            "data: [DONE]" in response.text if stream else response.json()["choices"][0]["message"]["content"]
        )
        assert fake_llm.paths[-2:] == ["/v1/chat/completions", "/v1/chat/completions?redirected=1"]


def test_a_disconnect_mid_stream_ends_the_stream_with_an_error_event(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings())
    fake_llm.play("disconnect")
    received = events(chat(bot, "hello?", stream=True))
    assert [event["type"] for event in received][-2:] == ["error", "done"]
    assert received[-1]["mode"] == "llm"  # the partial answer stays, with the error under it
    fake_llm.play("disconnect")
    response = completion(bot, "hello?", stream=True)
    assert response.status_code == 200
    last = response.text.strip().split("\n\n")[-1]
    assert json.loads(last.removeprefix("data: "))["error"]["type"] == "upstream_error"


def test_an_upstream_error_mid_answer_comes_after_the_words_that_arrived_with_it(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings())
    fake_llm.play("error-mid")
    received = events(chat(bot, "hello?", stream=True))
    assert [event["type"] for event in received] == ["delta", "delta", "error", "done"]
    failure = "The language model failed mid-answer: The server had an error."
    assert received[2]["message"] == failure
    assert received[-1]["mode"] == "llm"  # the two words stay, with the error under them
    fake_llm.play("error-mid")
    response = completion(bot, "hello?", stream=True)
    assert response.status_code == 200
    payloads = [json.loads(event.removeprefix("data: ")) for event in response.text.strip().split("\n\n")]
    words = [p["choices"][0]["delta"].get("content") for p in payloads[:-1]]
    assert words[0] == ""  # the role event
    assert len(words) == 3  # then the two words
    assert payloads[-1]["error"]["message"] == failure


def test_a_stalled_upstream_times_out_instead_of_hanging(start_bot: StartBot, fake_llm: FakeLLM) -> None:
    bot = start_bot(**fake_llm.bot_settings(llm_timeout_seconds=0.5))
    fake_llm.play("stall")
    started = time.monotonic()
    response = completion(bot, "hello?")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    fake_llm.play("stall-mid")
    received = events(chat(bot, "hello?", stream=True))
    assert received[-2] == {"type": "error", "message": "The language model did not answer in time."}
    assert time.monotonic() - started < 10


def test_azure_openai_is_called_with_the_deployment_and_api_version(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(
        llm_provider="azure-openai",
        llm_base_url=fake_llm.endpoint,
        llm_api_key="azure-key",
        llm_deployment="prod-gpt4o",
        llm_api_version="2024-10-21",
        llm_max_retries=0,
        model="gpt-4o",
    )
    assert chat(bot, "hello?").json()["answer"] == fake_llm.answer
    assert fake_llm.paths[-1] == "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21"
    assert fake_llm.headers[-1]["api-key"] == "azure-key"


def test_the_openai_api_forwards_the_upstream_answer_and_counts_tokens(
    start_bot: StartBot, fake_llm: FakeLLM
) -> None:
    bot = start_bot(**fake_llm.bot_settings(llm_api_key="sk-upstream"))
    body = completion(bot, "hello?", temperature=0.7).json()
    assert body["choices"][0]["message"]["content"] == fake_llm.answer
    assert fake_llm.requests[-1]["temperature"] == 0.7  # the client's parameters win
    assert fake_llm.headers[-1]["Authorization"] == "Bearer sk-upstream"
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert 'chatbot_tokens_total{direction="in"} 42.0' in metrics
    assert 'chatbot_tokens_total{direction="out"} 7.0' in metrics
