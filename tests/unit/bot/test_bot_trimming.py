"""Fitting the conversation into max_context_tokens: oldest turns first, never the system or question."""

from __future__ import annotations

import pytest

from chatbot_server.conversation import trim_history
from chatbot_server.tokens import TokenCounter, load_encoding


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter(load_encoding("gpt-4o-mini"))


def turns(count: int, words: int = 30) -> list[tuple[str, str]]:
    history = []
    for index in range(count):
        role = "user" if index % 2 == 0 else "assistant"
        history.append((role, f"turn {index} " + "lorem " * words))
    return history


def test_a_conversation_within_budget_is_sent_whole(counter: TokenCounter) -> None:
    history = [*turns(4), ("user", "latest")]
    trimmed = trim_history("Be helpful.", history, counter, 4000)
    assert trimmed.turns == [("system", "Be helpful."), *history]
    assert trimmed.dropped == 0


def test_the_oldest_turns_are_dropped_first(counter: TokenCounter) -> None:
    history = [*turns(20), ("user", "latest question")]
    trimmed = trim_history("Be helpful.", history, counter, 300)
    kept = trimmed.turns[1:-1]
    assert trimmed.dropped == 20 - len(kept)
    assert 0 < len(kept) < 20
    assert kept == history[20 - len(kept) : 20]  # a contiguous run of the most recent turns
    assert counter.count_messages(content for _, content in trimmed.turns) <= 300


def test_the_system_prompt_and_the_latest_question_survive_even_alone_over_budget(
    counter: TokenCounter,
) -> None:
    long_question = "why " * 500
    trimmed = trim_history("You are Docsy. " * 50, [*turns(4), ("user", long_question)], counter, 100)
    assert trimmed.turns == [("system", "You are Docsy. " * 50), ("user", long_question)]
    assert trimmed.dropped == 4


def test_non_ascii_text_is_counted_in_tokens_not_characters(counter: TokenCounter) -> None:
    # 200 CJK characters are far more than 200 bytes; the byte bound must not let them through unchecked.
    history = [("user", "字" * 200), ("assistant", "好" * 200), ("user", "latest")]
    trimmed = trim_history("sys", history, counter, 250)
    assert trimmed.dropped >= 1
    assert trimmed.turns[-1] == ("user", "latest")


def test_unknown_models_are_counted_with_the_documented_fallback_encoding() -> None:
    assert load_encoding("llama3.1:8b").name == "o200k_base"
    assert load_encoding("gpt-4").name == "cl100k_base"
    assert load_encoding("ft:gpt-4o-mini:acme::abc").name == "o200k_base"
