"""The OpenAI-compatible API: `POST /v1/chat/completions` and `GET /v1/models`."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from chatbot_server import openai_api
from chatbot_server.bodies import documented_body
from chatbot_server.dependencies import State, require_api_key, start_chat
from chatbot_server.errors import ERROR_RESPONSES
from chatbot_server.event_stream import EventStream
from chatbot_server.schemas import ChatCompletion, ChatCompletionRequest, ModelCard, ModelList

router = APIRouter(prefix="/v1", tags=["openai"])

_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_STARTED = int(time.time())

_COMPLETION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {
        "description": "A chat completion; with `stream: true`, server-sent chat.completion.chunk events",
        "content": {
            "text/event-stream": {"schema": {"description": "chat.completion.chunk events, then [DONE]"}}
        },
    },
}


@router.post(
    "/chat/completions",
    summary="Chat completion, with the bot's system prompt, FAQ and documents applied",
    response_model=ChatCompletion,
    responses=_COMPLETION_RESPONSES,
    openapi_extra=documented_body(ChatCompletionRequest),
)
async def chat_completions(request: Request) -> Response:
    # The bot's hot path: no FastAPI dependencies or body parameter (see chatbot_server.bodies).
    call = await start_chat(request, ChatCompletionRequest, openai_api.API)
    if call.body.stream:
        events = await openai_api.stream(call.bot, call.models, call.body, call.account)
        return EventStream(events, media_type="text/event-stream", headers=_STREAM_HEADERS)
    body = await openai_api.complete(call.bot, call.models, call.body, call.account)
    return Response(body, media_type="application/json")


@router.get(
    "/models",
    summary="The one model this bot offers: the bot itself",
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_api_key)],
)
async def models(state: State) -> ModelList:
    return ModelList(data=[ModelCard(id=state.settings.name, created=_STARTED, owned_by="chatbot-operator")])
