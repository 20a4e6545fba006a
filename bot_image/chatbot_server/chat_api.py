"""The JSON API's answers (`POST /api/chat`), whole or as a stream of NDJSON events.

Stream events, one JSON object per line:
  {"type": "sources", "sources": [{"path", "title", "score"}]}   when passages back the answer
  {"type": "delta", "text": "..."}                                 pieces of the answer, in order
  {"type": "error", "message": "..."}                              the LLM failed (the answer may follow)
  {"type": "done", "mode": "faq" | "corpus" | "llm" | "fallback"}  always last

When the LLM fails, the user gets the fallback message (and the reason) rather than an error page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from chatbot_server.answering import Bot, Lookup, Mode
from chatbot_server.conversation import Turn
from chatbot_server.errors import BotError
from chatbot_server.llm import Upstream, read_chunk
from chatbot_server.retrieval import Passage
from chatbot_server.schemas import ChatAnswer, ChatRequest, Source

API = "chat"


def _sources(passages: Sequence[Passage]) -> list[dict[str, Any]]:
    return [{"path": p.path, "title": p.title, "score": round(p.score, 4)} for p in passages]


def _event(payload: dict[str, Any]) -> bytes:
    return (json.dumps(payload, ensure_ascii=False) + "\n").encode()


def turns_of(request: ChatRequest) -> list[Turn]:
    return [(message.role, message.content) for message in request.messages]


def _prepare(bot: Bot, request: ChatRequest) -> tuple[list[Turn], Lookup]:
    turns = turns_of(request)
    bot.check_limits([content for _, content in turns])
    if turns[-1][0] != "user":
        raise BotError(
            400, "The last message must be the user's question.", param="messages", code="no_question"
        )
    return turns, bot.look_up(turns)


async def answer(bot: Bot, upstream: Upstream | None, request: ChatRequest) -> ChatAnswer:
    """The whole answer to the conversation's latest question."""
    turns, lookup = _prepare(bot, request)
    if upstream is None:
        offline = bot.answer_offline(lookup)
        bot.transcript.record(API, lookup.question, offline.text, offline.mode, offline.passages, None)
        return ChatAnswer(
            answer=offline.text, mode=offline.mode, sources=[Source(**s) for s in _sources(offline.passages)]
        )
    prompt = bot.build_prompt(turns, lookup)
    try:
        body = json.loads(await upstream.complete(prompt.messages, bot.generation))
        text = body["choices"][0]["message"]["content"] or ""
    except BotError as error:
        return _fallback(bot, lookup, error.message)
    except (ValueError, KeyError, IndexError, TypeError):
        bot.metrics.upstream_errors.labels("malformed").inc()
        return _fallback(bot, lookup, "The language model's answer could not be read.")
    _count_tokens(bot, prompt.messages, text, body.get("usage"))
    bot.metrics.answers.labels("llm").inc()
    bot.transcript.record(API, lookup.question, text, "llm", prompt.passages, None)
    return ChatAnswer(answer=text, mode="llm", sources=[Source(**s) for s in _sources(prompt.passages)])


def _fallback(bot: Bot, lookup: Lookup, reason: str) -> ChatAnswer:
    text = bot.settings.fallback_message
    bot.metrics.answers.labels("fallback").inc()
    bot.transcript.record(API, lookup.question, text, "fallback", [], reason)
    return ChatAnswer(answer=text, mode="fallback", sources=[], error=reason)


def _count_tokens(bot: Bot, messages: list[dict[str, Any]], text: str, usage: object) -> None:
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        bot.metrics.tokens.labels("in").inc(usage["prompt_tokens"])
        bot.metrics.tokens.labels("out").inc(int(usage.get("completion_tokens") or 0))
    else:
        bot.metrics.tokens.labels("in").inc(bot.count_prompt_tokens(messages))
        bot.metrics.tokens.labels("out").inc(bot.counter.count_text(text))


async def stream_answer(bot: Bot, upstream: Upstream | None, request: ChatRequest) -> AsyncIterator[bytes]:
    """Check the request, then return the NDJSON events of the answer (limits raise before streaming)."""
    turns, lookup = _prepare(bot, request)
    if upstream is None:
        return _stream_offline(bot, lookup)
    return _stream_llm(bot, upstream, turns, lookup)


async def _stream_offline(bot: Bot, lookup: Lookup) -> AsyncIterator[bytes]:
    offline = bot.answer_offline(lookup)
    if offline.passages:
        yield _event({"type": "sources", "sources": _sources(offline.passages)})
    yield _event({"type": "delta", "text": offline.text})
    yield _event({"type": "done", "mode": offline.mode})
    bot.transcript.record(API, lookup.question, offline.text, offline.mode, offline.passages, None)


async def _stream_llm(
    bot: Bot, upstream: Upstream, turns: list[Turn], lookup: Lookup
) -> AsyncIterator[bytes]:
    prompt = bot.build_prompt(turns, lookup)
    if prompt.passages:
        yield _event({"type": "sources", "sources": _sources(prompt.passages)})
    pieces: list[str] = []
    usage: object = None
    finished = False
    error: str | None = None
    pending: list[bytes] = []  # what arrived together leaves together
    try:
        async for batch in upstream.stream(prompt.messages, bot.generation):
            for data in batch:
                chunk_usage, chunk_pieces, chunk_finished = read_chunk(data)
                usage = chunk_usage or usage
                pieces += chunk_pieces
                pending += (_event({"type": "delta", "text": text}) for text in chunk_pieces)
                finished = finished or chunk_finished
            if pending:
                yield b"".join(pending)
                pending.clear()
        if not finished:
            bot.metrics.upstream_errors.labels("cut_off").inc()
            error = "The language model's answer was cut off."
    except BotError as failure:
        error = failure.message
    except (ValueError, AttributeError):
        bot.metrics.upstream_errors.labels("malformed").inc()
        error = "The language model's answer could not be read."
    if pending:  # the words that came before a malformed chunk in the same read
        yield b"".join(pending)
    mode: Mode = "llm"
    if error is not None:
        yield _event({"type": "error", "message": error})
        if not pieces:
            mode = "fallback"
            pieces.append(bot.settings.fallback_message)
            yield _event({"type": "delta", "text": bot.settings.fallback_message})
    yield _event({"type": "done", "mode": mode})
    text = "".join(pieces)
    bot.metrics.answers.labels(mode).inc()
    if mode == "llm":
        _count_tokens(bot, prompt.messages, text, usage)
    bot.transcript.record(API, lookup.question, text, mode, prompt.passages if mode == "llm" else [], error)
