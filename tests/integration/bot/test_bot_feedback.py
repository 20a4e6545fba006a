"""`POST /api/feedback` and the sources' links, on a bot served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.bot_server import BotServer

from chatbot_server.source_links import CORPUS_SOURCE_FILE

StartBot = Callable[..., BotServer]
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

RATING = {
    "rating": "down",
    "comment": "It missed the per-hour limit.",
    "question": "What is the rate limit?",
    "answer": "100 requests per minute.",
    "mode": "corpus",
    "sources": ["limits.rst"],
}


def _transcript(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _feedback_count(bot: BotServer, mode: str, rating: str) -> float:
    metrics = httpx.get(f"{bot.url}/metrics").text
    wanted = f'chatbot_feedback_total{{bot="{bot.settings.name}",mode="{mode}",rating="{rating}"}} '
    lines = [line for line in metrics.splitlines() if line.startswith(wanted)]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_a_rating_is_logged_with_the_answer_it_rates_and_counted_by_bot_and_mode(
    start_bot: StartBot, capfd: pytest.CaptureFixture[str]
) -> None:
    bot = start_bot({"name": "docsy", "transcript_log": True})
    response = httpx.post(f"{bot.url}/api/feedback", json=RATING)
    assert response.status_code == 204, response.text
    response = httpx.post(f"{bot.url}/api/feedback", json={**RATING, "rating": "up", "comment": ""})
    assert response.status_code == 204
    lines = [line for line in _transcript(capfd.readouterr().out) if line["event"] == "feedback"]
    assert [line["rating"] for line in lines] == ["down", "up"]
    first = lines[0]
    assert first["bot"] == "docsy"
    assert {key: first[key] for key in RATING} == RATING
    assert _feedback_count(bot, "corpus", "down") == 1
    assert _feedback_count(bot, "corpus", "up") == 1
    assert _feedback_count(bot, "llm", "down") == 0


def test_without_the_transcript_log_a_rating_is_only_counted(
    start_bot: StartBot, capfd: pytest.CaptureFixture[str]
) -> None:
    bot = start_bot()
    assert httpx.post(f"{bot.url}/api/feedback", json=RATING).status_code == 204
    assert "feedback" not in capfd.readouterr().out
    assert _feedback_count(bot, "corpus", "down") == 1


@pytest.mark.parametrize(
    ("change", "param", "words"),
    [
        ({"rating": "meh"}, "rating", "'up' or 'down'"),
        ({"rating": None}, "rating", "'up' or 'down'"),
        ({"mode": "guess"}, "mode", "'faq', 'corpus', 'llm' or 'fallback'"),
        ({"comment": "x" * 2001}, "comment", "at most 2000 characters"),
        ({"question": ""}, "question", "at least 1 character"),
        ({"answer": 42}, "answer", "valid string"),
        ({"sources": "limits.rst"}, "sources", "valid list"),
        ({"sources": ["a.md"] * 51}, "sources", "at most 50 items"),
        ({"comment": "\ud800"}, "comment", "valid string"),  # an unpaired surrogate: no text
        ({"stars": 5}, "stars", "Extra inputs are not permitted"),
    ],
)
def test_a_malformed_rating_is_a_400_naming_the_field(
    start_bot: StartBot, change: dict[str, Any], param: str, words: str
) -> None:
    bot = start_bot()
    # Sent as ASCII JSON: an unpaired surrogate travels as its escape, as a browser's JSON.stringify sends it.
    body = json.dumps({**RATING, **change})
    response = httpx.post(
        f"{bot.url}/api/feedback", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param
    assert error["code"] == "invalid_request"
    assert words in error["message"]
    assert _feedback_count(bot, "corpus", "down") == 0  # nothing counted for a refused rating


def test_missing_fields_and_bodies_that_are_not_json_are_400s(start_bot: StartBot) -> None:
    bot = start_bot()
    missing = httpx.post(f"{bot.url}/api/feedback", json={"rating": "up"})
    assert missing.status_code == 400
    assert "Field required" in missing.json()["error"]["message"]
    garbage = httpx.post(
        f"{bot.url}/api/feedback", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400


def test_limits_are_those_of_the_chat_routes(start_bot: StartBot) -> None:
    bot = start_bot({"max_message_chars": 20, "max_body_bytes": 4096})
    long_question = httpx.post(f"{bot.url}/api/feedback", json={**RATING, "question": "q" * 21})
    assert long_question.status_code == 400
    assert long_question.json()["error"]["code"] == "message_too_long"
    assert long_question.json()["error"]["param"] == "question"
    too_large = httpx.post(f"{bot.url}/api/feedback", json={**RATING, "answer": "a" * 5000})
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "request_too_large"


def test_feedback_needs_the_same_key_as_the_chat_routes_checked_before_the_body(
    start_bot: StartBot, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "web").write_text("page-key")
    bot = start_bot(api_keys_dir=keys)
    # Without a key, even a malformed body is a 401: a caller learns nothing about valid bodies.
    refused = httpx.post(f"{bot.url}/api/feedback", json={"rating": "meh"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "missing_api_key"
    wrong = httpx.post(f"{bot.url}/api/feedback", json=RATING, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    accepted = httpx.post(
        f"{bot.url}/api/feedback", json=RATING, headers={"Authorization": "Bearer page-key"}
    )
    assert accepted.status_code == 204


def test_the_feedback_route_is_in_the_openapi_document(start_bot: StartBot) -> None:
    bot = start_bot()
    document = httpx.get(f"{bot.url}/openapi.json").json()
    operation = document["paths"]["/api/feedback"]["post"]
    assert set(operation["responses"]) == {"204", "400", "401", "413"}
    schema = document["components"]["schemas"]["FeedbackRequest"]
    assert schema["properties"]["rating"]["enum"] == ["up", "down"]


def fetched_from(corpus: Path, repo: str) -> Path:
    """The corpus as the init container leaves it after fetching `repo` at SHA."""
    (corpus / CORPUS_SOURCE_FILE).write_text(json.dumps({"repo": repo, "commit": SHA}))
    return corpus


def test_sources_link_to_the_files_at_the_commit_the_init_container_fetched(
    start_bot: StartBot, corpus: Path
) -> None:
    bot = start_bot(corpus_dir=fetched_from(corpus, "git@github.com:example/docs.git"))
    body = httpx.post(
        f"{bot.url}/api/chat",
        json={"messages": [{"role": "user", "content": "How do I configure the token?"}]},
    ).json()
    sources = {source["path"]: source["url"] for source in body["sources"]}
    assert sources["guides/install.md"] == f"https://github.com/example/docs/blob/{SHA}/guides/install.md"
    # The record itself is no document: it is never indexed or cited.
    assert CORPUS_SOURCE_FILE not in sources


def test_offline_openai_answers_link_their_sources_at_the_served_commit(
    start_bot: StartBot, corpus: Path
) -> None:
    bot = start_bot(corpus_dir=fetched_from(corpus, "https://github.com/example/docs.git"))
    request = {"model": "bot", "messages": [{"role": "user", "content": "How do I configure the token?"}]}
    completion = httpx.post(f"{bot.url}/v1/chat/completions", json=request).json()
    text = completion["choices"][0]["message"]["content"]
    link = f"[guides/install.md](https://github.com/example/docs/blob/{SHA}/guides/install.md)"
    assert f"- {link} (" in text
    streamed = httpx.post(f"{bot.url}/v1/chat/completions", json={**request, "stream": True}).text
    pieces = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")]
    assert link in "".join(piece["choices"][0]["delta"].get("content") or "" for piece in pieces)


def test_sources_of_a_corpus_not_fetched_from_git_have_no_link(start_bot: StartBot, corpus: Path) -> None:
    bot = start_bot(corpus_dir=corpus)
    body = httpx.post(
        f"{bot.url}/api/chat",
        json={"messages": [{"role": "user", "content": "How do I configure the token?"}], "stream": True},
    )
    events = [json.loads(line) for line in body.text.splitlines()]
    sources = next(event["sources"] for event in events if event["type"] == "sources")
    assert sources
    assert all(source["url"] is None for source in sources)
