"""The official openai SDK as a client of the bot: any OpenAI client can talk to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from tests.support.bot_server import BotServer
from tests.support.fake_llm import FakeLLM

from .conftest import FAQ

StartBot = Callable[..., BotServer]


def client_for(bot: BotServer, api_key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{bot.url}/v1", api_key=api_key, max_retries=0, timeout=20)


def test_the_sdk_lists_the_bot_as_its_model(start_bot: StartBot) -> None:
    bot = start_bot({"name": "docsy"})
    assert [model.id for model in client_for(bot).models.list()] == ["docsy"]


def test_the_sdk_gets_an_offline_faq_answer_streamed_and_not(start_bot: StartBot, corpus: Path) -> None:
    bot = start_bot({"faq": FAQ, "name": "docsy"}, corpus_dir=corpus)
    client = client_for(bot)
    answer = client.chat.completions.create(
        model="docsy", messages=[{"role": "user", "content": "what hours is support open?"}]
    )
    assert answer.choices[0].message.content == "Monday to Friday, 9am to 5pm."
    stream = client.chat.completions.create(
        model="docsy",
        messages=[{"role": "user", "content": "how do I reset my password?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Use the 'Forgot password' link on the sign-in page."
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_the_sdk_streams_an_llm_answer_through_the_bot(start_bot: StartBot, fake_llm: FakeLLM) -> None:
    bot = start_bot(**fake_llm.bot_settings())
    client = client_for(bot)
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model="anything", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        if chunk.choices
    ]
    assert len(pieces) > 3
    assert "".join(pieces) == fake_llm.answer
    whole = client.chat.completions.create(model="anything", messages=[{"role": "user", "content": "hi"}])
    assert whole.choices[0].message.content == fake_llm.answer
    assert whole.usage is not None
    assert whole.usage.total_tokens == 49


def test_the_sdk_raises_its_usual_errors_for_bad_keys_and_broken_streams(
    start_bot: StartBot, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "app").write_text("good-key")
    bot = start_bot(api_keys_dir=keys, **fake_llm.bot_settings())
    with pytest.raises(openai.AuthenticationError, match="not valid for this bot"):
        client_for(bot, "bad-key").models.list()
    client = client_for(bot, "good-key")
    fake_llm.play("disconnect")
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match=r"could not be reached|cut off|failed"):
        list(stream)
    fake_llm.play("500")
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 502
