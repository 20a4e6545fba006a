"""The JSON API: `POST /api/chat` (answers) and `GET /api/info` (what the web page shows)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from chatbot_server import chat_api
from chatbot_server.bodies import documented_body
from chatbot_server.dependencies import State, start_chat
from chatbot_server.errors import ERROR_RESPONSES
from chatbot_server.event_stream import EventStream
from chatbot_server.schemas import BotInfo, ChatAnswer, ChatRequest

router = APIRouter(prefix="/api", tags=["chat"])

NDJSON = "application/x-ndjson"
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

_CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {
        "description": "The answer; with `stream: true`, NDJSON events (sources, delta, error, done)",
        "content": {NDJSON: {"schema": {"description": "One JSON event per line"}}},
    },
}


@router.post(
    "/chat",
    summary="Answer the latest question of a conversation",
    response_model=ChatAnswer,
    responses=_CHAT_RESPONSES,
    openapi_extra=documented_body(ChatRequest),
)
async def chat(request: Request) -> Response:
    # As /v1/chat/completions: no FastAPI dependencies or body parameter (see chatbot_server.bodies).
    call = await start_chat(request, ChatRequest, chat_api.API)
    if call.body.stream:
        events = await chat_api.stream_answer(call.bot, call.models, call.body, call.account)
        return EventStream(events, media_type=NDJSON, headers=_STREAM_HEADERS)
    answer = await chat_api.answer(call.bot, call.models, call.body, call.account)
    return JSONResponse(answer.model_dump())


@router.get("/info", summary="The bot's name and greeting, and whether it needs an API key")
async def info(state: State) -> BotInfo:
    settings = state.settings
    return BotInfo(
        name=settings.name,
        greeting=settings.greeting_text,
        auth_required=state.api_keys.required,
        max_message_chars=settings.max_message_chars,
    )
