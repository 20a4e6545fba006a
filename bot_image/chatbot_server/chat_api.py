"""The JSON API's answers (`POST /api/chat`), whole or as a stream of NDJSON events.

Stream events, one JSON object per line:
  {"type": "sources", "sources": [{"path", "title", "score", "url"}]}  when passages back the answer
  {"type": "delta", "text": "..."}                                 pieces of the answer, in order
  {"type": "error", "message": "..."}                              the LLM failed (the answer may follow)
  {"type": "done", "mode": "faq" | "corpus" | "llm" | "fallback", "model": "..." | null}
                                                                   always last; model: the model that
                                                                   answered (a fallback's when the
                                                                   primary failed), null if none did

When the LLM fails, the user gets the fallback message (and the reason) rather than an error page.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from chatbot_server.answering import Bot, Lookup, Mode
from chatbot_server.conversation import Turn
from chatbot_server.errors import BotError
from chatbot_server.llm import read_chunk
from chatbot_server.model_chain import ModelChain
from chatbot_server.retrieval import Passage
from chatbot_server.schemas import ChatAnswer, ChatRequest, Source
from chatbot_server.upstream_errors import UpstreamError
from chatbot_server.usage import NO_MODEL, Account, answer_tokens

API = "chat"


def _sources(bot: Bot, passages: Sequence[Passage]) -> list[dict[str, Any]]:
    link = bot.corpus_source.link if bot.corpus_source else lambda _: None
    return [
        {"path": p.path, "title": p.title, "score": round(p.score, 4), "url": link(p.path)} for p in passages
    ]


def _event(payload: dict[str, Any]) -> bytes:
    return (json.dumps(payload, ensure_ascii=False) + "\n").encode()


def turns_of(request: ChatRequest) -> list[Turn]:
    return [(message.role, message.content) for message in request.messages]


async def _prepare(bot: Bot, request: ChatRequest) -> tuple[list[Turn], Lookup]:
    turns = turns_of(request)
    bot.check_limits([content for _, content in turns])
    if turns[-1][0] != "user":
        raise BotError(
            400, "The last message must be the user's question.", param="messages", code="no_question"
        )
    return turns, await bot.look_up(turns)


async def answer(bot: Bot, models: ModelChain | None, request: ChatRequest, account: Account) -> ChatAnswer:
    """The whole answer to the conversation's latest question."""
    turns, lookup = await _prepare(bot, request)
    if models is None:
        offline = bot.answer_offline(lookup)
        account.answered(NO_MODEL)
        bot.transcript.record(API, lookup.question, offline.text, offline.mode, offline.passages, None)
        return ChatAnswer(
            answer=offline.text,
            mode=offline.mode,
            sources=[Source(**s) for s in _sources(bot, offline.passages)],
        )
    prompt = bot.build_prompt(turns, lookup)
    try:
        raw, model = await models.complete(prompt.messages, bot.generation, account)
    except BotError as error:
        return _fallback(bot, lookup, error.message, account)
    try:
        body = json.loads(raw)
        text = body["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        bot.metrics.upstream_errors.labels("malformed").inc()
        account.failed(model, "malformed")
        return _fallback(bot, lookup, "The language model's answer could not be read.", account)
    account.answered(model, *answer_tokens(bot, prompt.messages, text, body.get("usage")))
    bot.metrics.answers_by_mode["llm"].inc()
    bot.transcript.record(API, lookup.question, text, "llm", prompt.passages, None)
    return ChatAnswer(
        answer=text, mode="llm", model=model, sources=[Source(**s) for s in _sources(bot, prompt.passages)]
    )


def _fallback(bot: Bot, lookup: Lookup, reason: str, account: Account) -> ChatAnswer:
    text = bot.settings.fallback_message
    bot.metrics.answers_by_mode["fallback"].inc()
    account.answered(NO_MODEL)
    bot.transcript.record(API, lookup.question, text, "fallback", [], reason)
    return ChatAnswer(answer=text, mode="fallback", sources=[], error=reason)


async def stream_answer(
    bot: Bot, models: ModelChain | None, request: ChatRequest, account: Account
) -> AsyncIterator[bytes]:
    """Check the request, then return the NDJSON events of the answer (limits raise before streaming)."""
    turns, lookup = await _prepare(bot, request)
    if models is None:
        return _stream_offline(bot, lookup, account)
    return _stream_llm(bot, models, turns, lookup, account)


async def _stream_offline(bot: Bot, lookup: Lookup, account: Account) -> AsyncIterator[bytes]:
    offline = bot.answer_offline(lookup)
    if offline.passages:
        yield _event({"type": "sources", "sources": _sources(bot, offline.passages)})
    yield _event({"type": "delta", "text": offline.text})
    yield _event({"type": "done", "mode": offline.mode, "model": None})
    account.answered(NO_MODEL)
    bot.transcript.record(API, lookup.question, offline.text, offline.mode, offline.passages, None)


async def _stream_llm(
    bot: Bot, models: ModelChain, turns: list[Turn], lookup: Lookup, account: Account
) -> AsyncIterator[bytes]:
    prompt = bot.build_prompt(turns, lookup)
    if prompt.passages:
        yield _event({"type": "sources", "sources": _sources(bot, prompt.passages)})
    pieces: list[str] = []
    usage: object = None
    finished = False
    error: str | None = None
    error_type: str | None = None
    model: str | None = None
    pending: list[bytes] = []  # what arrived together leaves together
    try:
        opened = await models.open_stream(prompt.messages, bot.generation, account)
        model = opened.model
        batch = opened.first
        while batch is not None:
            for data in batch:
                chunk_usage, chunk_pieces, chunk_finished = read_chunk(data)
                usage = chunk_usage or usage
                pieces += chunk_pieces
                pending += (_event({"type": "delta", "text": text}) for text in chunk_pieces)
                finished = finished or chunk_finished
            if pending:
                yield b"".join(pending)
                pending.clear()
            batch = await anext(opened.rest, None)
        if not finished:
            bot.metrics.upstream_errors.labels("cut_off").inc()
            error, error_type = "The language model's answer was cut off.", "cut_off"
    except UpstreamError as failure:
        error, error_type = failure.message, failure.kind
    except (ValueError, AttributeError):
        bot.metrics.upstream_errors.labels("malformed").inc()
        error, error_type = "The language model's answer could not be read.", "malformed"
    except (GeneratorExit, asyncio.CancelledError):
        # The client went away mid-answer (the model's call is closed): what came is still charged.
        if model is not None:
            account.answered(model, *answer_tokens(bot, prompt.messages, "".join(pieces), usage))
        raise
    if pending:  # the words that came before a malformed chunk in the same read
        yield b"".join(pending)
    mode: Mode = "llm"
    if error is not None:
        yield _event({"type": "error", "message": error})
        if not pieces:
            mode = "fallback"
            pieces.append(bot.settings.fallback_message)
            yield _event({"type": "delta", "text": bot.settings.fallback_message})
    answered_by = model if mode == "llm" else None
    yield _event({"type": "done", "mode": mode, "model": answered_by})
    text = "".join(pieces)
    bot.metrics.answers_by_mode[mode].inc()
    if answered_by is not None:
        tokens = answer_tokens(bot, prompt.messages, text, usage)
        account.answered(answered_by, *tokens, error_type=error_type)
    else:
        if model is not None and error_type is not None:  # its stream started, then failed
            account.failed(model, error_type)
        account.answered(NO_MODEL)
    bot.transcript.record(API, lookup.question, text, mode, prompt.passages if mode == "llm" else [], error)
