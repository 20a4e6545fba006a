"""FAQ matching: paraphrases find their answer, unrelated questions do not."""

from __future__ import annotations

import pytest

from chatbot_server.chunking import Chunk
from chatbot_server.faq import FaqMatcher
from chatbot_server.retrieval import CorpusIndex
from chatbot_server.settings import FaqEntry

FAQ = [
    FaqEntry(question="What are your support hours?", answer="Monday to Friday, 9am to 5pm."),
    FaqEntry(question="How do I reset my password?", answer="Use the 'Forgot password' link."),
    FaqEntry(question="Do you offer refunds?", answer="Yes, within 30 days."),
]


@pytest.fixture
def matcher() -> FaqMatcher:
    return FaqMatcher(FAQ, threshold=0.5)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("What are your support hours?", "Monday to Friday, 9am to 5pm."),
        ("what are your SUPPORT HOURS", "Monday to Friday, 9am to 5pm."),
        ("Which hours is support available?", "Monday to Friday, 9am to 5pm."),
        ("I forgot my password, how can I reset it?", "Use the 'Forgot password' link."),
        ("Resetting passwords?", "Use the 'Forgot password' link."),
        ("Are refunds offered?", "Yes, within 30 days."),
    ],
)
def test_paraphrased_questions_find_their_answer(matcher: FaqMatcher, question: str, answer: str) -> None:
    match = matcher.match(question)
    assert match is not None
    assert match.entry.answer == answer


@pytest.mark.parametrize(
    "question", ["What is the weather in Paris?", "How do I install the CLI?", "hello", ""]
)
def test_unrelated_questions_find_nothing(matcher: FaqMatcher, question: str) -> None:
    assert matcher.match(question) is None


def test_an_exact_question_scores_one_and_a_higher_threshold_is_stricter() -> None:
    assert FaqMatcher(FAQ, 0.5).match("Do you offer refunds?").score == 1.0  # type: ignore[union-attr]
    assert FaqMatcher(FAQ, 0.5).match("refunds for my order") is not None
    assert FaqMatcher(FAQ, 0.9).match("refunds for my order") is None


def test_an_empty_faq_matches_nothing() -> None:
    assert FaqMatcher([], 0.5).match("What are your support hours?") is None


def test_faq_matching_and_corpus_search_normalise_words_the_same_way() -> None:
    """Accents folded and Snowball stems on both sides: an FAQ entry matches what the index would."""
    faq = FaqMatcher([FaqEntry(question="Is the café open on Sundays?", answer="From 10am.")], 0.9)
    match = faq.match("cafe opening sundays")
    assert match is not None
    assert match.entry.answer == "From 10am."
    index = CorpusIndex()
    index.add([Chunk("cafe.md", "Café", "The café is open on Sundays.")])
    assert [p.path for p in index.search("cafe opening sunday", 1)] == ["cafe.md"]
