"""A rotated LLM key reaches a running bot: the key file of its mounted Secret is read again, and
every kind of upstream call (plain, streamed, retried by the SDK) carries the new key."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from tests.support.bot_server import BotServer
from tests.support.fake_llm import FakeLLM
from tests.support.secret_volume import write_secret_volume

import chatbot_contract as contract
from chatbot_server import llm_key

StartBot = Callable[..., BotServer]
QUESTION = [{"role": "user", "content": "What changed?"}]


def keys_sent(fake_llm: FakeLLM) -> list[str]:
    return [headers.get("Authorization", "") for headers in fake_llm.headers]


def test_a_rotated_key_is_used_without_a_restart_and_a_broken_file_keeps_the_old_one(
    start_bot: StartBot,
    fake_llm: FakeLLM,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(llm_key, "RELOAD_SECONDS", 0.1)
    volume = tmp_path / "llm-api-key"
    write_secret_volume(volume, {contract.LLM_API_KEY_FILE_NAME: "sk-first\n"})
    bot = start_bot(
        **fake_llm.bot_settings(
            llm_provider="openai", llm_max_retries=1, llm_api_key_file=volume / contract.LLM_API_KEY_FILE_NAME
        )
    )
    client = openai.OpenAI(base_url=f"{bot.url}/v1", api_key="unused", max_retries=0)

    client.chat.completions.create(model="m", messages=QUESTION)
    assert keys_sent(fake_llm) == ["Bearer sk-first"]

    write_secret_volume(volume, {contract.LLM_API_KEY_FILE_NAME: "sk-second\n"})
    deadline = time.monotonic() + 10
    while keys_sent(fake_llm)[-1] != "Bearer sk-second":
        assert time.monotonic() < deadline, "the bot kept the first key"
        time.sleep(0.05)
        client.chat.completions.create(model="m", messages=QUESTION)

    fake_llm.headers.clear()
    chunks = list(client.chat.completions.create(model="m", messages=QUESTION, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake_llm.answer
    fake_llm.play("500")  # the first attempt fails; the SDK's retry takes the call over
    client.chat.completions.create(model="m", messages=QUESTION)
    assert keys_sent(fake_llm) == ["Bearer sk-second"] * 3

    # Emptied by mistake: the bot keeps answering with the key it has, and says why once.
    with caplog.at_level(logging.WARNING, logger="chatbot_server.llm_key"):
        write_secret_volume(volume, {contract.LLM_API_KEY_FILE_NAME: ""})
        time.sleep(0.5)
        client.chat.completions.create(model="m", messages=QUESTION)
    assert keys_sent(fake_llm)[-1] == "Bearer sk-second"
    warnings = [r.getMessage() for r in caplog.records if r.name == "chatbot_server.llm_key"]
    assert len(warnings) == 1, warnings
    assert "is empty; the bot keeps the key it has" in warnings[0]
    assert "sk-" not in caplog.text
