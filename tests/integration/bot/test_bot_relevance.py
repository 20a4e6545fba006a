"""Answers users can trust: the fallback when no passage is relevant, hybrid search once the vectors are
ready, follow-up questions searched with the conversation, extracts from distinct documents."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.support.bot_server import BotServer
from tests.support.embedding_model import fetch_model

StartBot = Callable[..., BotServer]


def chat(bot: BotServer, *messages: str) -> dict[str, object]:
    roles = ["user", "assistant"] * len(messages)
    body = {"messages": [{"role": r, "content": m} for r, m in zip(roles, messages, strict=False)]}
    response = httpx.post(f"{bot.url}/api/chat", json=body, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def metric(bot: BotServer, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", httpx.get(f"{bot.url}/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return fetch_model()


def wait_for_vectors(bot: BotServer, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while metric(bot, "chatbot_corpus_vectors") == 0:
        assert time.monotonic() < deadline, "the corpus's vectors were never ready"
        time.sleep(0.2)


def test_a_question_that_only_shares_a_word_with_the_docs_gets_the_fallback(
    start_bot: StartBot, corpus: Path
) -> None:
    bot = start_bot({"fallback_message": "A human will be in touch shortly."}, corpus_dir=corpus)
    answer = chat(bot, "How do I bake bread with the API?")
    assert answer["mode"] == "fallback"
    assert answer["answer"] == "A human will be in touch shortly."
    assert answer["sources"] == []


def test_hybrid_search_answers_paraphrases_once_the_vectors_are_ready_and_falls_back_on_the_rest(
    start_bot: StartBot, corpus: Path, model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatbot_server.state")
    bot = start_bot(corpus_dir=corpus, embedding_model_dir=model_dir, retrieval_mode="hybrid")
    wait_for_vectors(bot)
    # The bot server embeds on one thread, whatever the cores: threads would keep memory after.
    assert "embedding the corpus on 1 thread(s)" in caplog.text
    answer = chat(bot, "Is there a cap on how many API calls I can send?")
    assert answer["mode"] == "corpus"
    assert answer["sources"][0]["path"] == "limits.rst"  # type: ignore[index]
    assert "100 requests per minute" in str(answer["answer"])
    assert chat(bot, "Who won the football world cup in 1998?")["mode"] == "fallback"
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert 'chatbot_retrieval_mode_queries_total{mode="hybrid"} 2.0' in metrics
    assert "chatbot_corpus_vectors 4.0" in metrics
    assert "chatbot_query_embedding_seconds_count 2.0" in metrics


def test_without_the_model_a_hybrid_bot_is_ready_and_searches_by_keywords(
    start_bot: StartBot, corpus: Path, tmp_path: Path
) -> None:
    bot = start_bot(corpus_dir=corpus, embedding_model_dir=tmp_path / "missing", retrieval_mode="hybrid")
    assert chat(bot, "How many requests per minute does the API allow?")["mode"] == "corpus"
    assert 'chatbot_retrieval_mode_queries_total{mode="keyword"} 1.0' in httpx.get(f"{bot.url}/metrics").text


def test_a_damaged_model_is_reported_on_readyz_and_keyword_search_answers(
    start_bot: StartBot, corpus: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged-model"
    damaged.mkdir()
    (damaged / "model.onnx").write_bytes(b"not an ONNX graph")  # a truncated or corrupted image layer
    (damaged / "tokenizer.json").write_text("{}")
    bot = start_bot(corpus_dir=corpus, embedding_model_dir=damaged, retrieval_mode="hybrid")
    deadline = time.monotonic() + 30
    while (search := httpx.get(f"{bot.url}/readyz").json()["search"]).get("reason") in (
        None,
        "computing the corpus's vectors",
    ):
        assert time.monotonic() < deadline, f"the damaged model was never reported: {search}"
        time.sleep(0.1)
    assert search["mode"] == "keyword"
    assert search["reason"] == (
        f"computing the corpus's vectors failed: the embedding model in {damaged} could not be loaded: "
        "Model missing. at line 1 column 2"  # what the tokenizers library says of the file
    )
    assert chat(bot, "How many requests per minute does the API allow?")["mode"] == "corpus"


def test_a_follow_up_question_is_searched_with_the_previous_question(
    start_bot: StartBot, corpus: Path
) -> None:
    bot = start_bot(corpus_dir=corpus)
    assert chat(bot, "and how do I raise that?")["mode"] == "fallback"
    answer = chat(
        bot,
        "How many requests per minute does the API allow?",
        "100 requests per minute per token.",
        "and how do I raise that?",
    )
    assert answer["mode"] == "corpus"
    assert answer["sources"][0]["path"] == "limits.rst"  # type: ignore[index]
    # A question that stands on its own is searched alone: the earlier topic does not pull it back.
    answer = chat(
        bot,
        "How many requests per minute does the API allow?",
        "100 requests per minute per token.",
        "When are invoices sent to customers?",
    )
    assert answer["sources"][0]["path"] == "billing.html"  # type: ignore[index]


def test_an_offline_answer_quotes_an_extract_of_each_document_once_under_its_heading_path(
    start_bot: StartBot, tmp_path: Path
) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    filler = " ".join(f"Unrelated sentence number {n} about the colour of the walls." for n in range(30))
    (corpus / "tokens.md").write_text(
        f"# Guide\n\n## Tokens\n\n{filler} Rotate your API token every ninety days in the dashboard. "
        f"{filler}\n\n## More tokens\n\nRotate the API token from the command line as well.\n"
    )
    (corpus / "faq.md").write_text("# FAQ\n\nHow to rotate an API token: open the dashboard.\n")
    bot = start_bot(corpus_dir=corpus)
    answer = chat(bot, "How do I rotate my API token?")
    text = str(answer["answer"])
    paths = [source["path"] for source in answer["sources"]]  # type: ignore[attr-defined]
    assert sorted(paths) == ["faq.md", "tokens.md"]  # one passage per document
    assert "Guide > Tokens (tokens.md):" in text or "Guide > More tokens (tokens.md):" in text
    assert "Unrelated sentence number 3 " not in text  # an extract, not the whole passage
