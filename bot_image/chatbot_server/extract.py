"""The sentences of a passage that answer a question: what an offline answer quotes.

A passage is cut into units (sentences of prose, whole code blocks), each scored by the question's
terms it holds (the analyzer of text.py); the best unit is quoted with the sentence before it and
those after it, up to `max_chars`. A passage that fits is quoted whole.
"""

from __future__ import annotations

import re

from chatbot_server.text import terms

DEFAULT_MAX_CHARS = 600
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(])")
_ELLIPSIS = "…"


def extract(text: str, question: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    if len(text) <= max_chars:
        return text
    units = _units(text)
    asked = set(terms(question))
    scores = [len(asked & set(terms(unit))) for _, unit in units]
    best = max(range(len(units)), key=lambda i: (scores[i], -i))
    first = last = best
    size = len(units[best][1])
    # One unit of context before the best match, then what follows it, as long as it fits.
    if best > 0 and size + len(units[best - 1][1]) + 1 <= max_chars:
        first, size = best - 1, size + len(units[best - 1][1]) + 1
    while last + 1 < len(units) and size + len(units[last + 1][1]) + 1 <= max_chars:
        last, size = last + 1, size + len(units[last + 1][1]) + 1
    quoted = units[first : last + 1]
    if len(quoted[0][1]) > max_chars:  # one sentence longer than the limit: cut at a space
        return quoted[0][1][:max_chars].rsplit(" ", 1)[0] + _ELLIPSIS
    parts = [quoted[0][1]]
    for (paragraph, unit), (previous, _) in zip(quoted[1:], quoted, strict=False):
        parts.append(("\n\n" if paragraph != previous else " ") + unit)
    body = "".join(parts)
    return (_ELLIPSIS if first > 0 else "") + body + (_ELLIPSIS if last < len(units) - 1 else "")


def _units(text: str) -> list[tuple[int, str]]:
    """(paragraph number, sentence or code block) in order."""
    units = []
    for number, paragraph in enumerate(p for p in re.split(r"\n\s*\n", text) if p.strip()):
        if paragraph.lstrip().startswith(("```", "~~~", "    ")):
            units.append((number, paragraph))
        else:
            units.extend((number, sentence) for sentence in _SENTENCE_END.split(paragraph.strip()))
    return units
