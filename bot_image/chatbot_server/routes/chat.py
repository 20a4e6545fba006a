"""The JSON API: `POST /api/chat` (answers) and `GET /api/info` (what the web page shows)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response, StreamingResponse

from chatbot_server import chat_api
from chatbot_server.dependencies import BotDep, State, UpstreamDep, require_api_key
from chatbot_server.errors import ERROR_RESPONSES
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
    dependencies=[Depends(require_api_key)],
)
async def chat(body: ChatRequest, bot: BotDep, upstream: UpstreamDep) -> Response:
    if body.stream:
        events = await chat_api.stream_answer(bot, upstream, body)
        return StreamingResponse(events, media_type=NDJSON, headers=_STREAM_HEADERS)
    answer = await chat_api.answer(bot, upstream, body)
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
