"""Word normalisation shared by FAQ matching and corpus search: words, stop words, light stemming."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

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

_SUFFIXES = (
    "ational",
    "ization",
    "fulness",
    "iveness",
    "ingly",
    "ations",
    "ation",
    "ments",
    "ment",
    "ness",
    "ings",
    "ing",
    "edly",
    "ies",
    "ied",
    "ers",
    "er",
    "ed",
    "ly",
    "es",
    "s",
)


def stem(word: str) -> str:
    """A light suffix-stripping stem: enough to make "hours" meet "hour" and "refunds" meet "refunded"."""
    if len(word) <= 3:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            # "shipped" -> "ship", "running" -> "run"
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]
            return base
    return word


def words(text: str) -> list[str]:
    """The lower-case words of a text."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """The words of a text that carry meaning (no stop words), in order."""
    return [word for word in words(text) if word not in STOP_WORDS]


def stems(text: str) -> set[str]:
    """The stems of a text's content words."""
    return {stem(word) for word in content_words(text)}
