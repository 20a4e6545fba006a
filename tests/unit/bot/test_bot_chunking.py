"""Reading the corpus into chunks, and searching them."""

from __future__ import annotations

from pathlib import Path

from chatbot_server.chunking import chunk_document, html_to_text, read_chunks
from chatbot_server.retrieval import build_index


def test_markdown_sections_become_chunks_titled_by_their_heading() -> None:
    text = "# Guide\n\nIntro text.\n\n## Install\n\nRun the installer.\n\n```\n# not a heading\n```\n"
    chunks = chunk_document("docs/guide.md", text)
    assert [(c.title, c.text) for c in chunks] == [
        ("Guide", "Intro text."),
        ("Install", "Run the installer.\n\n```\n# not a heading\n```"),
    ]
    assert {c.path for c in chunks} == {"docs/guide.md"}


def test_restructuredtext_underlined_titles_are_headings() -> None:
    chunks = chunk_document("api.rst", "Rate limits\n===========\n\n100 requests per minute.\n")
    assert [(c.title, c.text) for c in chunks] == [("Rate limits", "100 requests per minute.")]


def test_text_without_headings_is_titled_by_its_file_name() -> None:
    assert chunk_document("notes/release_notes.txt", "Version 2 is out.")[0].title == "release notes"


def test_long_paragraphs_are_split_at_sentences_within_the_size_limit() -> None:
    paragraph = " ".join(f"Sentence number {n} says something." for n in range(100))
    chunks = chunk_document("long.md", paragraph, max_chars=300)
    assert len(chunks) > 5
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)
    assert " ".join(c.text for c in chunks) == paragraph


def test_html_is_stripped_to_visible_text_with_headings() -> None:
    text = html_to_text(
        "<html><head><title>T</title><style>p{}</style></head><body><nav>Menu</nav>"
        "<h2>Billing</h2><p>Invoices&nbsp;are <b>monthly</b>.</p><script>evil()</script></body></html>"
    )
    assert "## Billing" in text
    assert "Invoices are monthly." in text
    assert "evil" not in text
    assert "p{}" not in text


def test_the_corpus_reader_skips_hidden_and_unsupported_files(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.md").write_text("# Secret\n\ninternal")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "readme.md").write_text("# Readme\n\nHello.")
    assert [c.path for c in read_chunks(tmp_path)] == ["readme.md"]
    assert list(read_chunks(tmp_path / "missing")) == []


def test_search_ranks_the_relevant_passage_first_and_ignores_query_syntax(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "# Tokens\n\nCreate API tokens in the dashboard.\n\n# Limits\n\nRequests per minute."
    )
    (tmp_path / "b.md").write_text("# Billing\n\nInvoices are sent monthly.")
    index = build_index(tmp_path)
    assert index.size == 3
    assert index.search("where do I create my tokens?", 3)[0].title == "Tokens"
    assert index.search('invoices" OR NOT * (', 3)[0].path == "b.md"
    assert index.search("the and of", 3) == []
    assert index.search("weather", 3) == []
