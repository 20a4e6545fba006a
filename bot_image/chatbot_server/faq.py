"""Matching a user's question to the FAQ, paraphrases included.

No model downloads: questions are compared by the overlap of their terms, normalised by the
analyzer the corpus index uses (chatbot_server.text: accents folded, Snowball stems; Dice
coefficient), so word order, stop words and plural or tense do not matter: "which hours is support
available?" meets "What are your support hours?"; "How do I reset my password?" does not. The
threshold is the `faq_match_threshold` setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatbot_server.settings import FaqEntry
from chatbot_server.text import stems


@dataclass(frozen=True, slots=True)
class FaqMatch:
    entry: FaqEntry
    score: float


class FaqMatcher:
    """Finds the FAQ entry whose question best matches a user's question."""

    def __init__(self, entries: Sequence[FaqEntry], threshold: float) -> None:
        self.entries = tuple(entries)
        self.threshold = threshold
        self._question_stems = [stems(entry.question) for entry in self.entries]
        self._exact = {_normalise(entry.question): entry for entry in self.entries}

    def match(self, question: str) -> FaqMatch | None:
        """The best entry scoring at least the threshold, or None."""
        if not self.entries:
            return None
        exact = self._exact.get(_normalise(question))
        if exact is not None:
            return FaqMatch(exact, 1.0)
        asked = stems(question)
        if not asked:
            return None
        best: FaqMatch | None = None
        for entry, known in zip(self.entries, self._question_stems, strict=True):
            score = similarity(asked, known)
            if score >= self.threshold and (best is None or score > best.score):
                best = FaqMatch(entry, score)
        return best


def similarity(asked: set[str], known: set[str]) -> float:
    """Dice coefficient of two stem sets, 0 to 1."""
    if not asked or not known:
        return 0.0
    return 2 * len(asked & known) / (len(asked) + len(known))


def _normalise(question: str) -> str:
    return " ".join(question.lower().replace("?", " ").split())
