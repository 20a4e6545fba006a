"""Reading the corpus into chunks, and searching them."""

from __future__ import annotations

from pathlib import Path

from chatbot_server.chunking import chunk_document, html_to_text, read_chunks
from chatbot_server.retrieval import build_index


def test_markdown_sections_become_chunks_titled_by_their_heading_path() -> None:
    text = (
        "# Guide\n\nIntro text.\n\n## Install\n\nRun the installer.\n\n```\n# not a heading\n```\n"
        "\n### On Linux\n\nUse the package.\n\n## Upgrade\n\nRun it again.\n"
    )
    chunks = chunk_document("docs/guide.md", text)
    assert [(c.title, c.text) for c in chunks] == [
        ("Guide", "Intro text."),
        ("Guide > Install", "Run the installer.\n\n```\n# not a heading\n```"),
        ("Guide > Install > On Linux", "Use the package."),
        ("Guide > Upgrade", "Run it again."),
    ]
    assert {c.path for c in chunks} == {"docs/guide.md"}


def test_restructuredtext_underlined_titles_are_headings_levelled_by_first_appearance() -> None:
    text = "API\n===\n\nIntro.\n\nRate limits\n-----------\n\n100 a minute.\n\nErrors\n------\n\nCodes.\n"
    chunks = chunk_document("api.rst", text)
    assert [(c.title, c.text) for c in chunks] == [
        ("API", "Intro."),
        ("API > Rate limits", "100 a minute."),
        ("API > Errors", "Codes."),
    ]


def test_comments_and_rules_in_restructuredtext_literal_blocks_are_never_headings() -> None:
    text = (
        "Setup\n=====\n\nAssuming that the configuration is done manually::\n\n"
        "    # Assuming that the configuration is done manually:\n    ----------------\n    make install\n\n"
        ".. code-block:: sh\n\n   # another comment\n   =================\n\nBack to text.\n"
    )
    chunks = chunk_document("setup.rst", text)
    assert {c.title for c in chunks} == {"Setup"}
    assert "    # Assuming that the configuration is done manually:\n    ----------------\n" in chunks[0].text
    assert "   # another comment" in chunks[0].text


def test_indented_markdown_code_is_never_a_heading() -> None:
    chunks = chunk_document("a.md", "# Guide\n\nRun:\n\n    # set the variable first\n    export A=1\n")
    assert [c.title for c in chunks] == ["Guide"]
    assert "# set the variable first" in chunks[0].text


def test_a_code_block_is_not_cut_when_it_fits_in_a_passage_and_cut_between_lines_when_it_does_not() -> None:
    code = "```\n" + "\n".join(f"step {n} --with-an-option" for n in range(12)) + "\n```"
    text = "# Build\n\n" + "Words before the code. " * 10 + "\n\n" + code + "\n"
    chunks = chunk_document("build.md", text, max_chars=300)
    assert code in [c.text for c in chunks]
    long_code = "```\n" + "\n".join(f"step {n} --with-an-option" for n in range(40)) + "\n```"
    pieces = chunk_document("build.md", long_code, max_chars=300)
    assert len(pieces) > 2
    assert all(len(c.text) <= 300 for c in pieces)
    assert "\n".join(c.text for c in pieces) == long_code


def test_html_preformatted_blocks_keep_their_lines_and_are_never_headings() -> None:
    html = (
        "<html><head><title>git-stash(1)</title></head><body><h1>git-stash(1) Manual Page</h1>"
        "<h2>EXAMPLES</h2><p>Like this:</p><pre>$ git stash\n# ... continue hacking ...\n"
        "-----------------\n$ git stash pop</pre><p>Done.</p></body></html>"
    )
    chunks = chunk_document("git-stash.html", html_to_text(html))
    assert [c.title for c in chunks] == ["git-stash(1) Manual Page > EXAMPLES"]
    assert "```\n$ git stash\n# ... continue hacking ...\n-----------------\n$ git stash pop\n```" in (
        chunks[0].text
    )


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
