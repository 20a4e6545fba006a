"""The golden-question checks: what an acceptable answer must show, offline and with an LLM."""

import pytest
from pydantic import ValidationError

from chatbot_server.golden import (
    GivenAnswer,
    GoldenExpect,
    GoldenFailure,
    GoldenQuestion,
    check_answer,
    missed_expectations,
    summarize,
)

FAQ_ANSWER = "Support is open 9am to 5pm, Monday to Friday."


def given(text: str, mode: str = "llm", sources: tuple[str, ...] = ()) -> GivenAnswer:
    return GivenAnswer(text, mode, sources)


def test_the_faq_answer_is_found_whatever_its_case_and_spacing() -> None:
    expect = GoldenExpect(faq_answer=True)
    answer = given("Good question! SUPPORT is open 9am to 5pm,\n  Monday to Friday. Anything else?")
    assert missed_expectations(expect, answer, FAQ_ANSWER) == []


def test_an_answer_without_the_faq_answer_misses_it_and_quotes_it() -> None:
    (missed,) = missed_expectations(GoldenExpect(faq_answer=True), given("We never close."), FAQ_ANSWER)
    assert "the FAQ answer 'Support is open 9am" in missed


def test_a_question_that_matches_no_faq_entry_cannot_give_its_answer() -> None:
    (missed,) = missed_expectations(GoldenExpect(faq_answer=True), given("Nine to five."), None)
    assert "matches no FAQ entry" in missed


def test_a_named_source_must_be_among_the_cited_ones() -> None:
    expect = GoldenExpect(source="docs/install.md")
    cited = given("Run the installer.", "corpus", ("docs/usage.md", "docs/install.md"))
    assert missed_expectations(expect, cited, None) == []
    (missed,) = missed_expectations(expect, given("Run it.", "corpus", ("docs/usage.md",)), None)
    assert missed == "docs/install.md among the sources (cited: docs/usage.md)"


def test_contains_and_not_contains_ignore_case() -> None:
    expect = GoldenExpect(contains=("helm install",), not_contains=("kubectl create",))
    assert missed_expectations(expect, given("Use HELM INSTALL chatbot."), None) == []
    missed = missed_expectations(expect, given("Use kubectl CREATE."), None)
    assert missed == ["the text 'helm install'", "no text 'kubectl create'"]


def test_the_fallback_is_expected_or_refused() -> None:
    fell_back = given("A human will be in touch shortly.", "fallback")
    assert missed_expectations(GoldenExpect(fallback=True), fell_back, None) == []
    assert missed_expectations(GoldenExpect(fallback=True), given("The CEO earns..."), None) == [
        "the fallback, but the bot answered (mode llm)"
    ]
    assert missed_expectations(GoldenExpect(fallback=False), fell_back, None) == [
        "an answer, but the bot fell back"
    ]


def test_a_failure_names_the_question_what_was_expected_and_the_truncated_answer() -> None:
    question = GoldenQuestion(question="How do I install it?", expect=GoldenExpect(contains=("helm",)))
    failure = check_answer(question, given("word " * 200), None)
    assert failure is not None
    text = failure.describe()
    assert text.startswith(
        "golden question 'How do I install it?' expected the text 'helm'; the answer was 'word word"
    )
    assert len(failure.answer) == 200
    assert failure.answer.endswith("…")


def test_a_passing_answer_is_no_failure() -> None:
    question = GoldenQuestion(question="Hours?", expect=GoldenExpect(contains=("9am",)))
    assert check_answer(question, given("From 9AM."), None) is None


def test_the_summary_counts_the_other_failures() -> None:
    failures = [GoldenFailure("A?", "the text 'a'", "b"), GoldenFailure("C?", "the text 'c'", "d")]
    assert (
        summarize(failures, 3)
        == "golden question 'A?' expected the text 'a'; the answer was 'b' (2 of 3 golden questions failed)"
    )
    assert "failed)" not in summarize(failures[:1], 3)


@pytest.mark.parametrize(
    "expect",
    [{}, {"fallback": True, "source": "docs/a.md"}, {"fallback": True, "faq_answer": True}, {"unknown": 1}],
)
def test_an_expectation_without_checks_or_contradicting_itself_is_refused(expect: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GoldenExpect.model_validate(expect)


def test_a_source_naming_a_section_of_the_document_counts_as_the_document() -> None:
    expect = GoldenExpect(source="docs/install.md")
    answer = given("Run it.", "corpus", ("docs/install.md#requirements",))
    assert missed_expectations(expect, answer, None) == []
    assert missed_expectations(expect, given("Run it.", "corpus", ("docs/install.md.bak",)), None)
