"""What an answer is made of: extracts around the best match, follow-up queries, the prompt's rule."""

from __future__ import annotations

import pytest

from chatbot_server.answering import Bot, Lookup
from chatbot_server.chunking import Chunk
from chatbot_server.extract import extract
from chatbot_server.follow_up import is_follow_up, search_query
from chatbot_server.metrics import Metrics
from chatbot_server.retrieval import CorpusIndex
from chatbot_server.search import Searcher
from chatbot_server.settings import Settings
from chatbot_server.tokens import TokenCounter, load_encoding


def test_a_long_passage_is_quoted_from_the_sentence_before_its_best_match_on() -> None:
    before = " ".join(f"Filler sentence {n} about nothing." for n in range(40))
    after = " ".join(f"Closing sentence {n} of the page." for n in range(40))
    text = f"{before} Tokens are rotated in the dashboard. Old tokens stop working at once. {after}"
    quoted = extract(text, "How do I rotate tokens?", max_chars=300)
    assert quoted.startswith("…Filler sentence 39 about nothing. Tokens are rotated in the dashboard.")
    assert quoted.endswith("…")
    assert len(quoted) <= 302
    assert extract("Short passage.", "anything") == "Short passage."


def test_a_code_block_is_quoted_whole_or_not_at_all() -> None:
    code = "```\nexport TOKEN=abc\nexample login\n```"
    text = " ".join(f"Sentence {n} on setup." for n in range(30)) + f"\n\nLog in with a token:\n\n{code}"
    assert code in extract(text, "log in with a token", max_chars=200)


@pytest.mark.parametrize(
    ("question", "follows"),
    [
        ("and how do I undo that?", True),
        ("What about Windows?", True),
        ("does it work offline?", True),
        ("How do I configure TLS for the ingress controller?", False),
    ],
)
def test_follow_up_questions_are_told_from_questions_that_stand_alone(question: str, follows: bool) -> None:
    assert is_follow_up(question) is follows


def test_a_follow_up_is_searched_with_the_previous_user_question_only() -> None:
    turns = [
        ("user", "How do I rename a branch?"),
        ("assistant", "git branch -m"),
        ("user", "and undo that?"),
    ]
    assert search_query(turns) == "How do I rename a branch?\nand undo that?"
    assert search_query([("user", "and undo that?")]) == "and undo that?"
    assert (
        search_query([*turns[:2], ("user", "How do I delete a remote tag?")])
        == "How do I delete a remote tag?"
    )


@pytest.mark.usefixtures("no_chatbot_environment")
def test_a_bot_with_documents_tells_the_model_to_say_it_does_not_know() -> None:
    index = CorpusIndex()
    index.add([Chunk("a.md", "A", "Tokens are rotated in the dashboard.")])
    settings = Settings(fallback_message="A human will be in touch shortly.", api_keys_dir=None)
    counter = TokenCounter(load_encoding("gpt-4o-mini"))
    bot = Bot(settings, Searcher(index, "keyword"), counter, Metrics())
    system = bot.build_prompt([("user", "Weather?")], Lookup("Weather?", None, [])).messages[0]["content"]
    assert "say that you do not know, and add: A human will be in touch shortly." in system
    plain = Bot(settings, Searcher(CorpusIndex(), "keyword"), counter, Metrics())
    assert (
        "do not know, and add"
        not in plain.build_prompt([("user", "Hi")], Lookup("Hi", None, [])).messages[0]["content"]
    )
