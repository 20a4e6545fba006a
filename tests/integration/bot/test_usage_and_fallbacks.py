"""Usage for chargeback on /metrics (by bot, API, API key name and model), and fallback models tried
when the primary fails before answering: two fake LLMs, the primary failing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.bot_server import BotServer
from tests.support.fake_llm import FakeLLM
from tests.support.secret_volume import write_secret_volume

from chatbot_server import llm_key
from chatbot_server.tokens import TokenCounter, load_encoding

StartBot = Callable[..., BotServer]
QUESTION = [{"role": "user", "content": "How much does this cost?"}]


@pytest.fixture
def second_llm() -> Iterator[FakeLLM]:
    with FakeLLM(answer="The fallback model answers.") as fake:
        yield fake


def usage(bot: BotServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The chatbot_usage_* samples, by name and sorted labels."""
    samples = {}
    for family in text_string_to_metric_families(httpx.get(f"{bot.url}/metrics").text):
        for sample in family.samples:
            if sample.name.startswith("chatbot_usage_") and sample.name.endswith("_total"):
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def series(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def with_fallback(primary: FakeLLM, fallback: FakeLLM, **extra: Any) -> dict[str, Any]:
    return primary.bot_settings(
        name="billing-bot",
        model="primary-model",
        llm_fallbacks=[
            {"provider": "openai-compatible", "model": "fallback-model", "base_url": fallback.base_url}
        ],
        **extra,
    )


def test_tokens_requests_and_errors_are_counted_by_api_key_name_for_both_apis_streamed_or_not(
    start_bot: StartBot, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    write_secret_volume(keys, {"team-a": "sk-team-a-value", "team-b": "sk-team-b-value"})
    bot = start_bot(api_keys_dir=keys, **fake_llm.bot_settings(name="billing-bot", model="m1"))
    team_a = openai.OpenAI(base_url=f"{bot.url}/v1", api_key="sk-team-a-value", max_retries=0)
    team_a.chat.completions.create(model="billing-bot", messages=QUESTION)  # type: ignore[arg-type]
    chunks = team_a.chat.completions.create(
        model="billing-bot",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    headers = {"Authorization": "Bearer sk-team-b-value"}
    for stream in (False, True):
        response = httpx.post(
            f"{bot.url}/api/chat", json={"messages": QUESTION, "stream": stream}, headers=headers, timeout=10
        )
        assert response.status_code == 200
    fake_llm.play("500")
    failed = httpx.post(f"{bot.url}/api/chat", json={"messages": QUESTION}, headers=headers, timeout=10)
    assert failed.json()["mode"] == "fallback"

    counted = usage(bot)
    openai_a = {"bot": "billing-bot", "api": "openai", "api_key": "team-a", "model": "m1"}
    chat_b = {"bot": "billing-bot", "api": "chat", "api_key": "team-b", "model": "m1"}
    assert counted[("chatbot_usage_requests_total", series(**openai_a))] == 2
    # The fake reports 42 prompt and 7 completion tokens per answer (the stream when asked for usage).
    assert counted[("chatbot_usage_tokens_total", series(**openai_a, type="input"))] == 84
    assert counted[("chatbot_usage_tokens_total", series(**openai_a, type="output"))] == 14
    assert counted[("chatbot_usage_requests_total", series(**chat_b))] == 2
    # A stream of the JSON API comes without the model's usage: its answer is counted by the bot.
    counter = TokenCounter(load_encoding("m1"))
    streamed_output = counter.count_text(fake_llm.answer)
    assert counted[("chatbot_usage_tokens_total", series(**chat_b, type="output"))] == 7 + streamed_output
    assert counted[("chatbot_usage_errors_total", series(**chat_b, error_type="status_5xx"))] == 1
    assert counted[("chatbot_usage_requests_total", series(**{**chat_b, "model": "none"}))] == 1
    text = httpx.get(f"{bot.url}/metrics").text
    assert "sk-team-a-value" not in text
    assert "sk-team-b-value" not in text


def test_a_bot_without_api_keys_charges_usage_to_anonymous(start_bot: StartBot, fake_llm: FakeLLM) -> None:
    bot = start_bot(**fake_llm.bot_settings(name="open-bot", model="m1"))
    assert httpx.post(f"{bot.url}/api/chat", json={"messages": QUESTION}, timeout=10).json()["model"] == "m1"
    labels = series(bot="open-bot", api="chat", api_key="anonymous", model="m1")
    assert usage(bot)[("chatbot_usage_requests_total", labels)] == 1


@pytest.mark.parametrize("failure", ["429", "500", "stall"])
def test_a_failing_primary_hands_the_call_to_the_fallback_and_the_answer_names_it(
    start_bot: StartBot, fake_llm: FakeLLM, second_llm: FakeLLM, failure: str
) -> None:
    bot = start_bot(**with_fallback(fake_llm, second_llm, llm_timeout_seconds=0.5))
    client = openai.OpenAI(base_url=f"{bot.url}/v1", api_key="unused", max_retries=0)

    fake_llm.play(failure)
    answer = client.chat.completions.create(model="billing-bot", messages=QUESTION)  # type: ignore[arg-type]
    assert answer.model == "fallback-model"
    assert answer.choices[0].message.content == "The fallback model answers."

    fake_llm.play(failure)
    streamed = client.chat.completions.create(model="billing-bot", messages=QUESTION, stream=True)  # type: ignore[arg-type]
    chunks = list(streamed)
    assert {chunk.model for chunk in chunks} == {"fallback-model"}

    fake_llm.play(failure)
    page = httpx.post(f"{bot.url}/api/chat", json={"messages": QUESTION}, timeout=10).json()
    assert (page["mode"], page["model"], page["answer"]) == (
        "llm",
        "fallback-model",
        "The fallback model answers.",
    )

    fake_llm.play(failure)
    response = httpx.post(f"{bot.url}/api/chat", json={"messages": QUESTION, "stream": True}, timeout=10)
    done = json.loads(response.text.splitlines()[-1])
    assert done == {"type": "done", "mode": "llm", "model": "fallback-model"}

    assert [body["model"] for body in second_llm.requests] == ["fallback-model"] * 4
    kind = {"429": "rate_limited", "500": "status_5xx", "stall": "timeout"}[failure]
    counted = usage(bot)
    labels = {"bot": "billing-bot", "api_key": "anonymous"}
    for api in ("openai", "chat"):
        assert (
            counted[("chatbot_usage_requests_total", series(**labels, api=api, model="fallback-model"))] == 2
        )
        errors = series(**labels, api=api, model="primary-model", error_type=kind)
        assert counted[("chatbot_usage_errors_total", errors)] == 2


def test_a_refused_connection_falls_back_and_a_bad_request_does_not(
    start_bot: StartBot, fake_llm: FakeLLM, second_llm: FakeLLM
) -> None:
    closed = FakeLLM().start()
    closed.stop()  # nothing listens on its port any more: connections are refused
    bot = start_bot(
        **with_fallback(closed, fake_llm),
    )
    answer = httpx.post(
        f"{bot.url}/v1/chat/completions", json={"model": "b", "messages": QUESTION}, timeout=10
    )
    assert answer.status_code == 200
    assert answer.json()["model"] == "fallback-model"

    # A 4xx other than 429 is the request's fault, which another model would not fix.
    strict = start_bot(**with_fallback(fake_llm, second_llm))
    fake_llm.play("400")
    refused = httpx.post(
        f"{strict.url}/v1/chat/completions", json={"model": "b", "messages": QUESTION}, timeout=10
    )
    assert refused.status_code == 502
    assert "HTTP 400" in refused.json()["error"]["message"]
    assert second_llm.requests == []


def test_when_every_model_fails_the_last_error_is_returned_and_each_failure_is_counted(
    start_bot: StartBot, fake_llm: FakeLLM, second_llm: FakeLLM
) -> None:
    bot = start_bot(**with_fallback(fake_llm, second_llm))
    fake_llm.play("500")
    second_llm.play("429")
    response = httpx.post(
        f"{bot.url}/v1/chat/completions", json={"model": "b", "messages": QUESTION}, timeout=10
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "upstream_rate_limited"
    counted = usage(bot)
    labels = {"bot": "billing-bot", "api": "openai", "api_key": "anonymous"}
    assert (
        counted[
            ("chatbot_usage_errors_total", series(**labels, model="primary-model", error_type="status_5xx"))
        ]
        == 1
    )
    assert (
        counted[
            (
                "chatbot_usage_errors_total",
                series(**labels, model="fallback-model", error_type="rate_limited"),
            )
        ]
        == 1
    )
    assert counted[("chatbot_usage_requests_total", series(**labels, model="none"))] == 1


def test_a_stream_that_failed_after_its_first_words_is_not_handed_to_the_fallback(
    start_bot: StartBot, fake_llm: FakeLLM, second_llm: FakeLLM
) -> None:
    bot = start_bot(**with_fallback(fake_llm, second_llm))
    fake_llm.play("error-mid")
    response = httpx.post(f"{bot.url}/api/chat", json={"messages": QUESTION, "stream": True}, timeout=10)
    events = [json.loads(line) for line in response.text.splitlines()]
    assert [e["type"] for e in events][-2:] == ["error", "done"]
    assert events[-1]["model"] == "primary-model"
    assert second_llm.requests == []


def test_a_fallback_key_is_read_from_its_file_and_a_rotated_one_is_used_without_a_restart(
    start_bot: StartBot,
    fake_llm: FakeLLM,
    second_llm: FakeLLM,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(llm_key, "RELOAD_SECONDS", 0.1)
    volume = tmp_path / "fallback-key"
    write_secret_volume(volume, {"0": "sk-fallback-first\n"})
    fallback = {"provider": "openai", "model": "fallback-model", "base_url": second_llm.base_url}
    bot = start_bot(**fake_llm.bot_settings(llm_fallbacks=[{**fallback, "api_key_file": str(volume / "0")}]))
    fake_llm.play("500")
    httpx.post(f"{bot.url}/api/chat", json={"messages": QUESTION}, timeout=10)
    assert second_llm.headers[-1]["Authorization"] == "Bearer sk-fallback-first"

    write_secret_volume(volume, {"0": "sk-fallback-second\n"})
    deadline = time.monotonic() + 10
    while True:
        fake_llm.play("500")
        httpx.post(f"{bot.url}/api/chat", json={"messages": QUESTION}, timeout=10)
        if second_llm.headers[-1]["Authorization"] == "Bearer sk-fallback-second":
            break
        assert time.monotonic() < deadline, "the bot kept the fallback's first key"
        time.sleep(0.1)


@pytest.mark.parametrize(("path", "body"), [("/v1/chat/completions", {"model": "b"}), ("/api/chat", {})])
def test_a_stream_the_client_leaves_is_still_charged_for_what_the_model_sent(
    start_bot: StartBot, path: str, body: dict[str, Any]
) -> None:
    words = " ".join(f"word{n}" for n in range(100))
    with FakeLLM(answer=words, chunk_delay=0.05) as slow:
        bot = start_bot(**slow.bot_settings(name="billing-bot", model="m1"))
        with httpx.stream(
            "POST", f"{bot.url}{path}", json={**body, "messages": QUESTION, "stream": True}, timeout=10
        ) as response:
            for line in response.iter_lines():
                if "word2" in line:
                    break  # the client leaves with 97 words still to come
        api = "openai" if path.startswith("/v1") else "chat"
        labels = {"bot": "billing-bot", "api": api, "api_key": "anonymous", "model": "m1"}
        deadline = time.monotonic() + 5
        while ("chatbot_usage_requests_total", series(**labels)) not in usage(bot):
            assert time.monotonic() < deadline, "the request the client left was not charged"
            time.sleep(0.05)
        output = usage(bot)[("chatbot_usage_tokens_total", series(**labels, type="output"))]
        assert 3 <= output < 60  # the words sent until the client left, not the whole answer
        assert usage(bot)[("chatbot_usage_tokens_total", series(**labels, type="input"))] > 0
