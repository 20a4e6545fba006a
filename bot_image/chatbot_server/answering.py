"""What every answer goes through, whichever API asked: limits, FAQ, corpus, prompt, transcript.

In offline mode the answer is a FAQ answer, else extracts of the relevant passages (from distinct
documents, with their heading path and source), else the fallback message: a question no passage
is relevant to (search.py decides) gets the fallback, not unrelated quotes. With an LLM, the FAQ
pairs (as authoritative answers) and the relevant passages (with their source paths) go into the
system message, which tells the model to say it does not know when they do not cover the
question; the history is trimmed to the context budget. Follow-up questions are searched with the
previous question (follow_up.py).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from chatbot_server.conversation import Turn, select_within_budget, trim_history
from chatbot_server.errors import BotError
from chatbot_server.extract import extract
from chatbot_server.faq import FaqMatch, FaqMatcher
from chatbot_server.follow_up import search_query
from chatbot_server.llm import generation_params
from chatbot_server.metrics import Metrics
from chatbot_server.retrieval import Passage
from chatbot_server.search import Searcher
from chatbot_server.settings import Settings
from chatbot_server.source_links import read_corpus_source
from chatbot_server.tokens import TokenCounter

Mode = Literal["faq", "corpus", "llm", "fallback"]

# Offline answers quote at most this many documents, one passage each, and only passages close to the
# best one (their score, BM25 or cosine, at least this share of the best's).
OFFLINE_PASSAGES = 3
OFFLINE_RELATIVE_SCORE = 0.5
# Said to the model when the bot has documents or FAQ answers to go by.
DO_NOT_GUESS = (
    "If neither the authoritative answers nor the documentation passages cover the user's question, "
    "do not guess: say that you do not know, and add: {fallback}"
)


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the bot knows about the latest question."""

    question: str
    faq: FaqMatch | None
    passages: list[Passage]  # relevant ones only: empty when nothing in the corpus is


@dataclass(frozen=True, slots=True)
class OfflineAnswer:
    text: str
    mode: Mode
    passages: list[Passage] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: list[dict[str, Any]]
    passages: list[Passage]  # the passages given to the model: the answer's sources


class Transcript:
    """Conversation log: one JSON object per answer on stdout. Never holds keys or headers."""

    def __init__(self, bot_name: str, enabled: bool) -> None:
        self.bot_name = bot_name
        self.enabled = enabled

    def record(
        self, api: str, question: str, answer: str, mode: Mode, sources: Sequence[Passage], error: str | None
    ) -> None:
        if not self.enabled:
            return
        self.write(
            "answer",
            {
                "api": api,
                "question": question,
                "answer": answer,
                "mode": mode,
                "sources": [passage.path for passage in sources],
                "error": error,
            },
        )

    def write(self, event: str, fields: Mapping[str, Any]) -> None:
        """One line for `event` (answer, feedback), when the log is enabled."""
        if not self.enabled:
            return
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": event,
            "bot": self.bot_name,
        }
        sys.stdout.write(json.dumps({**line, **fields}, ensure_ascii=False) + "\n")
        sys.stdout.flush()


class Bot:
    """The answering logic of one bot (one per app, created once the corpus is indexed)."""

    def __init__(
        self, settings: Settings, searcher: Searcher, counter: TokenCounter, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.searcher = searcher
        self.index = searcher.index
        self.counter = counter
        self.metrics = metrics
        self.faq = FaqMatcher(settings.faq, settings.faq_match_threshold)
        self.transcript = Transcript(settings.name, settings.transcript_log)
        self.corpus_source = read_corpus_source(settings.corpus_dir)  # for the sources' links
        self.generation = generation_params(settings)
        self._faq_lines = [f"Q: {entry.question}\nA: {entry.answer}" for entry in settings.faq]

    def check_limits(self, contents: Sequence[str]) -> None:
        """Raise a 400 BotError when the conversation exceeds the message limits or is not text."""
        limit = self.settings.max_messages
        if len(contents) > limit:
            raise BotError(
                400,
                f"Too many messages: {len(contents)}, the limit is {limit}. Start a new conversation.",
                param="messages",
                code="too_many_messages",
            )
        limit = self.settings.max_message_chars
        for position, content in enumerate(contents):
            if len(content) > limit:
                raise BotError(
                    400,
                    f"Message {position} is {len(content)} characters long; the limit is {limit}.",
                    param=f"messages.{position}.content",
                    code="message_too_long",
                )
            # JSON may carry an unpaired surrogate ("\\ud800"), which no UTF-8 text can hold: it
            # would fail later, when the message is encoded for the index, the tokenizer or the log.
            if not content.isascii():
                try:
                    content.encode()
                except UnicodeEncodeError as error:
                    raise BotError(
                        400,
                        f"Message {position} is not valid Unicode text: it holds an unpaired surrogate "
                        f"at character {error.start}.",
                        param=f"messages.{position}.content",
                        code="invalid_text",
                    ) from None

    async def look_up(self, turns: Sequence[Turn], *, with_faq: bool = True) -> Lookup:
        """The FAQ entry and relevant corpus passages for the conversation's latest question, counted.

        The FAQ is matched against the latest question alone; the corpus is searched with the
        previous question too when the latest one is a follow-up.
        """
        question = turns[-1][1] if turns else ""
        match = self.faq.match(question) if with_faq and self.faq.entries else None
        if self.faq.entries:
            self.metrics.faq.labels("hit" if match else "miss").inc()
        passages: list[Passage] = []
        if match is None and self.index.size and self.settings.retrieval_top_k:
            found = await self.searcher.find(search_query(turns), self.settings.retrieval_top_k)
            passages = found.passages if found.relevant else []
            self.metrics.retrieval.labels("hit" if passages else "miss").inc()
            self.metrics.retrieval_mode.labels(found.mode).inc()
            if found.mode != "keyword":
                self.metrics.query_embedding.observe(self.searcher.embedding_seconds)
        return Lookup(question, match, passages)

    def answer_offline(self, lookup: Lookup) -> OfflineAnswer:
        """An answer without a language model: the FAQ, else corpus passages, else the fallback."""
        if lookup.faq is not None:
            answer = OfflineAnswer(lookup.faq.entry.answer, "faq")
        elif lookup.passages:
            quoted = quotable(lookup.passages)
            text = "\n\n".join(f"{p.title} ({p.path}):\n{extract(p.text, lookup.question)}" for p in quoted)
            answer = OfflineAnswer(f"Here is what I found in the documentation:\n\n{text}", "corpus", quoted)
        else:
            answer = OfflineAnswer(self.settings.fallback_message, "fallback")
        self.metrics.answers.labels(answer.mode).inc()
        return answer

    def build_prompt(self, history: Sequence[Turn], lookup: Lookup) -> Prompt:
        """The messages for the LLM: the system message with FAQ and passages, then the history that fits."""
        budget = self.settings.max_context_tokens
        faq_lines = self._faq_lines
        # A bot with documents or FAQ answers is told not to guess beyond them (a plain chatbot is not).
        rule = (
            DO_NOT_GUESS.format(fallback=self.settings.fallback_message)
            if self.index.size or faq_lines
            else ""
        )
        # The rule counts against the budget with the system prompt: it is never the part left out.
        system = "\n\n".join(part for part in (self.settings.system_prompt, rule) if part)
        if lookup.faq is not None:  # the matching entry first, so it survives a tight budget
            matched = f"Q: {lookup.faq.entry.question}\nA: {lookup.faq.entry.answer}"
            faq_lines = [matched, *(line for line in faq_lines if line != matched)]
        passage_blocks = [f"[{p.path} - {p.title}]\n{p.text}" for p in lookup.passages]
        extras = [*faq_lines, *passage_blocks]
        taken = 0
        if extras:  # the latest message is tokenized only when something competes with it for room
            reserved = self.counter.count_message(history[-1][1]) if history else 0
            taken = select_within_budget(system, extras, reserved, self.counter, budget)
        faq_taken = faq_lines[:taken]
        passages_taken = lookup.passages[: max(0, taken - len(faq_lines))]
        parts = [self.settings.system_prompt]
        if faq_taken:
            parts.append(
                "Authoritative answers: when the user's question matches one of these, give its answer.\n\n"
                + "\n\n".join(faq_taken)
            )
        if passages_taken:
            parts.append(
                "Documentation passages, each under its source path. Answer from them when they are relevant "
                "and cite the source paths you used.\n\n" + "\n\n".join(passage_blocks[: len(passages_taken)])
            )
        if rule:
            parts.append(rule)
        trimmed = trim_history("\n\n".join(parts), history, self.counter, budget)
        if trimmed.dropped:
            self.metrics.trimmed_turns.inc(trimmed.dropped)
        messages = [{"role": role, "content": content} for role, content in trimmed.turns]
        return Prompt(messages, passages_taken)

    def count_prompt_tokens(self, messages: Sequence[dict[str, Any]]) -> int:
        return self.counter.count_messages(str(message["content"]) for message in messages)


def quotable(passages: Sequence[Passage]) -> list[Passage]:
    """The passages an offline answer quotes: the best of each document, close to the best one."""
    best = passages[0].score
    quoted: list[Passage] = []
    for passage in passages:
        if len(quoted) == OFFLINE_PASSAGES:
            break
        if passage.path in {q.path for q in quoted} or passage.score < best * OFFLINE_RELATIVE_SCORE:
            continue
        quoted.append(passage)
    return quoted
