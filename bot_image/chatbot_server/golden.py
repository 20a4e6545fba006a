"""Golden questions: what an acceptable answer to a known question must show, and the checks.

Pure: an answer (its text, mode and source paths) in, the expectations it misses out. The checks
are the ones that are deterministic offline and still meaningful with an LLM: the FAQ answer is
given, a named source is cited, the text contains (or does not contain) given words, the bot falls
back. `chatbot_server.golden_check` asks the questions with the bot's own pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

# How much of an answer a failure report quotes: enough to see what went wrong, short enough for a
# condition message, an Event and a container's termination message (4 KiB at most).
QUOTE_CHARS = 200


class GoldenExpect(BaseModel):
    """The checks of one golden question; every one given must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    faq_answer: bool | None = None
    source: str | None = Field(None, min_length=1)
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    fallback: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> GoldenExpect:
        if (
            self.faq_answer is None
            and self.source is None
            and not self.contains
            and not self.not_contains
            and self.fallback is None
        ):
            raise ValueError("a golden question needs at least one check")
        if self.fallback and (self.faq_answer or self.source):
            raise ValueError("a golden question cannot expect the fallback and an FAQ answer or a source")
        return self


class GoldenQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1)
    expect: GoldenExpect


@dataclass(frozen=True, slots=True)
class GivenAnswer:
    """What the bot answered, as a user would see it."""

    text: str
    mode: str  # faq, corpus, llm or fallback
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GoldenFailure:
    """A golden question whose answer missed an expectation."""

    question: str
    expected: str  # each missed expectation, in words
    answer: str  # the answer given, truncated

    def describe(self) -> str:
        return f"golden question {self.question!r} expected {self.expected}; the answer was {self.answer!r}"


def normalise(text: str) -> str:
    """Case and runs of white space do not matter to a check."""
    return " ".join(text.casefold().split())


def missed_expectations(expect: GoldenExpect, answer: GivenAnswer, faq_answer: str | None) -> list[str]:
    """The expectations `answer` misses, each in words; empty when it is acceptable.

    `faq_answer`: the answer of the FAQ entry the question matches, or None if it matches none.
    """
    text = normalise(answer.text)
    missed: list[str] = []
    if expect.faq_answer is True:
        if faq_answer is None:
            missed.append("the FAQ answer, but the question matches no FAQ entry")
        elif normalise(faq_answer) not in text:
            missed.append(f"the FAQ answer {quote(faq_answer)}")
    elif expect.faq_answer is False and faq_answer is not None and normalise(faq_answer) in text:
        missed.append("no FAQ answer")
    if expect.source is not None and not any(cites(source, expect.source) for source in answer.sources):
        cited = ", ".join(answer.sources) or "none"
        missed.append(f"{expect.source} among the sources (cited: {cited})")
    missed.extend(f"the text {quote(word)}" for word in expect.contains if normalise(word) not in text)
    missed.extend(f"no text {quote(word)}" for word in expect.not_contains if normalise(word) in text)
    if expect.fallback is True and answer.mode != "fallback":
        missed.append(f"the fallback, but the bot answered (mode {answer.mode})")
    elif expect.fallback is False and answer.mode == "fallback":
        missed.append("an answer, but the bot fell back")
    return missed


def cites(source: str, path: str) -> bool:
    """Whether a cited source is the document at `path`: the path itself, or a part of it (a
    heading after `#`, `:` or ` > `), so a source that names its section still counts."""
    return source == path or (source.startswith(path) and source[len(path)] in "#: >")


def check_answer(
    question: GoldenQuestion, answer: GivenAnswer, faq_answer: str | None
) -> GoldenFailure | None:
    missed = missed_expectations(question.expect, answer, faq_answer)
    if not missed:
        return None
    return GoldenFailure(question.question, " and ".join(missed), truncate(answer.text))


def truncate(text: str, limit: int = QUOTE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def quote(text: str) -> str:
    return repr(truncate(text, 80))


def summarize(failures: Sequence[GoldenFailure], asked: int) -> str:
    """One line for a termination message, a condition and an Event: the first failure in full."""
    first = failures[0].describe()
    more = f" ({len(failures)} of {asked} golden questions failed)" if len(failures) > 1 else ""
    return first + more
