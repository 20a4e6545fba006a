"""The OpenAI-compatible API's answers (`POST /v1/chat/completions`).

With an LLM, the upstream's response is forwarded as it came (bytes, chunk by chunk): the bot only
adds its system message, FAQ and passages to the request, so the `model` field is the upstream's: that
of the model that answered, a fallback's when the primary failed. Offline, the bot builds the same shapes
itself from its FAQ and corpus answers. An upstream failure before the first byte is an HTTP error
in the OpenAI shape; after it, an SSE `data: {"error": ...}` event, which OpenAI SDKs raise.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from chatbot_server.answering import Bot, OfflineAnswer
from chatbot_server.conversation import Turn
from chatbot_server.errors import BotError
from chatbot_server.llm import read_chunk
from chatbot_server.model_chain import ModelChain
from chatbot_server.schemas import ChatCompletionRequest
from chatbot_server.upstream_errors import UpstreamError
from chatbot_server.usage import NO_MODEL, Account, answer_tokens

API = "openai"
PASSTHROUGH_FIELDS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "seed",
    "user",
)

DONE = b"data: [DONE]\n\n"


def _turns(request: ChatCompletionRequest) -> list[Turn]:
    # "developer" is the newer name of "system"; not every OpenAI-compatible server knows it yet.
    return [("system" if m.role == "developer" else m.role, m.text()) for m in request.messages]


def _params(bot: Bot, request: ChatCompletionRequest) -> dict[str, Any]:
    """The bot's generation settings, overridden by what the client asked for."""
    params = dict(bot.generation)
    for name in PASSTHROUGH_FIELDS:
        value = getattr(request, name)
        if value is not None:
            params[name] = value
    if request.stream and request.stream_options is not None:
        params["stream_options"] = request.stream_options.model_dump(exclude_none=True)
    return params


def _prepare(bot: Bot, request: ChatCompletionRequest) -> list[Turn]:
    turns = _turns(request)
    bot.check_limits([content for _, content in turns])
    if turns[-1][0] != "user":
        raise BotError(
            400, "The last message must have the role 'user'.", param="messages", code="no_question"
        )
    return turns


def _offline_text(bot: Bot, answer: OfflineAnswer) -> str:
    """The answer with its sources listed; a source fetched from a git host links to the served commit.

    OpenAI clients render Markdown, so a link is `[path](url)`; without a link the path stays plain.
    """
    if not answer.passages:
        return answer.text
    link = bot.corpus_source.link if bot.corpus_source else lambda _: None
    lines = []
    for passage in answer.passages:
        url = link(passage.path)
        cited = f"[{passage.path}]({url})" if url else passage.path
        lines.append(f"- {cited} ({passage.title})")
    return f"{answer.text}\n\nSources:\n" + "\n".join(lines)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _usage(bot: Bot, turns: list[Turn], text: str) -> dict[str, int]:
    prompt = bot.counter.count_messages(content for _, content in turns)
    completion = bot.counter.count_text(text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def complete(
    bot: Bot, models: ModelChain | None, request: ChatCompletionRequest, account: Account
) -> bytes:
    """The JSON body of a chat completion."""
    turns = _prepare(bot, request)
    lookup = await bot.look_up(turns)
    if models is None:
        answer = bot.answer_offline(lookup)
        account.answered(NO_MODEL)
        text = _offline_text(bot, answer)
        bot.transcript.record(API, lookup.question, text, answer.mode, answer.passages, None)
        completion = {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": bot.settings.name,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": _usage(bot, turns, text),
        }
        return json.dumps(completion, ensure_ascii=False).encode()
    prompt = bot.build_prompt(turns, lookup)
    try:
        body, model = await models.complete(prompt.messages, _params(bot, request), account)
    except UpstreamError:
        account.answered(NO_MODEL)
        raise
    tokens = (0, 0)
    try:
        parsed = json.loads(body)
        text = str(parsed["choices"][0]["message"].get("content") or "")
        usage = parsed.get("usage") or {}
        tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        bot.metrics.tokens_in.inc(tokens[0])
        bot.metrics.tokens_out.inc(tokens[1])
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        text = ""  # forwarded as it came: the client may understand what the bot does not
    account.answered(model, *tokens)
    bot.metrics.answers_by_mode["llm"].inc()
    bot.transcript.record(API, lookup.question, text, "llm", prompt.passages, None)
    return body


async def stream(
    bot: Bot, models: ModelChain | None, request: ChatCompletionRequest, account: Account
) -> AsyncIterator[bytes]:
    """Check the request and start the upstream call, then return the SSE stream of the completion.

    The first upstream chunk is awaited here, so that a failing upstream is an HTTP error status
    rather than a 200 stream that carries an error (and so that a fallback model can still answer).
    """
    turns = _prepare(bot, request)
    lookup = await bot.look_up(turns)
    if models is None:
        account.answered(NO_MODEL)
        return _stream_offline(bot, request, turns, bot.answer_offline(lookup))
    prompt = bot.build_prompt(turns, lookup)
    try:
        opened = await models.open_stream(prompt.messages, _params(bot, request), account)
    except UpstreamError:
        account.answered(NO_MODEL)
        raise
    if opened.first is None:
        bot.metrics.upstream_errors.labels("cut_off").inc()
        account.failed(opened.model, "cut_off")
        account.answered(NO_MODEL)
        raise BotError(
            502,
            "The language model closed the stream without an answer.",
            type="upstream_error",
            code="upstream_error",
        )
    return _forward(
        bot,
        opened.rest,
        opened.first,
        prompt.messages,
        lookup.question,
        prompt.passages,
        opened.model,
        account,
    )


def _sse(payload: object) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


async def _stream_offline(
    bot: Bot, request: ChatCompletionRequest, turns: list[Turn], answer: OfflineAnswer
) -> AsyncIterator[bytes]:
    text = _offline_text(bot, answer)
    base = {
        "id": _completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": bot.settings.name,
    }
    yield _sse(
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    )
    yield _sse({**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
    yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if request.stream_options is not None and request.stream_options.include_usage:
        yield _sse({**base, "choices": [], "usage": _usage(bot, turns, text)})
    yield DONE
    bot.transcript.record(API, turns[-1][1], text, answer.mode, answer.passages, None)


async def _forward(
    bot: Bot,
    batches: AsyncIterator[list[str]],
    first: list[str],
    messages: list[dict[str, Any]],
    question: str,
    passages: list[Any],
    model: str,
    account: Account,
) -> AsyncIterator[bytes]:
    """The upstream's events as they came; those that arrived together leave together (one write:
    the role and the first words of an answer reach the client at once)."""
    pieces: list[str] = []
    usage: dict[str, Any] | None = None
    finished = False
    error: BotError | None = None
    error_type: str | None = None
    batch = first
    try:
        while True:
            yield b"".join(b"data: " + data.encode() + b"\n\n" for data in batch)
            for data in batch:
                try:
                    chunk_usage, chunk_pieces, chunk_finished = read_chunk(data)
                except (ValueError, AttributeError):
                    continue  # forwarded as it came; only the bot's bookkeeping misses it
                usage = chunk_usage or usage
                pieces += chunk_pieces
                finished = finished or chunk_finished
            batch = await anext(batches)
    except StopAsyncIteration:
        if not finished:
            bot.metrics.upstream_errors.labels("cut_off").inc()
            error = BotError(
                502, "The language model's answer was cut off.", type="upstream_error", code="upstream_error"
            )
            error_type = "cut_off"
    except UpstreamError as failure:
        error, error_type = failure, failure.kind
    except (GeneratorExit, asyncio.CancelledError):
        # The client went away mid-answer (the model's call is closed): what came is still charged.
        account.answered(model, *answer_tokens(bot, messages, "".join(pieces), usage))
        raise
    text = "".join(pieces)
    if error is not None:
        yield _sse(error.body())
    else:
        yield DONE
    bot.metrics.answers_by_mode["llm"].inc()
    account.answered(model, *answer_tokens(bot, messages, text, usage), error_type=error_type)
    bot.transcript.record(API, question, text, "llm", passages, error.message if error else None)
