"""Corpus search: what a question finds, and what it must never do (raise, or obey query syntax)."""

from __future__ import annotations

import threading

import pytest

from chatbot_server.chunking import Chunk
from chatbot_server.retrieval import CorpusIndex


def index_of(*chunks: tuple[str, str, str]) -> CorpusIndex:
    index = CorpusIndex()
    index.add(Chunk(path, title, text) for path, title, text in chunks)
    return index


FILLER = [
    ("billing.md", "Billing", "Invoices are sent monthly by email to the account owner."),
    ("tokens.md", "Tokens", "Create API tokens in the dashboard and keep them secret."),
    ("limits.md", "Limits", "Requests per minute are capped for every plan."),
]


def test_a_question_finds_the_passage_under_another_form_of_its_words() -> None:
    index = index_of(*FILLER, ("setup.md", "Setup", "The configuration lives in a file named settings.yaml."))
    assert index.search("configuring it", 3)[0].path == "setup.md"
    assert index.search("Which invoice?", 3)[0].path == "billing.md"


@pytest.mark.parametrize(("question", "path"), [("cafe menu", "cafe.md"), ("Crème brûlée", "dessert.md")])
def test_accents_do_not_matter_on_either_side(question: str, path: str) -> None:
    index = index_of(
        *FILLER,
        ("cafe.md", "Visiting", "The Café opens its menu at noon."),
        ("dessert.md", "Desserts", "Try the creme brulee."),
    )
    assert index.search(question, 3)[0].path == path


def test_a_word_in_the_title_counts_more_than_the_same_word_in_the_text() -> None:
    index = index_of(
        *FILLER,
        ("a.md", "Overview", "Snapshots are taken nightly, and kept for a week or so."),
        ("b.md", "Snapshots", "Backups are taken nightly, and kept for a week or so."),
    )
    assert [p.path for p in index.search("snapshots", 5)] == ["b.md", "a.md"]


@pytest.mark.parametrize(
    "question",
    [
        'invoices" OR NOT * (',
        "title:invoices",
        "invoices AND (email OR",
        "invoices^10 -email +owner ~2",
        "invoices 🧾💸",
        "invoices \ud800 lone surrogate",
        "invoices\x00; DROP TABLE chunks; --",
        "invoices " + "x" * 5000,
        " ".join(["invoices"] * 500),
    ],
)
def test_query_syntax_in_a_question_is_only_words(question: str) -> None:
    index = index_of(*FILLER)
    assert index.search(question, 3)[0].path == "billing.md"


@pytest.mark.parametrize("question", ["", "   ", "?!", "🙂", "\ud800", '"', "AND OR NOT", "the and of"])
def test_a_question_with_no_searchable_word_finds_nothing(question: str) -> None:
    assert index_of(*FILLER).search(question, 3) == []


def test_nothing_is_returned_when_no_passage_is_relevant() -> None:
    assert index_of(*FILLER).search("weather forecast tomorrow", 3) == []


def test_words_found_in_most_passages_do_not_drag_in_passages_that_match_nothing_else() -> None:
    chunks = [(f"doc-{n}.md", "Operator", f"The operator reconciles resource {n}.") for n in range(10)]
    chunks.append(("backup.md", "Operator backups", "The operator backs up its resources."))
    index = index_of(*chunks)
    assert [p.path for p in index.search("operator backups", 5)] == ["backup.md"]
    # Only common words: the rarest of them still finds something.
    assert len(index.search("operator", 5)) == 5
    assert index.search("operator weather", 5) == []


def test_passages_come_back_whole_best_first_and_no_more_than_asked() -> None:
    text = "Ünïcode text stays as written: naïve café, 東京, emoji 🙂.\n\nSecond paragraph."
    index = index_of(*FILLER, ("intl/ü.md", "Ünïcode", text), ("other.md", "Other", "naive mention"))
    passages = index.search("unicode naive", 5)
    assert (passages[0].path, passages[0].title, passages[0].text) == ("intl/ü.md", "Ünïcode", text)
    assert [p.path for p in passages] == ["intl/ü.md", "other.md"]
    assert passages[0].score >= passages[1].score > 0
    assert len(index.search("unicode naive", 1)) == 1
    assert index.search("unicode naive", 0) == []


def test_chunks_added_later_are_found_and_counted() -> None:
    index = index_of(*FILLER)
    index.add([Chunk("billing.md", "Refunds", "Refunds take five days.")])
    assert (index.size, index.documents) == (4, 3)
    assert index.search("refund", 3)[0].title == "Refunds"
    assert index.search("invoices", 3)[0].title == "Billing"


def test_an_index_built_in_a_worker_thread_answers_from_another_thread() -> None:
    built: list[CorpusIndex] = []
    worker = threading.Thread(target=lambda: built.append(index_of(*FILLER)))
    worker.start()
    worker.join()
    assert built[0].search("tokens", 3)[0].path == "tokens.md"


def test_an_empty_index_finds_nothing() -> None:
    index = CorpusIndex()
    index.add([])
    assert (index.size, index.documents) == (0, 0)
    assert index.search("tokens", 3) == []
