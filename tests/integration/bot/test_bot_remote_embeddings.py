"""spec.retrieval.embeddings: the bot searches with its LLM provider's embeddings (the fake's
/v1/embeddings), on both chat APIs, follows a rotated key, and keeps answering by keywords when the
endpoint fails, saying why on /readyz and /metrics."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.integration.bot.test_golden_check import run_check
from tests.support.bot_server import BotServer
from tests.support.fake_llm import FakeLLM
from tests.support.secret_volume import write_secret_volume

import chatbot_contract as contract
from chatbot_server import llm_key, remote_embeddings, state
from chatbot_server.remote_embeddings import BATCH_SIZE

StartBot = Callable[..., BotServer]
# Shares no word with the corpus: only the fake's embeddings ("ceiling" and "calls" mean "limit"
# and "requests" to it) lead it to limits.rst.
PARAPHRASE = "What is the ceiling on calls?"
KEYWORDS = "How many requests per minute does the API allow?"


def remote_settings(fake_llm: FakeLLM, corpus: Path, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    values = {
        "corpus_dir": corpus,
        "embedding_model_dir": tmp_path / "no-bundled-model",  # whatever answers, it is not the bundled model
        "retrieval_mode": "hybrid",
        "embeddings_model": "text-embedding-3-small",
        **extra,
    }
    return fake_llm.bot_settings(**values)


def ask(bot: BotServer, question: str) -> dict[str, Any]:
    body = {"messages": [{"role": "user", "content": question}]}
    response = httpx.post(f"{bot.url}/api/chat", json=body, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def metrics(bot: BotServer) -> str:
    return httpx.get(f"{bot.url}/metrics").text


def metric(bot: BotServer, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", metrics(bot), re.M)
    return float(found.group(1)) if found else 0.0


def search_status(bot: BotServer) -> dict[str, Any]:
    status: dict[str, Any] = httpx.get(f"{bot.url}/readyz").json()["search"]
    return status


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def system_message(fake_llm: FakeLLM) -> str:
    return str(fake_llm.requests[-1]["messages"][0]["content"])


def test_both_chat_apis_find_a_paraphrase_with_the_providers_embeddings(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path
) -> None:
    bot = start_bot(**remote_settings(fake_llm, corpus, tmp_path, embeddings_dimensions=48))
    wait_for(lambda: metric(bot, "chatbot_corpus_vectors") > 0, "the corpus was never embedded")
    chunks = metric(bot, "chatbot_corpus_chunks")
    corpus_calls = list(fake_llm.embedding_requests)
    assert sum(len(body["input"]) for body in corpus_calls) == chunks
    assert all(len(body["input"]) <= BATCH_SIZE for body in corpus_calls)
    assert {(body["model"], body["dimensions"]) for body in corpus_calls} == {("text-embedding-3-small", 48)}
    assert search_status(bot) == {
        "mode": "hybrid",
        "configured": "hybrid",
        "embeddings": "text-embedding-3-small",
    }

    answer = ask(bot, PARAPHRASE)
    assert answer["mode"] == "llm"
    assert answer["sources"][0]["path"] == "limits.rst"
    assert "100 requests per minute" in system_message(fake_llm)
    assert fake_llm.embedding_requests[-1]["input"] == [PARAPHRASE]

    client = openai.OpenAI(base_url=f"{bot.url}/v1", api_key="unused", max_retries=0)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": PARAPHRASE}])
    assert "[limits.rst - Rate limits]" in system_message(fake_llm)
    assert len(fake_llm.embedding_requests) == len(corpus_calls) + 2  # one per question
    assert 'chatbot_retrieval_mode_queries_total{mode="hybrid"} 2.0' in metrics(bot)
    assert metric(bot, "chatbot_query_embedding_seconds_count") == 2
    # The fake counts a token per word, as the provider reports them, for chargeback.
    assert metric(bot, 'chatbot_embedding_tokens_total{stage="question"}') == 2 * len(PARAPHRASE.split())


def test_keyword_search_alone_does_not_find_the_paraphrase(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path
) -> None:
    # The control for the test above: without embeddings, the paraphrase reaches no passage.
    bot = start_bot(**fake_llm.bot_settings(corpus_dir=corpus, retrieval_mode="keyword"))
    assert ask(bot, PARAPHRASE)["sources"] == []
    assert "limits.rst" not in system_message(fake_llm)


def bot_with_key_file(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path, key: str
) -> tuple[BotServer, Path]:
    """A bot on provider embeddings whose key is read from a mounted Secret (reloaded every 0.1 s)."""
    volume = tmp_path / "llm-api-key"
    write_secret_volume(volume, {contract.LLM_API_KEY_FILE_NAME: f"{key}\n"})
    key_file = volume / contract.LLM_API_KEY_FILE_NAME
    settings = remote_settings(fake_llm, corpus, tmp_path, llm_provider="openai", llm_api_key_file=key_file)
    return start_bot(**settings), volume


def rotate(volume: Path, key: str, caplog: pytest.LogCaptureFixture) -> None:
    """Write a new key into the Secret volume; return once the bot has read it."""
    write_secret_volume(volume, {contract.LLM_API_KEY_FILE_NAME: f"{key}\n"})
    wait_for(lambda: "changed: new requests use the new key" in caplog.text, "the new key was not read")


@pytest.fixture
def fast_key_reload(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(llm_key, "RELOAD_SECONDS", 0.1)
    caplog.set_level(logging.INFO, logger="chatbot_server.llm_key")


@pytest.mark.usefixtures("fast_key_reload")
def test_a_rotated_key_is_used_by_the_next_embedding_call(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.api_key = "sk-first"
    bot, volume = bot_with_key_file(start_bot, fake_llm, corpus, tmp_path, "sk-first")
    wait_for(lambda: metric(bot, "chatbot_corpus_vectors") > 0, "the corpus was never embedded")
    assert set(fake_llm.embedding_keys) == {"sk-first"}

    fake_llm.api_key = "sk-second"  # the old key is revoked: only the new one is accepted
    rotate(volume, "sk-second", caplog)
    answer = ask(bot, PARAPHRASE)
    assert fake_llm.embedding_keys[-1] == "sk-second"
    assert answer["sources"][0]["path"] == "limits.rst"  # embedded with the new key, not by keywords
    assert "chatbot_embedding_errors_total{" not in metrics(bot)  # no embedding call failed


@pytest.mark.usefixtures("fast_key_reload")
def test_a_corpus_refused_for_its_key_is_embedded_again_once_the_key_is_rotated(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.api_key = "sk-new"
    bot, volume = bot_with_key_file(start_bot, fake_llm, corpus, tmp_path, "sk-revoked")
    wait_for(
        lambda: "refused the API key" in search_status(bot).get("reason", ""), "the 401 was not reported"
    )
    assert ask(bot, PARAPHRASE)["sources"] == []  # keyword search: the paraphrase is not found

    rotate(volume, "sk-new", caplog)
    wait_for(lambda: search_status(bot)["mode"] == "hybrid", "the corpus was not embedded with the new key")
    assert ask(bot, PARAPHRASE)["sources"][0]["path"] == "limits.rst"
    assert 'chatbot_embedding_errors_total{kind="auth",stage="corpus"} 1.0' in metrics(bot)


@pytest.mark.parametrize(
    ("failure", "kind", "reason"),
    [
        ("401", "auth", "refused the API key (HTTP 401)"),
        ("404", "not_found", "has no embeddings model 'text-embedding-3-small' (HTTP 404)"),
        ("dimensions", "dimensions", "returned vectors of [7] dimensions, not 48"),
    ],
)
@pytest.mark.usefixtures("fast_embedding_retries")
def test_a_failing_endpoint_leaves_keyword_search_and_says_why(
    start_bot: StartBot,
    fake_llm: FakeLLM,
    corpus: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    failure: str,
    kind: str,
    reason: str,
) -> None:
    fake_llm.embedding_failure = failure
    settings = remote_settings(
        fake_llm, corpus, tmp_path, embeddings_dimensions=48, llm_max_retries=1, llm_api_key="sk-secret-key"
    )
    with caplog.at_level(logging.ERROR, logger="chatbot_server.state"):
        bot = start_bot(**settings)
        wait_for(lambda: "failed" in search_status(bot).get("reason", ""), "the failure was never reported")
    status = search_status(bot)
    assert status["mode"] == "keyword"
    assert status["configured"] == "hybrid"
    assert reason in status["reason"]
    assert f'chatbot_embedding_errors_total{{kind="{kind}",stage="corpus"}} 1.0' in metrics(bot)
    time.sleep(0.5)  # ten retry pauses: a key, a model or a size that is wrong stays wrong
    assert len(fake_llm.embedding_requests) == 1
    assert any(reason in record.getMessage() for record in caplog.records)
    assert "sk-secret-key" not in caplog.text
    assert "sk-secret-key" not in str(status)

    answer = ask(bot, KEYWORDS)
    assert answer["sources"][0]["path"] == "limits.rst"
    assert 'chatbot_retrieval_mode_queries_total{mode="keyword"} 1.0' in metrics(bot)


@pytest.fixture
def fast_embedding_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "EMBEDDINGS_RETRY_FIRST_SECONDS", 0.05)  # 10 s in a pod
    monkeypatch.setattr(state, "EMBEDDINGS_RETRY_MAX_SECONDS", 0.2)  # 5 min in a pod


@pytest.mark.parametrize(("failure", "kind"), [("500", "status_5xx"), ("429", "rate_limited")])
@pytest.mark.usefixtures("fast_embedding_retries")
def test_a_corpus_is_embedded_once_the_provider_is_back_from_an_outage(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path, failure: str, kind: str
) -> None:
    fake_llm.embedding_failure = failure
    bot = start_bot(**remote_settings(fake_llm, corpus, tmp_path, llm_max_retries=1))
    wait_for(
        lambda: metric(bot, f'chatbot_embedding_errors_total{{kind="{kind}",stage="corpus"}}') >= 3,
        "the corpus was not tried again",
    )
    status = search_status(bot)
    assert status["mode"] == "keyword"
    assert "trying again in" in status["reason"]
    assert ask(bot, KEYWORDS)["sources"][0]["path"] == "limits.rst"  # answered meanwhile
    failed_calls = len(fake_llm.embedding_requests)

    fake_llm.embedding_failure = None  # the provider is back
    wait_for(lambda: search_status(bot)["mode"] == "hybrid", "the corpus was not embedded after the outage")
    assert "reason" not in search_status(bot)
    assert ask(bot, PARAPHRASE)["sources"][0]["path"] == "limits.rst"
    assert metric(bot, "chatbot_corpus_vectors") == metric(bot, "chatbot_corpus_chunks")
    assert len(fake_llm.embedding_requests) > failed_calls


def test_the_golden_check_does_not_wait_out_an_outage(
    tmp_path: Path, fake_llm: FakeLLM, corpus: Path
) -> None:
    # The golden check holds the rollout: it asks with keyword search at once (the bot container
    # tries the provider again itself), rather than pausing 10 s, 20 s, 40 s ... for the outage.
    fake_llm.embedding_failure = "500"
    settings = remote_settings(fake_llm, corpus, tmp_path, llm_max_retries=0)
    file_settings = {key: str(value) if isinstance(value, Path) else value for key, value in settings.items()}
    golden = [{"question": KEYWORDS, "expect": {"source": "limits.rst"}}]
    result = run_check(tmp_path, corpus, {**file_settings, "golden_questions": golden})
    assert (result.exit_code, result.termination_message) == (0, ""), result.stderr
    assert "embedding the corpus failed" in result.stderr
    assert "trying again" not in result.stderr
    assert len(fake_llm.embedding_requests) == 1


def test_a_failing_question_embedding_is_searched_by_keywords_and_counted(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path
) -> None:
    bot = start_bot(**remote_settings(fake_llm, corpus, tmp_path))
    wait_for(lambda: metric(bot, "chatbot_corpus_vectors") > 0, "the corpus was never embedded")
    fake_llm.embedding_failure = "500"
    assert ask(bot, KEYWORDS)["sources"][0]["path"] == "limits.rst"
    text = metrics(bot)
    assert 'chatbot_embedding_errors_total{kind="status_5xx",stage="question"} 1.0' in text
    assert 'chatbot_retrieval_mode_queries_total{mode="keyword"} 1.0' in text

    fake_llm.embedding_failure = None  # the next question is embedded again
    assert ask(bot, PARAPHRASE)["sources"][0]["path"] == "limits.rst"
    assert 'chatbot_retrieval_mode_queries_total{mode="hybrid"} 1.0' in metrics(bot)


def test_a_question_is_not_held_by_a_stalled_embeddings_endpoint(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_embeddings, "QUESTION_TIMEOUT_SECONDS", 1.0)  # 5 s in a pod
    bot = start_bot(**remote_settings(fake_llm, corpus, tmp_path, llm_timeout_seconds=30, llm_max_retries=2))
    wait_for(lambda: metric(bot, "chatbot_corpus_vectors") > 0, "the corpus was never embedded")
    fake_llm.stall_seconds = 60
    fake_llm.embedding_failure = "stall"
    started = time.monotonic()
    assert ask(bot, KEYWORDS)["sources"][0]["path"] == "limits.rst"
    # Two tries of the question's timeout (one retry at most), not three of spec.llm's 30 s.
    assert time.monotonic() - started < 10
    assert 'chatbot_embedding_errors_total{kind="timeout",stage="question"} 1.0' in metrics(bot)


def test_a_relevance_threshold_keeps_unrelated_passages_from_the_model(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path
) -> None:
    bot = start_bot(**remote_settings(fake_llm, corpus, tmp_path, embeddings_relevance_threshold=0.5))
    wait_for(lambda: metric(bot, "chatbot_corpus_vectors") > 0, "the corpus was never embedded")
    assert ask(bot, "Who won the football world cup in 1998?")["sources"] == []
    assert ask(bot, PARAPHRASE)["sources"][0]["path"] == "limits.rst"


def test_azure_embeddings_go_to_the_deployment_named_by_the_model_with_the_api_key_header(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path
) -> None:
    settings = remote_settings(
        fake_llm,
        corpus,
        tmp_path,
        llm_provider="azure-openai",
        llm_base_url=fake_llm.endpoint,
        llm_deployment="chat-deployment",
        llm_api_key="azure-key",
        embeddings_model="embeddings-deployment",
    )
    bot = start_bot(**settings)
    wait_for(lambda: metric(bot, "chatbot_corpus_vectors") > 0, "the corpus was never embedded")
    assert fake_llm.embedding_paths[0].startswith("/openai/deployments/embeddings-deployment/embeddings?")
    assert set(fake_llm.embedding_keys) == {"azure-key"}


def test_a_bot_on_provider_embeddings_never_loads_onnx_runtime(
    fake_llm: FakeLLM, corpus: Path, tmp_path: Path
) -> None:
    # In a fresh process: this test process may have loaded the bundled model for other tests.
    script = f"""
import sys, time, httpx
from pathlib import Path
from tests.support.bot_server import BotServer
settings = dict(llm_provider="openai-compatible", llm_base_url={fake_llm.base_url!r},
    corpus_dir=Path({str(corpus)!r}), embeddings_model="e", retrieval_mode="hybrid")
with BotServer(Path({str(tmp_path)!r}), **settings) as bot:
    deadline = time.monotonic() + 30
    while httpx.get(bot.url + "/readyz").json()["search"]["mode"] != "hybrid":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    httpx.post(bot.url + "/api/chat", json={{"messages": [{{"role": "user", "content": "limits?"}}]}})
    print("onnxruntime" in sys.modules, "tokenizers" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_golden_questions_are_asked_with_the_providers_embeddings_which_the_bot_then_reuses(
    start_bot: StartBot, fake_llm: FakeLLM, corpus: Path, tmp_path: Path
) -> None:
    settings = remote_settings(fake_llm, corpus, tmp_path, vectors_dir=tmp_path / "vectors")
    golden = [{"question": PARAPHRASE, "expect": {"source": "limits.rst"}}]  # found by embeddings only
    file_settings = {key: str(value) if isinstance(value, Path) else value for key, value in settings.items()}
    checked = run_check(tmp_path, corpus, {**file_settings, "golden_questions": golden})
    assert (checked.exit_code, checked.termination_message) == (0, ""), checked.stderr
    corpus_calls = len(fake_llm.embedding_requests) - 1  # the golden question's own embedding

    bot = start_bot(**settings)
    wait_for(lambda: search_status(bot)["mode"] == "hybrid", "the bot never searched with the embeddings")
    assert len(fake_llm.embedding_requests) == corpus_calls + 1  # the corpus was not sent again
    assert ask(bot, PARAPHRASE)["sources"][0]["path"] == "limits.rst"
