"""Follow-up questions are searched with the conversation: "and how do I undo that?" alone finds nothing.

The search query is the latest user message, preceded by the previous user message when the
latest one reads as a follow-up: it refers back ("that", "it", "this one"...), opens with "and" or
"what about", or has fewer than three words that carry meaning. A question that stands on its own
is searched alone, so an earlier topic does not pull the results back to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chatbot_server.conversation import Turn
from chatbot_server.text import terms

_REFERENCES = frozenset(
    [
        "that",
        "it",
        "this",
        "these",
        "those",
        "them",
        "they",
        "its",
        "there",
        "one",
        "same",
        "else",
        "also",
        "too",
    ]
)
_OPENINGS = re.compile(r"^\s*(and|but|also|so|then|what about|how about|and what|what if)\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
_MIN_TERMS = 3


def is_follow_up(question: str) -> bool:
    words = {word.lower() for word in _WORD.findall(question)}
    return (
        bool(_OPENINGS.match(question)) or bool(words & _REFERENCES) or len(set(terms(question))) < _MIN_TERMS
    )


def search_query(turns: Sequence[Turn]) -> str:
    """What to search the corpus for, given the conversation so far (the last turn is the user's)."""
    asked = [content for role, content in turns if role == "user"]
    if not asked:
        return ""
    question = asked[-1]
    if len(asked) > 1 and is_follow_up(question):
        return f"{asked[-2]}\n{question}"
    return question
