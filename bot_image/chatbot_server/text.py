"""Word normalisation shared by FAQ matching and corpus search: one analyzer, stop words included."""

from __future__ import annotations

import tantivy

# Function words that say nothing about what a question is about.
_STOP_WORDS_TEXT = """
a about above after again all am an and any are as at be been before being below between both but
by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than
that the their theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your yours yourself
yourselves s t d ll m re ve y please tell know want need get got let us hi hello hey thanks thank
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS_TEXT.split())


def analyzer() -> tantivy.TextAnalyzer:
    """Words folded to ASCII, lower-cased and Snowball-stemmed, stop words and 40+ letter runs dropped.

    One analyzer for the corpus index (Tantivy runs it on every chunk and every query) and for FAQ
    matching: "configuring" meets "configuration" and "café" meets "cafe" in both.
    """
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.custom_stopword(sorted(STOP_WORDS)))
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


_ANALYZER = analyzer()


def terms(text: str) -> list[str]:
    """The analyzed terms of a text, in order, repeats included (what the index sees of it)."""
    # A lone surrogate (JSON allows "\ud800") cannot cross into Rust, which takes only UTF-8.
    return list(_ANALYZER.analyze(text.encode("utf-8", "replace").decode("utf-8")))


def stems(text: str) -> set[str]:
    """The distinct terms of a text's content words."""
    return set(terms(text))
